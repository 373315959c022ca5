"""Cold start: `python -X importtime -c "import function_app"` (what the Functions worker imports on
every cold start) against importing every runtime dependency eagerly; the wall time of that import
with APPLICATIONINSIGHTS_CONNECTION_STRING unset and set (a fake one, exporting to a closed port on
loopback); and the first request of a new `python -m devhost` process: from process start to the
first POST /api/chat answered (fake OpenAI-compatible server in its own process, embedded
PostgreSQL), against the next request. Medians of several runs.

    python -m bench coldstart [--runs 7] [--request-runs 3]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import httpx

from bench.common import configure, fake_openai_process, print_table, save_chart, write_result

LAZY = "import function_app"
EAGER = (
    "import function_app, services.video_rag.service, services.video_rag.chat, services.sessions.service, "
    "sqlalchemy.ext.asyncio, psycopg, pgvector.psycopg, langchain_openai, langchain_postgres, "
    "youtube_transcript_api, opentelemetry.trace"
)


def import_ms(code: str) -> float:
    """Total import time of `code` in a new interpreter: the sum of its top-level imports."""
    stderr = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    ).stderr
    total_us = 0
    for line in stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _, cumulative, name = line.removeprefix("import time:").split("|")
            if not name.startswith("  "):  # a top-level import (nested ones are in its cumulative time)
                total_us += int(cumulative)
    return total_us / 1000


# As on Azure Functions (the worker sets it; OpenTelemetry's VM detector then asks no metadata
# endpoint), and no statsbeat to Microsoft's endpoint: nothing leaves this machine.
AZURE_LIKE = {"FUNCTIONS_WORKER_RUNTIME": "python", "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"}
FAKE_APPINSIGHTS = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"
TIMED_IMPORT = "import time; t = time.perf_counter(); import function_app; print((time.perf_counter() - t) * 1000)"


def wall_import_ms(appinsights: str) -> float:
    """Wall time of `import function_app` in a new interpreter (Application Insights configured at
    import when the connection string is set)."""
    env = {**os.environ, **AZURE_LIKE, "APPLICATIONINSIGHTS_CONNECTION_STRING": appinsights}
    out = subprocess.run([sys.executable, "-c", TIMED_IMPORT], capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def first_chat(settings: dict[str, str], headers: dict[str, str]) -> dict[str, float]:
    """Starts `python -m devhost` and asks a question until one is answered: ms from process start to
    listening, to the first answer, and the latency of the first and of the next chat."""
    from tests.functional.test_devhost import free_port

    port = free_port()
    env = {**os.environ, **AZURE_LIKE, **settings}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--port", str(port), "--settings", "/nonexistent"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    question = {"question": "what about glaciers?"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            while True:
                assert process.poll() is None, "devhost exited"
                try:
                    client.get("/api/openapi.json")
                    break
                except httpx.TransportError:
                    time.sleep(0.01)
            listening = time.perf_counter()
            response = client.post("/api/chat", json=question, headers=headers)
            answered = time.perf_counter()
            assert response.status_code == 200, response.text
            again = time.perf_counter()
            assert client.post("/api/chat", json=question, headers=headers).status_code == 200
            next_ms = (time.perf_counter() - again) * 1000
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {
        "listening_ms": (listening - started) * 1000,
        "first_chat_answered_ms": (answered - started) * 1000,
        "first_chat_ms": (answered - listening) * 1000,
        "next_chat_ms": next_ms,
    }


def first_request(runs: int) -> dict[str, float]:
    """The median of `runs` cold starts of devhost, each asked about a transcript stored beforehand."""
    import asyncio

    from bench.retrieve import database_url_for
    from tests.functional.test_devhost import running_devhost

    configure()
    url = asyncio.run(database_url_for("bench_coldstart"))
    with fake_openai_process(latency_seconds=0) as openai_url:
        settings = {"PG_CONNECTION_STRING": url, "OPENAI_BASE_URL": openai_url, "OPENAI_KEY": "bench",
                    "SESSION_CLEANUP_SCHEDULE": "0 0 0 * * *", "SESSION_EXPIRE_MINUTES": "60"}  # fmt: skip
        with running_devhost(**settings) as base:  # the session and its transcript, beforehand
            session_id = httpx.post(f"{base}/api/sessions").json()["session_id"]
            headers = {"X-Session-Id": session_id}
            content = "\n".join(f"line {i} about rivers, glaciers and volcanoes" for i in range(400))
            upload = {"title": "coldstart", "format": "text", "content": content}
            assert httpx.post(f"{base}/api/transcripts", json=upload, headers=headers, timeout=60).status_code == 201
        samples = [first_chat(settings, headers) for _ in range(runs)]
    return {name: statistics.median(sample[name] for sample in samples) for name in samples[0]}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench coldstart")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--request-runs", type=int, default=3)
    args = parser.parse_args(argv)
    lazy = [import_ms(LAZY) for _ in range(args.runs)]
    eager = [import_ms(EAGER) for _ in range(args.runs)]
    unset = [wall_import_ms("") for _ in range(args.runs)]
    with_appinsights = [wall_import_ms(FAKE_APPINSIGHTS) for _ in range(args.runs)]
    request = first_request(args.request_runs)
    result = {
        "runs": args.runs,
        "lazy_ms": statistics.median(lazy),
        "eager_ms": statistics.median(eager),
        "ratio": statistics.median(lazy) / statistics.median(eager),
        "import_wall_ms": statistics.median(unset),
        "import_wall_appinsights_ms": statistics.median(with_appinsights),
        "request_runs": args.request_runs,
        "first_request": request,
    }
    print_table(
        "coldstart: import of function_app, first request (median of runs)",
        [
            ("function_app as shipped (ms)", f"{result['lazy_ms']:.0f}"),
            ("every runtime dependency eagerly (ms)", f"{result['eager_ms']:.0f}"),
            ("ratio (target <= 0.33)", f"{result['ratio']:.2f}"),
            ("import function_app, wall: Application Insights unset / set (ms)",
             f"{result['import_wall_ms']:.0f} / {result['import_wall_appinsights_ms']:.0f}"),
            ("devhost: process start to listening (ms)", f"{request['listening_ms']:.0f}"),
            ("devhost: process start to the first chat answered (ms)", f"{request['first_chat_answered_ms']:.0f}"),
            ("devhost: first chat / next chat (ms)", f"{request['first_chat_ms']:.0f} / {request['next_chat_ms']:.0f}"),
        ],
    )  # fmt: skip
    save_chart(
        "coldstart", "Import time at cold start (ms)", {"as shipped": result["lazy_ms"], "eager": result["eager_ms"]}
    )
    print(f"\nwritten: {write_result('coldstart', result)}")
