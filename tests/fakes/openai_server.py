"""An OpenAI-compatible server on loopback (pytest-httpserver) for the REAL langchain-openai
client: deterministic embeddings, scripted chat answers (streamed as OpenAI streams them when the
request asks `"stream": true`: Server-Sent Events of `chat.completion.chunk`s, then `[DONE]`), and
injectable failures."""

import base64
import functools
import hashlib
import json
import logging
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

_TOKEN = re.compile(r"[a-z0-9]+")


def fake_embedding(text: str, dimensions: int) -> np.ndarray:
    """A bag of hashed words, normalized: texts sharing words are close, so retrieval is testable."""
    slots = [_slot(token, dimensions) for token in _TOKEN.findall(text.lower())]
    vector = np.zeros(dimensions, dtype=np.float32)
    if slots:
        indexes, signs = zip(*slots, strict=True)
        vector += np.bincount(indexes, weights=signs, minlength=dimensions).astype(np.float32)
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        vector[0] = 1.0
        norm = 1.0
    return vector / norm


@functools.lru_cache(maxsize=1 << 16)
def _slot(token: str, dimensions: int) -> tuple[int, float]:
    """Where a word counts in the vector, and with which sign (hashed once per word: the fake answers
    at the speed of a remote service, whose CPU is not the benchmarked machine's)."""
    digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little") % dimensions, 1.0 if digest[4] % 2 else -1.0


@functools.lru_cache
def _constant_base64(dimensions: int) -> str:
    return base64.b64encode(fake_embedding("constant", dimensions).astype("<f4").tobytes()).decode()


class FakeOpenAI:
    def __init__(
        self, dimensions: int = 1536, latency_seconds: float = 0.0, port: int = 0, constant: bool = False
    ) -> None:
        self.dimensions = dimensions
        # One vector for every text, encoded once: the fake then costs next to no CPU, like a remote
        # service (benchmarks of ingestion, whose machine the fake would otherwise share).
        self.constant = constant
        self.latency_seconds = latency_seconds
        self.server = HTTPServer(host="127.0.0.1", port=port, threaded=True)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.failures: list[tuple[int, dict[str, str]]] = []  # served first, one per request
        self._no_faults()
        self.chat_answer: Callable[[dict[str, Any]], str] = lambda body: "I could not find that."
        self._lock = threading.Lock()
        self.server.expect_request("/v1/embeddings", method="POST").respond_with_handler(self._embeddings)
        azure_embeddings = re.compile(r"/openai/deployments/[\w.-]+/embeddings")  # Azure OpenAI's path
        self.server.expect_request(azure_embeddings, method="POST").respond_with_handler(self._embeddings)
        self.server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self._chat)
        self.server.expect_request("/stats", method="GET").respond_with_handler(self._stats)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/v1"

    def start(self) -> "FakeOpenAI":
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server.is_running():
            self.server.stop()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.failures.clear()
        self._no_faults()
        self.latency_seconds = 0.0

    def _no_faults(self) -> None:
        self.always_fail: int | None = None
        self.wrong_dimension = False
        self.malformed = False  # answer 200 with a body that is not JSON
        self.float_vectors = False  # vectors as JSON floats whatever the encoding asked (older servers)
        self.reverse_order = False  # the vectors listed last first (their `index` tells their text)
        self.chat_fault: str | None = None  # on the chat endpoint only: "status_500", "rate_limited", ...
        # Streamed answers: a word (with the space before it) per chunk, the first after
        # `first_token_seconds`, the next ones `token_interval_seconds` apart; `stream_error_after`
        # tokens, then an error event (as OpenAI reports a failure mid-stream); `stream_hold`: after the
        # first token, wait until the test sets it.
        self.first_token_seconds = 0.0
        self.token_interval_seconds = 0.0
        self.stream_error_after: int | None = None
        self.stream_hold: threading.Event | None = None
        # Per streamed answer, in order: when it began and its first and last chunk were written
        # (time.time()), and how it ended: "done" ([DONE] written), "error", "dropped" (the client closed
        # it first), or "open" still.
        self.streams: list[dict[str, Any]] = []
        self.credentials: list[tuple[str | None, str | None]] = []  # per request: Authorization, api-key

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.requests if p == path]

    def _record(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        body = json.loads(request.get_data() or b"{}")
        with self._lock:
            self.requests.append((request.path, body))
            self.credentials.append((request.headers.get("Authorization"), request.headers.get("api-key")))
            failure = self.failures.pop(0) if self.failures else None
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        if failure is None and self.always_fail is not None:
            failure = (self.always_fail, {})
        if failure is None and self.malformed:
            return body, Response('{"data": [{"embedding": [0.1, ', content_type="application/json")
        if failure is not None:
            status, headers = failure
            error = {"error": {"message": "injected failure", "type": "server_error", "code": None}}
            return body, Response(json.dumps(error), status=status, headers=headers, content_type="application/json")
        return body, None

    def _stats(self, request: Request) -> Response:
        """How many requests each endpoint served, and the streams' times (benchmarks read them from
        another process)."""
        with self._lock:
            counts: dict[str, Any] = {path: sum(1 for p, _ in self.requests if p == path) for path, _ in self.requests}
            counts["streams"] = list(self.streams)
        return Response(json.dumps(counts), content_type="application/json")

    @staticmethod
    def _chat_fault(fault: str) -> Response:
        if fault == "timeout":
            time.sleep(2.5)
        if fault == "rate_limited":
            error = '{"error": {"message": "slow down", "type": "rate_limit"}}'
            return Response(error, status=429, headers={"Retry-After": "0"}, content_type="application/json")
        if fault == "malformed":
            return Response('{"choices": [', content_type="application/json")
        return Response('{"error": {"message": "boom"}}', status=500, content_type="application/json")

    def embed(self, texts: list[str], dimensions: int) -> tuple[list[np.ndarray], int]:
        """The vectors of `texts` and the tokens they count: bags of hashed words here. A subclass may
        answer a real model's (bench/embedding_server.py serves all-MiniLM-L6-v2 this way)."""
        return [fake_embedding(text, dimensions) for text in texts], 0

    def _embeddings(self, request: Request) -> Response:
        body, failure = self._record(request)
        if failure is not None:
            return failure
        texts = [str(text) for text in (body["input"] if isinstance(body["input"], list) else [body["input"]])]
        dimensions = self.dimensions + (3 if self.wrong_dimension else 0)
        base64_format = body.get("encoding_format") == "base64" and not self.float_vectors
        encoded: list[Any]
        if self.constant and base64_format:
            encoded, tokens = [_constant_base64(dimensions)] * len(texts), 0
        else:
            vectors, tokens = self.embed(texts, dimensions)
            encoded = [
                base64.b64encode(vector.astype("<f4").tobytes()).decode() if base64_format else vector.tolist()
                for vector in vectors
            ]
        data = [{"object": "embedding", "index": index, "embedding": vector} for index, vector in enumerate(encoded)]
        if self.reverse_order:
            data.reverse()
        payload = {"object": "list", "data": data, "model": body.get("model", "fake"),
                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}  # fmt: skip
        return Response(json.dumps(payload), content_type="application/json")

    def _chat(self, request: Request) -> Response:
        body, failure = self._record(request)
        if failure is not None:
            return failure
        if self.chat_fault is not None:
            return self._chat_fault(self.chat_fault)
        if body.get("stream"):
            connection = request.environ.get("werkzeug.socket")
            return Response(self._chunks(body, connection), content_type="text/event-stream")
        answer = self.chat_answer(body)
        if self.first_token_seconds or self.token_interval_seconds:  # a model is as slow when it does not stream
            words = len(self._words(answer))
            time.sleep(self.first_token_seconds + self.token_interval_seconds * max(0, words - 1))
        payload = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": answer}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }  # fmt: skip
        return Response(json.dumps(payload), content_type="application/json")

    @staticmethod
    def _words(answer: str) -> list[str]:
        """The tokens of a streamed answer: each word with the white space before it."""
        return re.findall(r"\s*\S+|\s+$", answer) or [""]

    def _chunks(self, body: dict[str, Any], connection: socket.socket | None) -> Iterator[str]:
        """The answer as OpenAI streams it. Werkzeug writes each chunk at once and closes this
        generator (GeneratorExit at a `yield`) when the client has gone; while it holds, the client
        closing `connection` ends it."""
        words = self._words(self.chat_answer(body))
        record: dict[str, Any] = {"start": time.time(), "first": None, "last": None, "end": "open"}
        with self._lock:
            self.streams.append(record)

        def chunk(delta: dict[str, str], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body.get("model", "fake"), "choices": [choice]}  # fmt: skip
            return f"data: {json.dumps(data)}\n\n"

        try:
            time.sleep(self.first_token_seconds)
            for n, word in enumerate(words):
                if n and self.token_interval_seconds:
                    time.sleep(self.token_interval_seconds)
                if n == self.stream_error_after:
                    record["end"] = "error"
                    yield 'data: {"error": {"message": "injected failure mid-stream", "type": "server_error"}}\n\n'
                    return
                yield chunk({"role": "assistant", "content": word} if n == 0 else {"content": word})
                record["first"] = record["first"] or time.time()
                if n == 0 and self.stream_hold is not None:
                    while not self.stream_hold.wait(0.02):
                        if connection is not None and _closed_by_peer(connection):
                            record["end"] = "dropped"
                            return
            yield chunk({}, "stop")
            yield "data: [DONE]\n\n"
            record["last"], record["end"] = time.time(), "done"
        except GeneratorExit:
            record["end"] = "dropped"
            raise


def _closed_by_peer(connection: socket.socket) -> bool:
    """Whether the other end closed the connection (it is readable, and reading would find its end)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def main() -> None:
    """`python -m tests.fakes.openai_server --port P [--latency S] [--dimensions N] [--constant]`: the fake in its own
    process, so that a benchmark's app process does not pay for it."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--dimensions", type=int, default=1536)
    parser.add_argument("--constant", action="store_true", help="one vector for every text (no CPU per text)")
    parser.add_argument("--first-token", type=float, default=0.0, help="seconds before a stream's first token")
    parser.add_argument("--token-interval", type=float, default=0.0, help="seconds between a stream's tokens")
    parser.add_argument("--answer", help="every chat answer (streamed a word at a time)")
    args = parser.parse_args()
    fake = FakeOpenAI(args.dimensions, args.latency, args.port, args.constant)
    fake.first_token_seconds, fake.token_interval_seconds = args.first_token, args.token_interval
    if args.answer:
        fake.chat_answer = lambda body: str(args.answer)
    fake.start()
    print(f"fake OpenAI-compatible server on {fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
