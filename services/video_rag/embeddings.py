"""Embeddings through langchain-openai: OpenAI, Azure OpenAI, or any OpenAI-compatible server
(Ollama, vLLM, ...). None when no provider is configured: chunks are then stored without
embeddings and found by full-text search."""

import base64
import json
import logging
from collections.abc import Iterator, Sequence, Sized
from contextlib import contextmanager
from typing import TYPE_CHECKING

from services.common.clients import openai_connection, shared_client
from services.common.settings import Settings

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.embeddings import Embeddings
    from langchain_openai import OpenAIEmbeddings
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)


class EmbeddingError(Exception):
    """The embedding service failed after its retries, or answered something unusable."""


def make_embeddings(settings: Settings) -> "Embeddings | None":
    """A new client for the configured endpoint (batched, retried with backoff, timed out)."""
    endpoint = settings.embedding_endpoint
    if endpoint is None:
        return None
    common = {
        **openai_connection(endpoint, settings),
        "chunk_size": settings.embedding_batch_size,
        "check_embedding_ctx_length": False,  # no tiktoken: it would download its vocabulary
    }
    if endpoint.provider == "azure":
        from langchain_openai import AzureOpenAIEmbeddings

        return AzureOpenAIEmbeddings(**common, deployment=endpoint.model, dimensions=settings.embedding_dimensions)
    from langchain_openai import OpenAIEmbeddings

    # Only text-embedding-3 models can shorten their vectors; other servers reject the field.
    dimensions = settings.embedding_dimensions if endpoint.model.startswith("text-embedding-3") else None
    return OpenAIEmbeddings(**common, model=endpoint.model, dimensions=dimensions)


def get_embeddings(settings: Settings) -> "Embeddings | None":
    """The shared client (its HTTP connections are reused across invocations)."""
    return shared_client("embeddings", settings, make_embeddings)


async def embed_documents(embeddings: "Embeddings", texts: list[str], dimensions: int) -> "NDArray[np.float32]":
    """One row of `dimensions` float32 per text, or EmbeddingError.

    With langchain-openai's clients (OpenAI, Azure OpenAI, OpenAI-compatible servers) the requests are
    the ones `aembed_documents` sends (same client, model, dimensions, batches, retries and timeout),
    but the API's base64 vectors go straight into one array, where the client's path builds a Python
    float per component, then a model and a dict per vector: about a third less CPU per call
    (`python -m bench ingest`, "embedding client CPU")."""
    import numpy as np
    from langchain_openai import OpenAIEmbeddings

    with _upstream_errors():
        if isinstance(embeddings, OpenAIEmbeddings):
            size = embeddings.chunk_size
            rows = [
                row
                for i in range(0, len(texts), size)
                for row in await _openai_vectors(embeddings, texts[i : i + size])
            ]
        else:
            rows = [np.asarray(vector, dtype=np.float32) for vector in await embeddings.aembed_documents(texts)]
    _check(rows, len(texts), dimensions)
    return np.stack(rows) if rows else np.empty((0, dimensions), dtype=np.float32)


async def embed_query(embeddings: "Embeddings", text: str, dimensions: int) -> list[float]:
    """The vector of a question (some models embed questions and passages differently), or EmbeddingError."""
    with _upstream_errors():
        vector = await embeddings.aembed_query(text)
    _check([vector], 1, dimensions)
    return vector


async def _openai_vectors(embeddings: "OpenAIEmbeddings", texts: list[str]) -> "list[NDArray[np.float32]]":
    """One embeddings request, its vectors in input order (base64 asked for; floats accepted from
    servers that ignore the format). The request is the one the SDK's `embeddings.create` sends, posted
    through the same client (base URL, Azure deployment, key, retries, timeout) without `create`'s walk
    of the input against the parameters' type hints: that costs about 50 µs of CPU a text, 60 ms for an
    hour of video's windows and sentences, and changes nothing in a list of strings. The body holds
    what LangChain's client sends (`_invocation_params`: the model, its dimensions, no model_kwargs here)."""
    import numpy as np

    content = await embeddings.async_client._client.post(
        "/embeddings",
        body={"input": texts, **embeddings._invocation_params, "encoding_format": "base64"},
        cast_to=bytes,  # the body as it came
        options={"security": {"bearer_auth": True}},  # as `create`'s: the API key, not an admin key
    )
    data = sorted(json.loads(content)["data"], key=lambda item: item["index"])
    return [
        np.frombuffer(base64.b64decode(vector), dtype="<f4")
        if isinstance(vector := item["embedding"], str)
        else np.asarray(vector, dtype=np.float32)
        for item in data
    ]


@contextmanager
def _upstream_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - any client, HTTP or parsing failure of the upstream
        logger.warning("embedding request failed: %s", type(exc).__name__)
        raise EmbeddingError("The embedding service failed. Retry later.") from None


def _check(vectors: "Sequence[Sized]", count: int, dimensions: int) -> None:
    if len(vectors) != count or any(len(vector) != dimensions for vector in vectors):
        logger.warning("embedding service answered vectors of the wrong number or dimension")
        raise EmbeddingError("The embedding service answered vectors of the wrong dimension.")
