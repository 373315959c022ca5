"""Load: locust (bench/locustfile.py, anonymous users uploading transcripts, asking, searching, reading
their history) headless against `python -m devhost` with the fake OpenAI-compatible server (50 ms a
call, one constant vector so that its CPU stays out of the figures) in its own process; requests per
second, p50/p95 and failures per route, after one user's requests have warmed the process up.

    python -m bench load [--users 20] [--spawn-rate 5] [--duration 30s]
    python -m bench load --host https://<app>.azurewebsites.net --function-key <key>   # a deployment
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import configure, fake_openai_process, print_table, save_chart, write_result

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
QUIET = {"PYTHONWARNINGS": "ignore"}


def run_locust(host: str, users: int, spawn_rate: float, duration: str, extra: list[str]) -> dict[str, Any]:
    """Runs locust headless; returns its aggregated and per-route figures (from its CSV files)."""
    with tempfile.TemporaryDirectory() as directory:
        prefix = str(Path(directory) / "load")
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
                   "-u", str(users), "-r", str(spawn_rate), "-t", duration, "--host", host, "--csv", prefix,
                   "--exit-code-on-error", "0", *extra]  # fmt: skip
        with open(Path(directory) / "locust.log", "w+", encoding="utf-8") as log:
            finished = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=log, env=os.environ | QUIET)
            if finished.returncode != 0:
                log.seek(0)
                raise RuntimeError(f"locust failed:\n{log.read()[-3000:]}")
        with open(f"{prefix}_stats.csv", encoding="utf-8") as stats:
            rows = list(csv.DictReader(stats))
        with open(f"{prefix}_failures.csv", encoding="utf-8") as failures:
            errors = [
                {"route": row["Name"], "error": row["Error"], "count": int(row["Occurrences"])}
                for row in csv.DictReader(failures)
            ]
    routes = {
        row["Name"]: {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "rps": float(row["Requests/s"]),
            "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]),
        }
        for row in rows
    }
    return {"routes": routes, "errors": errors}


def warm_up(host: str) -> None:
    """One user's requests before the measure: the first of a new process imports the model clients
    and the vector store (seconds, blocking its event loop: see `python -m bench coldstart`)."""
    import httpx

    with httpx.Client(base_url=host, timeout=120) as client:
        headers = {"X-Session-Id": client.post("/api/sessions").json()["session_id"]}
        content = "\n".join(f"line {i} about rivers, glaciers and volcanoes" for i in range(100))
        upload = {"title": "warm-up", "format": "text", "content": content}
        assert client.post("/api/transcripts", json=upload, headers=headers).status_code == 201
        assert client.post("/api/chat", json={"question": "glaciers?"}, headers=headers).status_code == 200
        assert client.post("/api/search", json={"query": "rivers"}, headers=headers).status_code == 200


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench load")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--spawn-rate", type=float, default=5)
    parser.add_argument("--duration", default="30s")
    parser.add_argument(
        "--host", help="a running app instead of a local devhost (e.g. https://<app>.azurewebsites.net)"
    )
    parser.add_argument("--function-key", default="", help="its function key (HTTP_AUTH_LEVEL=FUNCTION)")
    parser.add_argument("--eval-dir", help="captions/*.srt and questions.jsonl (default ../shared/eval-dev)")
    args = parser.parse_args(argv)
    extra = ["--function-key", args.function_key] if args.function_key else []
    extra += ["--eval-dir", args.eval_dir] if args.eval_dir else []

    with ExitStack() as stack:
        host = args.host
        if host is None:
            import asyncio

            from bench.retrieve import database_url_for
            from tests.functional.test_devhost import running_devhost

            configure()
            url = asyncio.run(database_url_for("bench_load"))
            openai_url = stack.enter_context(fake_openai_process(latency_seconds=0.05, constant=True))
            settings = {"PG_CONNECTION_STRING": url, "OPENAI_BASE_URL": openai_url, "OPENAI_KEY": "bench",
                        "SESSION_CLEANUP_SCHEDULE": "0 */1 * * * *"}  # fmt: skip
            host = stack.enter_context(running_devhost(**settings))
            warm_up(host)
        result = run_locust(host, args.users, args.spawn_rate, args.duration, extra)

    target = "a deployment" if args.host else "devhost (fake OpenAI 50 ms, embedded PostgreSQL)"
    print_table(
        f"load: {args.users} users for {args.duration} against {target}",
        [
            (f"{name}: requests, failures, rps, p50 / p95 (ms)",
             f"{m['requests']}, {m['failures']}, {m['rps']:.1f}, {m['p50_ms']:.0f} / {m['p95_ms']:.0f}")
            for name, m in result["routes"].items()
        ],
    )  # fmt: skip
    for error in result["errors"]:
        print(f"  {error['route']}: {error['count']} x {error['error']}")
    routes = {name: m["rps"] for name, m in result["routes"].items() if name != "Aggregated"}
    save_chart("load", "Requests per second by route (locust)", routes)
    record = {"users": args.users, "spawn_rate": args.spawn_rate, "duration": args.duration, "target": target, **result}
    print("\nwritten:", write_result("load", record))
