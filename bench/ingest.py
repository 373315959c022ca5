"""Ingestion: one SaveVideoTranscript call with 1 and with 20 one-hour videos, through the app's
HTTP layer (devhost, in-process), the real youtube-transcript-api against a fake YouTube answering
after 200 ms per request, and the real langchain-openai client against a fake OpenAI-compatible
server answering after 100 ms per request. Also the chunk-table write rate.

    python -m bench ingest [--youtube-latency 0.2] [--embedding-latency 0.1]
"""

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.common import configure, fake_openai_process, new_video_id, print_table, write_result
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


async def chunk_write_rate(videos: int, chunks_per_video: int, dimensions: int, concurrent: bool) -> dict[str, float]:
    """Rows/s of the chunk write alone (video row + binary COPY, one transaction per video), for
    `videos` videos of `chunks_per_video` chunks with embeddings, one after another or all at once."""
    import numpy as np

    from services.common.database import transaction
    from services.video_rag.chunking import Chunk
    from services.video_rag.models import Video
    from services.video_rag.repository import VideoRepository
    from services.video_rag.service import VideoService

    rng = np.random.default_rng(7)
    service = VideoService.default()
    text = "a passage of a transcript about rivers, mountains and the weather of the valley " * 12
    batches = []
    for _ in range(videos):
        chunks = [Chunk(text, i * 60.0, i * 60.0 + 60) for i in range(chunks_per_video)]
        vectors = rng.standard_normal((chunks_per_video, dimensions)).astype(np.float32).tolist()
        video = Video(
            id=uuid.uuid4(), video_id=new_video_id(), language_code="en", embedding_model="bench", source="bench",
            title=None, channel=None, source_url=None, is_generated=False, duration_seconds=3600.0,
            chunk_count=chunks_per_video, created_at=datetime.now(UTC),
        )  # fmt: skip
        batches.append((video, chunks, vectors))

    async def write(video: Video, chunks: list[Chunk], vectors: list[list[float]]) -> None:
        async with transaction() as db:
            await service._store(db, video, chunks, vectors)

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


async def run(youtube_latency: float, embedding_latency: float) -> dict[str, Any]:
    from devhost.host import DevHost
    from function_app import app
    from services.video_rag import youtube

    fake_youtube = FakeYouTube(latency_seconds=youtube_latency)
    youtube.new_http_client = fake_youtube.http_client  # the network edge: YouTube answers from recordings
    transport = httpx.ASGITransport(app=DevHost(app, timers=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=300) as client:
        for video_id in (ids := [new_video_id() for _ in range(22)]):
            fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions(f"topic{video_id}")})
        await one_call(client, [ids[0]])  # warm-up: connections, imports, first COPY
        requests_before = len(fake_youtube.requests)
        one, _ = await one_call(client, [ids[1]])
        youtube_one = len(fake_youtube.requests) - requests_before
        requests_before = len(fake_youtube.requests)
        twenty, results = await one_call(client, ids[2:22])
        youtube_twenty = len(fake_youtube.requests) - requests_before
    chunks = sum(int(r["video"]["chunk_count"]) for r in results)
    sequential = await chunk_write_rate(videos=20, chunks_per_video=60, dimensions=1536, concurrent=False)
    parallel = await chunk_write_rate(videos=20, chunks_per_video=60, dimensions=1536, concurrent=True)
    big_write = await chunk_write_rate(videos=1, chunks_per_video=20_000, dimensions=1536, concurrent=False)
    return {
        "youtube_latency_seconds": youtube_latency,
        "embedding_latency_seconds": embedding_latency,
        "one_video_seconds": one,
        "twenty_videos_seconds": twenty,
        "ratio_twenty_to_one": twenty / one,
        "youtube_requests_one": youtube_one,
        "youtube_requests_twenty": youtube_twenty,
        "chunks_twenty": chunks,
        "chunk_write_20_videos_one_after_another": sequential,
        "chunk_write_20_videos_at_once": parallel,
        "chunk_write_20000_rows": big_write,
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ingest")
    parser.add_argument("--youtube-latency", type=float, default=0.2)
    parser.add_argument("--embedding-latency", type=float, default=0.1)
    args = parser.parse_args(argv)
    with fake_openai_process(latency_seconds=args.embedding_latency) as base_url:
        configure(OPENAI_BASE_URL=base_url, OPENAI_KEY="bench", MAX_URLS_PER_REQUEST=20, MAX_VIDEOS_PER_SESSION=20)
        result = asyncio.run(run(args.youtube_latency, args.embedding_latency))
    sequential = result["chunk_write_20_videos_one_after_another"]
    parallel = result["chunk_write_20_videos_at_once"]
    big = result["chunk_write_20000_rows"]
    print_table(
        "ingest: one SaveVideoTranscript call, 1-hour videos",
        [
            ("1 video (s)", f"{result['one_video_seconds']:.3f}"),
            ("20 videos (s)", f"{result['twenty_videos_seconds']:.3f}"),
            ("20 / 1 (target <= 2)", f"{result['ratio_twenty_to_one']:.2f}"),
            (
                "YouTube requests, 1 / 20 videos",
                f"{result['youtube_requests_one']} / {result['youtube_requests_twenty']}",
            ),
            ("chunks stored for 20 videos", str(result["chunks_twenty"])),
            ("chunk write, 20 x 60 rows in turn (rows/s)", f"{sequential['rows_per_second']:,.0f}"),
            ("chunk write, 20 x 60 rows at once (rows/s)", f"{parallel['rows_per_second']:,.0f}"),
            ("chunk write, 20,000 rows (rows/s)", f"{big['rows_per_second']:,.0f}"),
        ],
    )
    print(f"\nwritten: {write_result('ingest', result)}")
