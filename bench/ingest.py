"""Ingestion through the queue: with a YouTube answering every request after 15 s, how long POST
/api/videos takes for 20 one-hour videos (its bound: INGEST_WAIT_SECONDS, then 202) and how long until
all 20 are ready, against one video alone; and the same 20 through the synchronous path the POST took
before the queue (`VideoService.store_now`: fetched, embedded and stored in the call). The queue is
Azurite's, run by devhost's queue runner with host.json's settings.

Then: one SaveVideoTranscript call with 1, 5 and 20 one-hour videos, through the app's HTTP
layer (devhost, in-process), the real youtube-transcript-api against a fake YouTube answering after
200 ms per request, and the real langchain-openai client against a fake OpenAI-compatible server
answering after 100 ms per request (in its own process, one constant vector for every text so that
its own CPU, which on a real service is not this machine's, stays out of the figures). In the same
run, the naive pipeline the libraries' documentation shows: transcripts fetched one after another, then
`langchain_postgres.PGVector.add_documents` per video. Also 20 sessions adding 20 videos each at once
(a 503, the database pool busy, is sent again after its Retry-After, as a client should), the
embedding client's CPU and the chunk-table write rate.

    python -m bench ingest [--only queue] [--slow-youtube-latency 15] [--youtube-latency 0.2]
                           [--embedding-latency 0.1] [--repeat 3]
"""

import argparse
import asyncio
import os
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


async def until_ready(client: httpx.AsyncClient, session_id: str, count: int) -> list[dict[str, Any]]:
    """The session's videos once `count` of them are there and none is pending (polled every 0.2 s)."""
    while True:
        videos = (await client.get("/api/videos", headers={"X-Session-Id": session_id})).json()["videos"]
        if len(videos) >= count and all(video["status"] != "pending" for video in videos):
            assert all(video["status"] == "ready" for video in videos), videos
            return list(videos)
        await asyncio.sleep(0.2)


async def through_queue(client: httpx.AsyncClient, fake_youtube: FakeYouTube, size: int) -> dict[str, Any]:
    """`size` new one-hour videos in one POST: its time and status, and the time until all are ready."""
    ids = [new_video_id() for _ in range(size)]
    for video_id in ids:
        fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions(f"queue{video_id}")})
    session_id = (await client.post("/api/sessions")).json()["session_id"]
    started = time.perf_counter()
    response = await client.post("/api/videos", json={"urls": ids}, headers={"X-Session-Id": session_id})
    post_seconds = time.perf_counter() - started
    await until_ready(client, session_id, size)
    return {
        "videos": size,
        "post_status": response.status_code,
        "post_seconds": post_seconds,
        "pending_in_answer": sum(item["status"] == "pending" for item in response.json()["videos"]),
        "ready_seconds": time.perf_counter() - started,
    }


async def synchronous(fake_youtube: FakeYouTube, size: int) -> float:
    """Seconds to fetch, embed and store `size` new one-hour videos in one call, as POST /api/videos
    did before the queue (concurrently, INGEST_CONCURRENCY at once)."""
    from services.video_rag.functions import videos

    ids = [new_video_id() for _ in range(size)]
    for video_id in ids:
        fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions(f"sync{video_id}")})
    started = time.perf_counter()
    outcomes = await videos().store_now(ids, ["en"])
    seconds = time.perf_counter() - started
    assert all(isinstance(outcome, uuid.UUID) for outcome in outcomes.values()), outcomes
    return seconds


async def slow_youtube(client: httpx.AsyncClient, fake_youtube: FakeYouTube, latency: float) -> dict[str, Any]:
    """One video alone, then 20 at once, through the queue with YouTube answering after `latency`
    seconds; then the 20 through the synchronous path."""
    from services.common.settings import get_settings

    fast, fake_youtube.latency_seconds = fake_youtube.latency_seconds, latency
    try:
        one = await through_queue(client, fake_youtube, 1)
        twenty = await through_queue(client, fake_youtube, 20)
        sync = await synchronous(fake_youtube, 20)
    finally:
        fake_youtube.latency_seconds = fast
    bound = get_settings().ingest_wait_seconds
    return {
        "youtube_latency_seconds": latency,
        "ingest_wait_seconds": bound,
        "one": one,
        "twenty": twenty,
        "synchronous_twenty_seconds": sync,
        "post_within_bound_plus_1s": twenty["post_seconds"] <= bound + 1,
        "ratio_twenty_to_one": twenty["ready_seconds"] / one["ready_seconds"],
    }


async def sessions_at_once(
    client: httpx.AsyncClient, fake_youtube: FakeYouTube, sessions: int = 20, videos: int = 20
) -> dict[str, Any]:
    """`sessions` sessions each adding `videos` new one-hour videos in one call, all at once: the
    responses' statuses (503: the database pool ran out under load, and the call is sent again after
    Retry-After; 202: some still pending after INGEST_WAIT_SECONDS), the wall time of the calls, and
    until every video is ready. One process serves the HTTP calls and the queue trigger with one pool,
    where Azure runs them on instances of their own."""
    ids = [[new_video_id() for _ in range(videos)] for _ in range(sessions)]
    for video_id in (video_id for mine in ids for video_id in mine):
        fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions(f"load{video_id}")})
    session_ids = [(await client.post("/api/sessions")).json()["session_id"] for _ in range(sessions)]

    async def add(session_id: str, mine: list[str]) -> list[int]:
        """The statuses of the POST, sent again after Retry-After as long as it is 503 (as a client
        should: the same videos again are no new work)."""
        statuses: list[int] = []
        while True:
            response = await client.post("/api/videos", json={"urls": mine}, headers={"X-Session-Id": session_id})
            statuses.append(response.status_code)
            if response.status_code != 503 or len(statuses) == 10:
                return statuses
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))

    started = time.perf_counter()
    tries = await asyncio.gather(*(add(session_id, mine) for session_id, mine in zip(session_ids, ids, strict=True)))
    seconds = time.perf_counter() - started
    answered = [session_id for session_id, statuses in zip(session_ids, tries, strict=True) if statuses[-1] < 300]
    await asyncio.gather(*(until_ready(client, session_id, videos) for session_id in answered))
    ready = time.perf_counter() - started
    first, last = [statuses[0] for statuses in tries], [statuses[-1] for statuses in tries]
    return {"sessions": sessions, "videos_each": videos, "seconds": seconds, "ready_seconds": ready,
            "first_statuses": {str(code): first.count(code) for code in sorted(set(first))},
            "final_statuses": {str(code): last.count(code) for code in sorted(set(last))},
            "retries": sum(len(statuses) - 1 for statuses in tries)}  # fmt: skip


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


async def run(
    youtube_latency: float, embedding_latency: float, repeat: int, slow_latency: float, only_queue: bool
) -> dict[str, Any]:
    from devhost.host import DevHost
    from function_app import app
    from services.video_rag import youtube

    fake_youtube = FakeYouTube(latency_seconds=youtube_latency)
    youtube.new_http_client = fake_youtube.http_client  # the network edge: YouTube answers from recordings
    host = DevHost(app, timers=False, queues=False)
    host.start_queues()  # the queue trigger, on Azurite, in this event loop
    transport = httpx.ASGITransport(app=host)
    sizes = [1, 5, 20]
    ours: dict[int, dict[str, Any]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=300) as client:
        warm_up = new_video_id()
        fake_youtube.add(warm_up, captions={("en", "manual"): hour_of_captions("warm")})
        await one_call(client, [warm_up])  # connections, imports, first COPY
        queue = await slow_youtube(client, fake_youtube, slow_latency)
        if only_queue:
            await host.stop_queues()
            return {"queue": queue}
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
        await host.stop_queues()
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
        "queue": queue,
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
    parser.add_argument("--slow-youtube-latency", type=float, default=15.0, help="YouTube's answer time, queue part")
    parser.add_argument("--only", choices=["all", "queue"], default="all", help="queue: the queue part alone")
    args = parser.parse_args(argv)
    from bench.retrieve import database_url_for
    from devhost import azurite

    configure()
    port = azurite.free_port()  # the queue of the ingestion: Azurite, in memory, for this run
    emulator = azurite.start(port)
    os.environ[azurite.STORAGE_SETTING] = azurite.connection_string(port)  # its name is not upper-case
    url = asyncio.run(database_url_for("bench_ingest"))
    with create_engine(url).begin() as connection:  # every run starts from the same, empty tables
        connection.execute(text("TRUNCATE session, session_video, ingest_job, video, video_chunk, video_sentence"))
    with fake_openai_process(latency_seconds=args.embedding_latency, constant=True) as base_url:
        EMBEDDING_STATS_URL[0] = base_url.removesuffix("/v1") + "/stats"
        configure(PG_CONNECTION_STRING=url, OPENAI_BASE_URL=base_url, OPENAI_KEY="bench",
                  MAX_URLS_PER_REQUEST=20, MAX_VIDEOS_PER_SESSION=20, INGEST_QUEUE_NAME="bench-ingest")  # fmt: skip
        try:
            result = asyncio.run(
                run(args.youtube_latency, args.embedding_latency, args.repeat, args.slow_youtube_latency,
                    args.only == "queue")
            )  # fmt: skip
        finally:
            emulator.terminate()
    queue = result["queue"]
    print_table(
        f"ingest through the queue: YouTube answering every request after {queue['youtube_latency_seconds']:.0f} s",
        [
            ("POST of 20 one-hour videos: seconds; status; pending in its answer",
             f"{queue['twenty']['post_seconds']:.2f}; {queue['twenty']['post_status']}; "
             f"{queue['twenty']['pending_in_answer']}"),
            (f"  within INGEST_WAIT_SECONDS ({queue['ingest_wait_seconds']:.0f}) + 1 s",
             str(queue["post_within_bound_plus_1s"])),
            ("1 video alone: POST seconds (status); ready after (s)",
             f"{queue['one']['post_seconds']:.2f} ({queue['one']['post_status']}); "
             f"{queue['one']['ready_seconds']:.2f}"),
            ("20 videos: all ready after (s)", f"{queue['twenty']['ready_seconds']:.2f}"),
            ("20 / 1 (target <= 1.25)", f"{queue['ratio_twenty_to_one']:.2f}"),
            ("20 videos through the synchronous path (the POST before the queue), s",
             f"{queue['synchronous_twenty_seconds']:.2f}"),
        ],
    )  # fmt: skip
    if args.only == "queue":
        print(f"\nwritten: {write_result('ingest-queue', result)}")
        return
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
            f"{load['sessions']} sessions x {load['videos_each']} videos at once: calls (s); first statuses; "
            "503s retried after Retry-After; final statuses; all ready (s)",
            f"{load['seconds']:.1f}; {load['first_statuses']}; {load['retries']}; {load['final_statuses']}; "
            f"{load['ready_seconds']:.1f}",
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
