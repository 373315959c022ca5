"""all-MiniLM-L6-v2 (bench/minilm.py) behind an OpenAI-compatible API, for benchmarks of retrieval
quality with a real embedding model, offline. The HTTP side is the test suite's OpenAI-compatible
server (tests/fakes/openai_server.py) with the model's vectors in place of its hashed words:

- `POST /v1/embeddings`: one normalized 384-float vector per input, as floats or base64
  (`encoding_format`), each with its `index`, and `usage` counted in the model's tokens;
- `POST /v1/chat/completions`: an answer citing every passage of the prompt in order (`[1][2]...[n]`,
  the prompt numbering them `<passage number="n" ...>`), so that a chat's `sources` are the
  passages the app retrieved, in its order.

    python -m bench.embedding_server --port P     # prints its URL once listening
"""

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from bench.minilm import DIMENSIONS, MiniLM
from tests.fakes.openai_server import FakeOpenAI

MODEL_NAME = "all-MiniLM-L6-v2"
_PASSAGE = re.compile(r'<passage number="(\d+)"')


def cite_every_passage(body: dict[str, Any]) -> str:
    """`[1][2]...[n]` for the passages of the last message, in their order ("" when it has none)."""
    content = str(body["messages"][-1]["content"]) if body.get("messages") else ""
    return "".join(f"[{number}]" for number in _PASSAGE.findall(content))


class MiniLMServer(FakeOpenAI):
    def __init__(self, model: MiniLM, port: int = 0) -> None:
        super().__init__(dimensions=DIMENSIONS, port=port)
        self.model = model
        self.chat_answer = cite_every_passage
        self._model_lock = threading.Lock()  # one request at a time on the model: it uses the cores it has

    def embed(self, texts: list[str], dimensions: int) -> tuple[list[np.ndarray], int]:
        ids = self.model.tokenize(texts)
        with self._model_lock:
            vectors = self.model.embed_tokens(ids)
        return list(vectors), sum(len(sequence) for sequence in ids)


@contextmanager
def embedding_server_process() -> Iterator[str]:
    """The server in its own process (the model's CPU is then not the caller's); yields its URL.
    BLAS runs on one thread: on a shared 2-core machine a second one mostly waits for the other's
    core (measured: 32 passages took 7 s with one thread, 13 s with two, while other work ran)."""
    from bench.common import server_process

    with server_process("bench.embedding_server", [], env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}) as url:
        yield url


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.embedding_server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = MiniLMServer(MiniLM.load(), args.port).start()
    print(f"{MODEL_NAME} on {server.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
