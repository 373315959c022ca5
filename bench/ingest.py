"""Ingestion: one SaveVideoTranscript call with 1, 5 and 20 one-hour videos, through the app's HTTP
layer (devhost, in-process), the real youtube-transcript-api against a fake YouTube answering after
200 ms per request, and the real langchain-openai client against a fake OpenAI-compatible server
answering after 100 ms per request (in its own process, one constant vector for every text so that
its own CPU, which on a real service is not this machine's, stays out of the figures). In the same
run, the naive pipeline the libraries' documentation shows: transcripts fetched one after another, then
`langchain_postgres.PGVector.add_documents` per video. Also 20 sessions adding 20 videos each at once
(every request must be answered 200), the embedding client's CPU and the chunk-table write rate.

    python -m bench ingest [--youtube-latency 0.2] [--embedding-latency 0.1] [--repeat 3]
"""

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench.common import configure, fake_openai_process, new_video_id, print_table, save_chart, write_result
from tests.fakes.youtube import FakeYouTube, hour_of_captions


async def one_call(client: httpx.AsyncClient, video_ids: list[str]) -> tuple[float, list[dict[str, Any]]]:
    session_id = (await client.post("/api/sessions")).json()["session_id"]
    started = time.perf_counter()
    response = await client.post("/api/videos", json={"urls": video_ids}, headers={"X-Session-Id": session_id})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    results = response.json()["videos"]
    assert all(r["status"] == "added" for r in results), results
    return elapsed, results


async def sessions_at_once(
    client: httpx.AsyncClient, fake_youtube: FakeYouTube, sessions: int = 20, videos: int = 20
) -> dict[str, Any]:
    """`sessions` sessions each adding `videos` new one-hour videos in one call, all at once: the
    responses' statuses (a 503 would be the database pool running out under load) and the wall time."""
    ids = [[new_video_id() for _ in range(videos)] for _ in range(sessions)]
    for video_id in (video_id for mine in ids for video_id in mine):
        fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions(f"load{video_id}")})
    session_ids = [(await client.post("/api/sessions")).json()["session_id"] for _ in range(sessions)]

    async def add(session_id: str, mine: list[str]) -> int:
        response = await client.post("/api/videos", json={"urls": mine}, headers={"X-Session-Id": session_id})
        return response.status_code

    started = time.perf_counter()
    statuses = await asyncio.gather(*(add(session_id, mine) for session_id, mine in zip(session_ids, ids, strict=True)))
    seconds = time.perf_counter() - started
    return {"sessions": sessions, "videos_each": videos, "seconds": seconds,
            "statuses": {str(code): statuses.count(code) for code in sorted(set(statuses))}}  # fmt: skip


async def embedding_client_cpu(calls: int = 10, texts: int = 60) -> dict[str, float]:
    """CPU milliseconds in this process per embeddings call of one hour of transcript (60 passages of
    ~1,000 characters, 1536 dimensions): LangChain's `aembed_documents` against `embed_documents`."""
    from services.common.settings import get_settings
    from services.video_rag.embeddings import embed_documents, get_embeddings

    settings = get_settings()
    embeddings: Any = get_embeddings(settings)
    passages = [f"passage {i} about rivers, mountains and the weather of the valley " * 14 for i in range(texts)]
    calls_of: dict[str, Callable[[], Awaitable[Any]]] = {
        "langchain_aembed_documents": lambda: embeddings.aembed_documents(passages),
        "embed_documents": lambda: embed_documents(embeddings, passages, settings.embedding_dimensions),
    }
    cpu: dict[str, float] = {}
    for name, call in calls_of.items():
        await call()
        started = time.process_time()
        for _ in range(calls):
            await call()
        cpu[name] = (time.process_time() - started) / calls * 1000
    return cpu


async def chunk_write_rate(videos: int, chunks_per_video: int, dimensions: int, concurrent: bool) -> dict[str, float]:
    """Rows/s of the chunk write alone (video row + binary COPY, one transaction per video), for
    `videos` videos of `chunks_per_video` chunks with embeddings, one after another or all at once."""
    import numpy as np

    from services.common.database import transaction
    from services.video_rag.chunking import Chunk
    from services.video_rag.models import Video
    from services.video_rag.repository import VideoRepository

    rng = np.random.default_rng(7)
    repository = VideoRepository()
    text = "a passage of a transcript about rivers, mountains and the weather of the valley " * 12
    batches = []
    for _ in range(videos):
        chunks = [Chunk(text, i * 60.0, i * 60.0 + 60) for i in range(chunks_per_video)]
        vectors = rng.standard_normal((chunks_per_video, dimensions)).astype(np.float32)
        video = Video(
            id=uuid.uuid4(), video_id=new_video_id(), language_code="en", embedding_model="bench", source="bench",
            title=None, channel=None, source_url=None, is_generated=False, duration_seconds=3600.0,
            chunk_count=chunks_per_video, created_at=datetime.now(UTC),
        )  # fmt: skip
        batches.append((video, chunks, vectors))

    async def write(video: Video, chunks: list[Chunk], vectors: np.ndarray) -> None:
        async with transaction() as db:
            await repository.store(db, video, chunks, vectors, following=2)

    started = time.perf_counter()
    if concurrent:
        await asyncio.gather(*(write(*batch) for batch in batches))
    else:
        for batch in batches:
            await write(*batch)
    seconds = time.perf_counter() - started
    async with transaction() as db:
        await VideoRepository().delete_orphans(db, {video.id for video, _, _ in batches})
    rows = videos * chunks_per_video
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


def embedding_requests() -> int:
    """Embedding requests the fake server has served so far."""
    return int(httpx.get(EMBEDDING_STATS_URL[0]).json().get("/v1/embeddings", 0))


EMBEDDING_STATS_URL = [""]


def naive_ingest(video_ids: list[str], fake_youtube: Any, settings: Any) -> float:
    """The documented way: YouTubeTranscriptApi().fetch per video, one after another, and
    PGVector.add_documents per video (LangChain's v1 store, its own tables, a bench database)."""
    from langchain_core.documents import Document
    from langchain_postgres import PGVector
    from youtube_transcript_api import YouTubeTranscriptApi

    from services.common.database import database_url
    from services.video_rag.chunking import Snippet, chunk_snippets
    from services.video_rag.embeddings import make_embeddings

    store = PGVector(
        embeddings=make_embeddings(settings),  # type: ignore[arg-type]
        connection=database_url(),
        collection_name="naive",
        embedding_length=1536,
        use_jsonb=True,
    )
    started = time.perf_counter()
    for video_id in video_ids:
        fetched = YouTubeTranscriptApi(http_client=fake_youtube.http_client()).fetch(video_id, languages=["en"])
        snippets = [Snippet(s.text, s.start, s.duration) for s in fetched.snippets]
        chunks = chunk_snippets(snippets, target_seconds=60, target_chars=1000, overlap_seconds=5)
        store.add_documents(
            [Document(c.text, metadata={"video_id": video_id, "start": c.start_seconds, "end": c.end_seconds})
             for c in chunks]
        )  # fmt: skip
    elapsed = time.perf_counter() - started
    store.delete_collection()
    return elapsed


async def run(youtube_latency: float, embedding_latency: float, repeat: int) -> dict[str, Any]:
    from devhost.host import DevHost
    from function_app import app
    from services.video_rag import youtube

    fake_youtube = FakeYouTube(latency_seconds=youtube_latency)
    youtube.new_http_client = fake_youtube.http_client  # the network edge: YouTube answers from recordings
    transport = httpx.ASGITransport(app=DevHost(app, timers=False))
    sizes = [1, 5, 20]
    ours: dict[int, dict[str, Any]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=300) as client:
        warm_up = new_video_id()
        fake_youtube.add(warm_up, captions={("en", "manual"): hour_of_captions("warm")})
        await one_call(client, [warm_up])  # connections, imports, first COPY
        for _ in range(repeat):  # the sizes in turn, `repeat` times: the median of each
            for size in sizes:
                ids = [new_video_id() for _ in range(size)]
                for video_id in ids:
                    fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions(f"topic{video_id}")})
                youtube_before, embeddings_before = len(fake_youtube.requests), embedding_requests()
                seconds, results = await one_call(client, ids)
                ours.setdefault(size, {"runs": []})["runs"].append(seconds)
                ours[size] |= {
                    "youtube_requests": len(fake_youtube.requests) - youtube_before,
                    "embedding_requests": embedding_requests() - embeddings_before,
                    "chunks": sum(int(r["video"]["chunk_count"]) for r in results),
                }
        load = await sessions_at_once(client, fake_youtube)
        for size in sizes:
            ours[size]["seconds"] = statistics.median(ours[size]["runs"])
            ours[size]["rows_per_second"] = ours[size]["chunks"] / ours[size]["seconds"]
    naive: dict[int, dict[str, Any]] = {}
    from services.common.settings import get_settings

    for size in sizes:
        ids = [new_video_id() for _ in range(size)]
        for video_id in ids:
            fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions(f"naive{video_id}")})
        youtube_before, embeddings_before = len(fake_youtube.requests), embedding_requests()
        seconds = await asyncio.to_thread(naive_ingest, ids, fake_youtube, get_settings())
        naive[size] = {
            "seconds": seconds,
            "youtube_requests": len(fake_youtube.requests) - youtube_before,
            "embedding_requests": embedding_requests() - embeddings_before,
        }
    client_cpu = await embedding_client_cpu()
    sequential = await chunk_write_rate(videos=20, chunks_per_video=60, dimensions=1536, concurrent=False)
    parallel = await chunk_write_rate(videos=20, chunks_per_video=60, dimensions=1536, concurrent=True)
    big_write = await chunk_write_rate(videos=1, chunks_per_video=20_000, dimensions=1536, concurrent=False)
    return {
        "youtube_latency_seconds": youtube_latency,
        "embedding_latency_seconds": embedding_latency,
        "ours": ours,
        "naive": naive,
        "speedup": {size: naive[size]["seconds"] / ours[size]["seconds"] for size in sizes},
        "ratio_twenty_to_one": ours[20]["seconds"] / ours[1]["seconds"],
        "embedding_client_cpu_ms": client_cpu,
        "sessions_at_once": load,
        "chunk_write_20_videos_one_after_another": sequential,
        "chunk_write_20_videos_at_once": parallel,
        "chunk_write_20000_rows": big_write,
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ingest")
    parser.add_argument("--youtube-latency", type=float, default=0.2)
    parser.add_argument("--embedding-latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3, help="calls per size; the median is reported")
    args = parser.parse_args(argv)
    from bench.retrieve import database_url_for

    configure()
    url = asyncio.run(database_url_for("bench_ingest"))
    with create_engine(url).begin() as connection:  # every run starts from the same, empty tables
        connection.execute(text("TRUNCATE session, session_video, video, video_chunk"))
    with fake_openai_process(latency_seconds=args.embedding_latency, constant=True) as base_url:
        EMBEDDING_STATS_URL[0] = base_url.removesuffix("/v1") + "/stats"
        configure(PG_CONNECTION_STRING=url, OPENAI_BASE_URL=base_url, OPENAI_KEY="bench",
                  MAX_URLS_PER_REQUEST=20, MAX_VIDEOS_PER_SESSION=20)  # fmt: skip
        result = asyncio.run(run(args.youtube_latency, args.embedding_latency, args.repeat))
    client_cpu, load = result["embedding_client_cpu_ms"], result["sessions_at_once"]
    sequential = result["chunk_write_20_videos_one_after_another"]
    parallel = result["chunk_write_20_videos_at_once"]
    big = result["chunk_write_20000_rows"]
    ours, naive = result["ours"], result["naive"]
    rows = []
    for size in ours:
        runs = ", ".join(f"{run:.2f}" for run in ours[size]["runs"])
        rows.append(
            (f"{size} video(s): ours (median of {runs}) / naive (s)",
             f"{ours[size]['seconds']:.2f} / {naive[size]['seconds']:.2f}")
        )  # fmt: skip
        rows.append((f"{size} video(s): speedup", f"{result['speedup'][size]:.1f}x"))
        rows.append((f"{size} video(s): YouTube requests, ours / naive",
                     f"{ours[size]['youtube_requests']} / {naive[size]['youtube_requests']}"))  # fmt: skip
        rows.append((f"{size} video(s): embedding requests, ours / naive",
                     f"{ours[size]['embedding_requests']} / {naive[size]['embedding_requests']}"))  # fmt: skip
        rows.append((f"{size} video(s): rows/s, ours", f"{ours[size]['rows_per_second']:,.0f}"))
    rows += [
        ("20 / 1 video, ours (target <= 2)", f"{result['ratio_twenty_to_one']:.2f}"),
        ("speedup at 20 videos (target >= 5)", f"{result['speedup'][20]:.1f}x"),
        (
            f"{load['sessions']} sessions x {load['videos_each']} videos at once: wall (s); statuses",
            f"{load['seconds']:.1f}; {load['statuses']}",
        ),
        (
            "embedding client CPU per hour of transcript, LangChain / ours (ms)",
            f"{client_cpu['langchain_aembed_documents']:.1f} / {client_cpu['embed_documents']:.1f}",
        ),
        ("chunk write, 20 x 60 rows in turn (rows/s)", f"{sequential['rows_per_second']:,.0f}"),
        ("chunk write, 20 x 60 rows at once (rows/s)", f"{parallel['rows_per_second']:,.0f}"),
        ("chunk write, 20,000 rows (rows/s)", f"{big['rows_per_second']:,.0f}"),
    ]
    print_table("ingest: one SaveVideoTranscript call of 1-hour videos vs the naive pipeline", rows)
    chart = {f"ours {size}": ours[size]["seconds"] for size in ours} | {
        f"naive {size}": naive[size]["seconds"] for size in naive
    }
    save_chart("ingest", "Ingestion wall time (s)", chart)
    print(f"\nwritten: {write_result('ingest', result)}")
