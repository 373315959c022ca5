"""Streamed answers: what the app adds to the model's own latency, through `python -m devhost` (a real
server process on loopback) with a fake OpenAI-compatible model in its own process that streams 20
tokens, the first after 300 ms, the next ones 50 ms apart (the last 16 of them a suggestions block,
which the app holds back).

The fake notes when it wrote its first and its last chunk; the client when the first `token` event
and the `done` event arrived (one clock: one machine). Per question, sequentially:
- after the model's first token: our first `token` event minus the model's first chunk (the target:
  under 50 ms), and our `done` minus the model's last chunk (the turn is written in between);
- end to end: time to our first token and to `done` from the request, against the model's own
  (300 ms and 1,250 ms): the difference is the work before the model (session, retrieval) and after;
- for contrast, the same question without streaming (JSON): the answer comes when the model is done.

    python -m bench stream [--questions 40]
"""

import argparse
import asyncio
import time
from typing import Any

import httpx

from bench.common import (
    configure,
    percentile,
    print_table,
    save_chart,
    server_process,
    session_with_transcript,
    write_result,
)
from tests.functional.test_devhost import running_devhost

FIRST_TOKEN_SECONDS, TOKEN_INTERVAL_SECONDS = 0.3, 0.05
# 20 tokens (a word each, with the space before it): 4 of the answer, 16 of the suggestions block.
ANSWER = (
    "Glaciers carve valleys [1]."
    "\n<suggestions>\nHow fast do glaciers move?\nWhat do ice cores record?\nWhere are glaciers found?\n</suggestions>"
)
TARGET_MS = 50.0


async def streamed_question(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, float]:
    """One streamed answer: wall-clock times (time.time()) of the request, first token and done."""
    times = {"request": time.time()}
    body, headers = {"question": "what about glaciers?"}, {**headers, "Accept": "text/event-stream"}
    async with client.stream("POST", "/api/chat", json=body, headers=headers) as response:
        assert response.status_code == 200, response.status_code
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
                if event == "token" and "token" not in times:
                    times["token"] = time.time()
                elif event == "done":
                    times["done"] = time.time()
                elif event == "error":
                    raise RuntimeError("the stream ended with an error event")
    assert "done" in times and "token" in times
    return times


async def run(base: str, stats_url: str, questions: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        headers = await session_with_transcript(client)
        rows: list[dict[str, float]] = []
        for n in range(questions + 3):  # 3 to warm up
            times = await streamed_question(client, headers)
            model = (await client.get(stats_url)).json()["streams"][-1]
            assert model["end"] == "done", model
            if n >= 3:
                rows.append({
                    "first_token_after_model_ms": (times["token"] - model["first"]) * 1000,
                    "done_after_model_ms": (times["done"] - model["last"]) * 1000,
                    "first_token_ms": (times["token"] - times["request"]) * 1000,
                    "done_ms": (times["done"] - times["request"]) * 1000,
                    "model_first_token_ms": (model["first"] - model["start"]) * 1000,
                    "model_done_ms": (model["last"] - model["start"]) * 1000,
                })  # fmt: skip
        json_ms = []
        for _ in range(max(5, questions // 4)):
            started = time.perf_counter()
            response = await client.post("/api/chat", json={"question": "what about glaciers?"}, headers=headers)
            assert response.status_code == 200 and response.json()["suggestions"], response.text
            json_ms.append((time.perf_counter() - started) * 1000)
    summary = {
        name: {"p50": percentile([row[name] for row in rows], 50), "p95": percentile([row[name] for row in rows], 95)}
        for name in rows[0]
    }
    summary["json_answer_ms"] = {"p50": percentile(json_ms, 50), "p95": percentile(json_ms, 95)}
    return {"summary": summary, "rows": rows}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench stream")
    parser.add_argument("--questions", type=int, default=40)
    args = parser.parse_args(argv)
    from bench.retrieve import database_url_for

    configure()
    url = asyncio.run(database_url_for("bench_stream"))
    model = ["--first-token", str(FIRST_TOKEN_SECONDS), "--token-interval", str(TOKEN_INTERVAL_SECONDS),
             "--answer", ANSWER]  # fmt: skip
    with server_process("tests.fakes.openai_server", model) as openai_url:
        # Every question a first one (no history read, no rewrite call): the same work each time.
        settings = {"PG_CONNECTION_STRING": url, "OPENAI_BASE_URL": openai_url, "OPENAI_KEY": "bench",
                    "SESSION_CLEANUP_SCHEDULE": "0 0 0 * * *", "CHAT_HISTORY_TURNS": "0"}  # fmt: skip
        with running_devhost(**settings) as base:
            result = asyncio.run(run(base, openai_url.removesuffix("/v1") + "/stats", args.questions))
    s = result["summary"]

    def row(label: str, name: str) -> tuple[str, str]:
        return label, f"{s[name]['p50']:.1f} / {s[name]['p95']:.1f}"

    print_table(
        f"stream: {args.questions} questions through devhost; model: first token {FIRST_TOKEN_SECONDS * 1000:.0f} ms, "
        f"20 tokens {TOKEN_INTERVAL_SECONDS * 1000:.0f} ms apart; p50 / p95 (ms)",
        [
            row("ours minus the model's: first token event after its first token", "first_token_after_model_ms"),
            row("ours minus the model's: done event after its last chunk", "done_after_model_ms"),
            row("time to first token event (from the request)", "first_token_ms"),
            row("  the model's own time to first token", "model_first_token_ms"),
            row("time to done event (from the request)", "done_ms"),
            row("  the model's own time to its last chunk", "model_done_ms"),
            row("the same question without streaming: the JSON answer", "json_answer_ms"),
        ],
    )  # fmt: skip
    verdict = "met" if s["first_token_after_model_ms"]["p95"] < TARGET_MS else "MISSED"
    print(f"\ntarget: first token event within {TARGET_MS:.0f} ms of the model's first token (p95): {verdict}")
    save_chart(
        "stream",
        "Streamed answer through devhost, p50 (ms)",
        {
            name: s[key]["p50"]
            for name, key in (("first token", "first_token_ms"), ("done", "done_ms"), ("JSON answer", "json_answer_ms"))
        },
    )
    parameters = {"questions": args.questions, "first_token_seconds": FIRST_TOKEN_SECONDS,
                  "token_interval_seconds": TOKEN_INTERVAL_SECONDS, "tokens": 20, "target_ms": TARGET_MS}  # fmt: skip
    print("\nwritten:", write_result("stream", {**parameters, **result}))
