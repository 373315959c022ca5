"""HTTP: requests per second and p50/p95 latency through `python -m devhost` (a real server process on
loopback) for session creation, an authorized GetVideos, and a chat turn with a zero-latency fake
OpenAI-compatible server, from a client keeping `--concurrency` requests in flight.

    python -m bench http [--requests 400] [--concurrency 8]
"""

import argparse
import asyncio
import time
from typing import Any

import httpx

from bench.common import (
    configure,
    fake_openai_process,
    percentile,
    print_table,
    save_chart,
    session_with_transcript,
    write_result,
)
from tests.functional.test_devhost import running_devhost


async def load(client: httpx.AsyncClient, request: Any, total: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            response = await request(client)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code in (200, 201), response.text

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return {"rps": total / seconds, "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95)}


async def run(base: str, total: int, concurrency: int) -> dict[str, dict[str, float]]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        headers = await session_with_transcript(client)
        routes = {
            "POST /api/sessions": lambda c: c.post("/api/sessions"),
            "GET /api/videos": lambda c: c.get("/api/videos", headers=headers),
            "POST /api/chat": lambda c: c.post("/api/chat", json={"question": "what about glaciers?"}, headers=headers),
        }
        for request in routes.values():  # warm-up
            await load(client, request, 20, concurrency)
        return {name: await load(client, request, total, concurrency) for name, request in routes.items()}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench http")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    from bench.retrieve import database_url_for

    configure()
    url = asyncio.run(database_url_for("bench_http"))
    with fake_openai_process(latency_seconds=0) as openai_url:
        settings = {"PG_CONNECTION_STRING": url, "OPENAI_BASE_URL": openai_url, "OPENAI_KEY": "bench",
                    "SESSION_CLEANUP_SCHEDULE": "0 0 0 * * *", "DB_POOL_SIZE": "10"}  # fmt: skip
        with running_devhost(**settings) as base:
            result = asyncio.run(run(base, args.requests, args.concurrency))
    print_table(
        f"http: through devhost, {args.concurrency} requests in flight",
        [
            (f"{name}: rps, p50 / p95 (ms)", f"{m['rps']:.0f}, {m['p50_ms']:.1f} / {m['p95_ms']:.1f}")
            for name, m in result.items()
        ],
    )  # fmt: skip
    save_chart("http", "Requests per second through devhost", {name: m["rps"] for name, m in result.items()})
    print(
        "\nwritten:",
        write_result("http", {"concurrency": args.concurrency, "requests": args.requests, "routes": result}),
    )
