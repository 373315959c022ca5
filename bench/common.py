"""What the benchmarks share: the app with fake upstreams on loopback, timing, and result files."""

import json
import os
import secrets
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

RESULTS = Path(__file__).resolve().parent / "results"


def configure(**settings: object) -> None:
    """App settings for a benchmark run (before the app reads them)."""
    os.environ.setdefault("PG_EMBEDDED_DATA_DIR", ".data/bench-pgdata")
    os.environ.setdefault("SESSION_CLEANUP_SCHEDULE", "0 0 0 * * *")
    # The ingestion queue, as in the example settings: a devhost process starts Azurite for it.
    os.environ.setdefault("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    os.environ.setdefault("INGEST_QUEUE_NAME", "video-ingest")
    # Every request of a benchmark comes from one address, thousands a minute: the rate and spending
    # limits are off, so that the figures are the app's work, not 429s.
    for name in ("RATE_LIMIT_SESSIONS_PER_HOUR", "RATE_LIMIT_VIDEOS_PER_HOUR", "RATE_LIMIT_QUESTIONS_PER_MINUTE",
                 "RATE_LIMIT_QUESTIONS_PER_HOUR", "EMBEDDING_TOKENS_PER_HOUR", "EMBEDDING_TOKENS_PER_DAY",
                 "CHAT_CALLS_PER_HOUR", "CHAT_CALLS_PER_DAY"):  # fmt: skip
        os.environ.setdefault(name, "0")
    for name, value in settings.items():
        os.environ[name.upper()] = str(value)
    from services.common.settings import get_settings

    get_settings.cache_clear()


@contextmanager
def fake_openai_process(latency_seconds: float, dimensions: int = 1536, constant: bool = False) -> Iterator[str]:
    """The fake OpenAI-compatible server in its own process (its CPU is not the app's); yields its URL.
    `constant`: one vector for every text, so that the fake costs next to no CPU on this machine."""
    arguments = ["--latency", str(latency_seconds), "--dimensions", str(dimensions)] + (
        ["--constant"] if constant else []
    )
    with server_process("tests.fakes.openai_server", arguments) as url:
        yield url


@contextmanager
def server_process(module: str, arguments: list[str], env: dict[str, str] | None = None) -> Iterator[str]:
    """`python -m <module> --port P <arguments>` (an OpenAI-compatible server that prints one line once
    listening) in its own process; yields its URL."""
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port), *arguments],
        stdout=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        if not process.stdout.readline():  # it prints its URL once listening
            raise RuntimeError(f"{module} did not start")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def new_video_id() -> str:
    return secrets.token_urlsafe(8)[:11]


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    timing: dict[str, float] = {}
    started = time.perf_counter()
    try:
        yield timing
    finally:
        timing["seconds"] = time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return path


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}")
    print("-" * (width + 20))
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def save_chart(name: str, title: str, bars: dict[str, float]) -> Path:
    """A bar chart of `bars` as bench/results/<name>.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(exist_ok=True)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    colors = ["#888888" if label.startswith(("naive", "eager")) else "#c4302b" for label in bars]
    axes.bar(list(bars), list(bars.values()), color=colors)
    axes.set_title(title)
    for index, value in enumerate(bars.values()):
        axes.annotate(f"{value:,.1f}", (index, value), ha="center", va="bottom")
    figure.tight_layout()
    path = RESULTS / f"{name}.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def save_line_chart(name: str, title: str, series: dict[str, dict[int, float]]) -> Path:
    """One line per series (x -> y) as bench/results/<name>.png, log-scaled y."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(exist_ok=True)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for label, points in series.items():
        color = "#888888" if label.startswith("naive") else "#c4302b"
        axes.plot(list(points), list(points.values()), marker="o", label=label, color=color)
    axes.set_yscale("log")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    path = RESULTS / f"{name}.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def save_grouped_chart(name: str, title: str, groups: dict[str, dict[str, float | None]]) -> Path:
    """Grouped bars as bench/results/<name>.png: one group per key of `groups`, one bar per inner key
    (a None value is drawn as "n/a")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(exist_ok=True)
    series = list(dict.fromkeys(label for bars in groups.values() for label in bars))
    width = 0.8 / len(series)
    figure, axes = plt.subplots(figsize=(7, 3.8))
    for s, label in enumerate(series):
        legend: str | None = label
        for g, bars in enumerate(groups.values()):
            x = g - 0.4 + width * (s + 0.5)
            value = bars.get(label)
            if value is None:
                axes.annotate("n/a", (x, 0), ha="center", va="bottom", fontsize=8)
                continue
            axes.bar(x, value, width, color=f"C{s}", label=legend)
            legend = None
            axes.annotate(f"{value:.2f}", (x, value), ha="center", va="bottom", fontsize=8)
    axes.set_xticks(range(len(groups)), list(groups))
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path = RESULTS / f"{name}.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


async def session_with_transcript(client: "httpx.AsyncClient") -> dict[str, str]:
    """A new session holding one uploaded transcript (400 lines about rivers, glaciers and volcanoes);
    the headers that name it."""
    session_id = (await client.post("/api/sessions")).json()["session_id"]
    headers = {"X-Session-Id": session_id}
    content = "\n".join(f"line {i} about rivers, glaciers and volcanoes" for i in range(400))
    upload = {"title": "bench", "format": "text", "content": content}
    assert (await client.post("/api/transcripts", json=upload, headers=headers)).status_code == 201
    return headers
