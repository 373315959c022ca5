"""Cold start: `python -X importtime -c "import function_app"` (what the Functions worker imports on
every cold start) against importing every runtime dependency eagerly, the median of several runs.

    python -m bench coldstart [--runs 7]
"""

import argparse
import statistics
import subprocess
import sys

from bench.common import print_table, save_chart, write_result

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


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench coldstart")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    lazy = [import_ms(LAZY) for _ in range(args.runs)]
    eager = [import_ms(EAGER) for _ in range(args.runs)]
    result = {
        "runs": args.runs,
        "lazy_ms": statistics.median(lazy),
        "eager_ms": statistics.median(eager),
        "ratio": statistics.median(lazy) / statistics.median(eager),
    }
    print_table(
        "coldstart: import of function_app (median of runs)",
        [
            ("function_app as shipped (ms)", f"{result['lazy_ms']:.0f}"),
            ("every runtime dependency eagerly (ms)", f"{result['eager_ms']:.0f}"),
            ("ratio (target <= 0.33)", f"{result['ratio']:.2f}"),
        ],
    )
    save_chart(
        "coldstart", "Import time at cold start (ms)", {"as shipped": result["lazy_ms"], "eager": result["eager_ms"]}
    )
    print(f"\nwritten: {write_result('coldstart', result)}")
