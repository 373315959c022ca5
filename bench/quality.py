"""Retrieval quality on real data, with a real embedding model, offline: the 30 questions of the dev
set (`../shared/eval-dev`: captions of 10 3Blue1Brown videos, each question with the window where its
answer is said) against three pipelines side by side, in one run:

- `app hybrid`: the app through its HTTP API (`python -m devhost`, its own database), embeddings from
  all-MiniLM-L6-v2 (bench/embedding_server.py, its own process, through the app's langchain-openai
  client): the 10 caption files uploaded unmodified into one session (`POST /api/transcripts`), then
  each question asked; window vectors, sentence vectors and full-text search fused;
- `app full text`: the same app with no embedding provider (nor chat model): full-text search only;
- `naive`: the tutorial pipeline: a video's captions joined into one text, split by LangChain's
  RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200), embedded by langchain-openai's
  OpenAIEmbeddings against the same model server, cosine top-k from LangChain's InMemoryVectorStore;
  a chunk's time range runs from the start of the caption holding its first character to the end of
  the caption holding its last. It indexes the videos the app accepted, read by the app's parser.

Retrieved passages come from `POST /api/search` when the app's OpenAPI document lists it, else from
the `sources` of `POST /api/chat`: the model server's chat answer cites every passage of the prompt in
order, so they are the passages retrieved, best first (RETRIEVAL_TOP_K=10). Without a chat model the
app answers with its best 3 passages only: `app full text` then has no hit@5, and its MRR is over 3.

A passage is a hit when its video is the question's and its time range overlaps the answer's window
(eval-dev/README.md). Reported: hit@1, hit@3, hit@5, MRR over the top 10, and the deep-link error of
the first hit (|link time - window start|, the link time being the `t=` of its URL, else its start),
overall and per question kind. A refused upload is reported and its questions count as misses.

    python -m bench quality      # the dev set from EVAL_DEV_DIR, else <project>/../shared/eval-dev
"""

import argparse
import asyncio
import bisect
import json
import os
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import configure, percentile, print_table, save_grouped_chart, write_result
from bench.embedding_server import MODEL_NAME, embedding_server_process
from services.common.database import PROJECT_ROOT

TOP_K = 10
EXTRACTIVE_SOURCES = 3  # services/video_rag/rag.py: extractive_answer's limit
CUTOFFS = (1, 3, 5)
PIPELINES = ("app hybrid", "app full text", "naive")


@dataclass(frozen=True)
class Video:
    video_id: str
    title: str
    captions: str  # the SRT file, as published


@dataclass(frozen=True)
class Question:
    id: str
    kind: str
    question: str
    video_id: str
    start: float
    end: float


@dataclass(frozen=True)
class Passage:
    video_id: str
    start_seconds: float
    end_seconds: float
    link_seconds: float  # where its deep link starts the video


def dev_set_dir() -> Path:
    return Path(os.environ.get("EVAL_DEV_DIR") or PROJECT_ROOT.parent / "shared" / "eval-dev")


def load_dev_set(directory: Path) -> tuple[list[Video], list[Question]]:
    videos = []
    for line in (directory / "videos.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            _slug, video_id, _duration, title = line.split("\t")
            captions = (directory / "captions" / f"{video_id}.srt").read_text(encoding="utf-8")
            videos.append(Video(video_id, title, captions))
    questions = [
        Question(q["id"], q["kind"], q["question"], q["video_id"], float(q["start"]), float(q["end"]))
        for q in map(json.loads, (directory / "questions.jsonl").read_text(encoding="utf-8").splitlines())
    ]
    return videos, questions


def link_seconds(url: str | None, start_seconds: float) -> float:
    """The `t=` of a deep link (`...&t=123s`), else the passage's start."""
    found = re.search(r"[?&]t=(\d+)", url or "")
    return float(found.group(1)) if found else start_seconds


# --- the app, through its HTTP API ------------------------------------------------------------------


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], videos: list[Video]
) -> tuple[dict[str, str | None], int]:
    """Each caption file as published, into the session: video id -> None when added, else why not;
    and the number of passages the app made of them."""
    refused: dict[str, str | None] = {}
    chunks = 0
    for video in videos:
        body = {"title": video.title, "format": "srt", "content": video.captions,
                "source_url": f"https://www.youtube.com/watch?v={video.video_id}"}  # fmt: skip
        response = await client.post("/api/transcripts", json=body, headers=headers)
        if response.status_code == 201:
            refused[video.video_id] = None
            chunks += response.json()["video"]["chunk_count"]
        else:
            error = response.json().get("error", {})
            reason = str(error.get("message"))
            details = [str(d["message"]) for d in error.get("details") or [] if d.get("message")]
            reasons = "; ".join([reason, *(detail for detail in details if detail not in reason)])
            refused[video.video_id] = f"{response.status_code} {error.get('code')}: {reasons}"
    return refused, chunks


async def retrieve(
    client: httpx.AsyncClient, headers: dict[str, str], question: str, search: bool
) -> tuple[list[Passage], int]:
    """The app's passages for a question, best first, and how deep that list goes: `POST /api/search`
    when the app has it, else the sources of `POST /api/chat` (in retrieval order: the model server
    cites every passage in order; without a chat model, the app's extractive answer quotes its best 3)."""
    if search:
        response = await client.post("/api/search", json={"query": question, "k": TOP_K}, headers=headers)
        assert response.status_code == 200, response.text
        items, depth = response.json()["results"], TOP_K
    else:
        response = await client.post("/api/chat", json={"question": question}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items, depth = body["sources"], TOP_K if body["mode"] == "generative" else EXTRACTIVE_SOURCES
    passages = [
        Passage(i["video_id"], i["start_seconds"], i["end_seconds"], link_seconds(i.get("url"), i["start_seconds"]))
        for i in items
    ]
    return passages[:depth], depth


async def app_run(base: str, videos: list[Video], questions: list[Question]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        search = "/api/search" in (await client.get("/api/openapi.json")).json().get("paths", {})
        headers = {"X-Session-Id": (await client.post("/api/sessions")).json()["session_id"]}
        started = time.perf_counter()
        refused, chunks = await upload(client, headers, videos)
        upload_seconds = time.perf_counter() - started
        answers, latencies, depths = [], [], set()
        for question in questions:
            started = time.perf_counter()
            passages, depth = await retrieve(client, headers, question.question, search)
            latencies.append((time.perf_counter() - started) * 1000)
            answers.append(passages)
            depths.add(depth)
    return {
        "read_from": "POST /api/search" if search else "POST /api/chat sources",
        "uploads": refused,
        "videos_indexed": [video_id for video_id, error in refused.items() if error is None],
        "chunks": chunks,
        "upload_seconds": upload_seconds,
        "query_p50_ms": statistics.median(latencies),
        "depth": min(depths),
        "answers": answers,
    }


# --- the naive pipeline -----------------------------------------------------------------------------


def naive_run(openai_url: str, videos: list[Video], questions: list[Question]) -> dict[str, Any]:
    from langchain_core.vectorstores import InMemoryVectorStore
    from langchain_openai import OpenAIEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from pydantic import SecretStr

    from services.video_rag.captions import parse_captions

    embeddings = OpenAIEmbeddings(
        model=MODEL_NAME,
        openai_api_base=openai_url,
        openai_api_key=SecretStr("bench"),
        check_embedding_ctx_length=False,
    )
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    documents = []
    for video in videos:
        snippets = parse_captions("srt", video.captions)
        offsets, parts, at = [], [], 0
        for snippet in snippets:
            offsets.append(at)
            parts.append(snippet.text)
            at += len(snippet.text) + 1
        for chunk in splitter.create_documents([" ".join(parts)]):
            first = chunk.metadata["start_index"]
            last = first + len(chunk.page_content) - 1
            chunk.metadata = {
                "video_id": video.video_id,
                "start_seconds": snippets[bisect.bisect_right(offsets, first) - 1].start,
                "end_seconds": snippets[bisect.bisect_right(offsets, last) - 1].end,
            }
            documents.append(chunk)
    started = time.perf_counter()
    store = InMemoryVectorStore(embeddings)
    store.add_documents(documents)
    index_seconds = time.perf_counter() - started
    answers, latencies = [], []
    for question in questions:
        started = time.perf_counter()
        found = store.similarity_search(question.question, k=TOP_K)
        latencies.append((time.perf_counter() - started) * 1000)
        answers.append([Passage(d.metadata["video_id"], d.metadata["start_seconds"], d.metadata["end_seconds"],
                                d.metadata["start_seconds"]) for d in found])  # fmt: skip
    return {"videos_indexed": [video.video_id for video in videos], "chunks": len(documents),
            "index_seconds": index_seconds,
            "query_p50_ms": statistics.median(latencies), "depth": TOP_K, "answers": answers}  # fmt: skip


# --- scoring ------------------------------------------------------------------------------------------


def is_hit(passage: Passage, question: Question) -> bool:
    return (
        passage.video_id == question.video_id
        and passage.start_seconds <= question.end
        and passage.end_seconds >= question.start
    )


def judge(question: Question, passages: list[Passage], missing: bool) -> dict[str, Any]:
    """One question's outcome: the rank of its first hit (None: a miss), of the first passage of its
    video (a miss with a video rank is the right video at the wrong moment), the link error of the hit."""
    rank = next((r for r, p in enumerate(passages, start=1) if is_hit(p, question)), None)
    video_rank = next((r for r, p in enumerate(passages, start=1) if p.video_id == question.video_id), None)
    return {
        "id": question.id,
        "kind": question.kind,
        "video_id": question.video_id,
        "window": [question.start, question.end],
        "video_missing": missing,
        "rank": rank,
        "video_rank": video_rank,
        "link_error_seconds": abs(passages[rank - 1].link_seconds - question.start) if rank else None,
        "retrieved": [[p.video_id, p.start_seconds, p.end_seconds] for p in passages],
    }


def metrics(outcomes: list[dict[str, Any]], depth: int) -> dict[str, Any]:
    """hit@k (None past the depth the pipeline answers), MRR over its depth, deep-link errors of hits."""
    count = len(outcomes)
    ranks = [o["rank"] for o in outcomes]
    errors = [o["link_error_seconds"] for o in outcomes if o["rank"] is not None]
    return {
        "questions": count,
        **{f"hit@{k}": sum(1 for r in ranks if r and r <= k) / count if k <= depth else None for k in CUTOFFS},
        "mrr": sum(1 / r for r in ranks if r) / count,
        "mrr_over": depth,
        "link_error_median_s": statistics.median(errors) if errors else None,
        "link_error_p90_s": percentile(errors, 90) if errors else None,
        "hits": len(errors),
        "misses_video_not_added": sum(1 for o in outcomes if o["rank"] is None and o["video_missing"]),
        "misses_right_video_wrong_moment": sum(1 for o in outcomes if o["rank"] is None and o["video_rank"]),
        "misses_wrong_video": sum(
            1 for o in outcomes if o["rank"] is None and not o["video_rank"] and not o["video_missing"]
        ),
    }


def score(questions: list[Question], run: dict[str, Any]) -> dict[str, Any]:
    outcomes = [
        judge(question, passages, question.video_id not in run["videos_indexed"])
        for question, passages in zip(questions, run.pop("answers"), strict=True)
    ]
    kinds = sorted({o["kind"] for o in outcomes})
    return run | {
        "metrics": metrics(outcomes, run["depth"]),
        # While some uploads are refused: the retrieval itself, over the questions it could answer.
        "metrics_videos_added": metrics([o for o in outcomes if not o["video_missing"]], run["depth"]),
        "by_kind": {kind: metrics([o for o in outcomes if o["kind"] == kind], run["depth"]) for kind in kinds},
        "questions": outcomes,
    }


# --- the run --------------------------------------------------------------------------------------------


def fresh_database(name: str) -> str:
    """A database of the bench server of its own, dropped and created again (so that the migrations
    fix its embedding column at this run's EMBEDDING_DIMENSIONS), migrated."""
    from sqlalchemy import create_engine, text

    from bench.retrieve import database_url_for
    from services.common.database import database_url

    admin = create_engine(database_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    return asyncio.run(database_url_for(name))


def run_all(videos: list[Video], questions: list[Question], only: set[str]) -> dict[str, Any]:
    from tests.functional.test_devhost import running_devhost

    configure(EMBEDDING_DIMENSIONS=384)
    hybrid_db, full_text_db = fresh_database("bench_quality"), fresh_database("bench_quality_full_text")
    # Every question on its own (no history to rewrite it with), the top 10 passages to the chat model.
    app = {"SESSION_CLEANUP_SCHEDULE": "0 0 0 * * *", "RETRIEVAL_TOP_K": str(TOP_K), "CHAT_HISTORY_TURNS": "0",
           "EMBEDDING_DIMENSIONS": "384"}  # fmt: skip
    # No provider at all for `app full text`, whatever this environment holds: every OpenAI and Azure
    # OpenAI endpoint setting emptied ("not set"), and none chosen.
    endpoints = ("OPENAI_", "AZURE_OPENAI_", "EMBEDDING_BASE_URL", "EMBEDDING_KEY", "CHAT_BASE_URL", "CHAT_KEY")
    no_provider = {name: "" for name in os.environ if name.startswith(endpoints)}
    no_provider |= {"EMBEDDING_PROVIDER": "none", "CHAT_PROVIDER": "none"}
    runs: dict[str, dict[str, Any]] = {}
    with embedding_server_process() as openai_url:
        hybrid = no_provider | app | {
            "PG_CONNECTION_STRING": hybrid_db, "EMBEDDING_PROVIDER": "openai", "CHAT_PROVIDER": "openai",
            "OPENAI_BASE_URL": openai_url, "OPENAI_KEY": "bench",
            "OPENAI_EMBEDDING_MODEL": MODEL_NAME, "OPENAI_CHAT_MODEL": "cite-every-passage",
            "OPENAI_TIMEOUT_SECONDS": "300",
        }  # fmt: skip
        if "app hybrid" in only:
            with running_devhost(**hybrid) as base:
                runs["app hybrid"] = asyncio.run(app_run(base, videos, questions))
        if "app full text" in only:
            with running_devhost(**(no_provider | app | {"PG_CONNECTION_STRING": full_text_db})) as base:
                runs["app full text"] = asyncio.run(app_run(base, videos, questions))
        if "naive" in only:
            accepted = next(iter(runs.values()))["uploads"] if runs else {}
            added = [video for video in videos if accepted.get(video.video_id) is None]
            runs["naive"] = naive_run(openai_url, added, questions)
    return {name: score(questions, run) for name, run in runs.items()}


def figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def scores(m: dict[str, Any]) -> str:
    return " / ".join(figure(m[key]) for key in ("hit@1", "hit@3", "hit@5", "mrr"))


def table(pipelines: dict[str, Any], videos: list[Video], seconds: float) -> list[tuple[str, str]]:
    titles = {video.video_id: video.title for video in videos}
    rows = []
    for name in ("app hybrid", "app full text"):
        uploads = pipelines[name]["uploads"]
        added = sum(1 for error in uploads.values() if error is None)
        rows.append((f"{name}: videos added", f"{added} of {len(uploads)}"))
        rows += [(f"  refused: {video_id} ({titles[video_id][:40]})", str(error))
                 for video_id, error in uploads.items() if error is not None]  # fmt: skip
    rows.append(("app retrieval read from", pipelines["app hybrid"]["read_from"]))
    for name, result in pipelines.items():
        m, added, by_kind = result["metrics"], result["metrics_videos_added"], result["by_kind"]
        misses = [m["misses_video_not_added"], m["misses_right_video_wrong_moment"], m["misses_wrong_video"]]
        errors = f"{figure(m['link_error_median_s'])} / {figure(m['link_error_p90_s'])} ({m['hits']} hits)"
        rows += [
            (f"{name}: passages of {len(result['videos_indexed'])} videos", str(result["chunks"])),
            (f"{name}: hit@1 / hit@3 / hit@5 / MRR@{m['mrr_over']}", scores(m)),
            (
                f"{name}: misses: video not added / right video, wrong moment / wrong video",
                " / ".join(map(str, misses)),
            ),
            (f"{name}: deep-link error of the first hit, median / p90 (s)", errors),
        ]
        if added["questions"] < m["questions"]:
            rows.append((f"{name}: the {added['questions']} questions of added videos only", scores(added)))
        rows += [(f"{name}: {kind} questions ({k['questions']})", scores(k)) for kind, k in by_kind.items()]
        rows.append((f"{name}: query p50 (ms)", f"{result['query_p50_ms']:.0f}"))
    rows.append(("wall time (s)", f"{seconds:.0f}"))
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench quality")
    parser.add_argument("--only", choices=PIPELINES, action="append", help="run only these pipelines (repeatable)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    directory = dev_set_dir()
    videos, questions = load_dev_set(directory)
    pipelines = run_all(videos, questions, set(args.only or PIPELINES))
    seconds = time.perf_counter() - started
    title = f"quality: {len(questions)} questions, {len(videos)} videos in one session, {MODEL_NAME} embeddings"
    print_table(title, table(pipelines, videos, seconds))
    chart = {name: {"hit@1": r["metrics"]["hit@1"], "hit@5": r["metrics"]["hit@5"], "MRR": r["metrics"]["mrr"]}
             for name, r in pipelines.items()}  # fmt: skip
    save_grouped_chart("quality", f"Retrieval quality, {len(questions)} questions ({MODEL_NAME})", chart)
    result = {"dev_set": str(directory), "model": MODEL_NAME, "top_k": TOP_K, "wall_seconds": seconds,
              "videos": {v.video_id: v.title for v in videos}, "pipelines": pipelines}  # fmt: skip
    print(f"\nwritten: {write_result('quality', result)}")
