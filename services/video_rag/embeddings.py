"""Embeddings through langchain-openai: OpenAI, Azure OpenAI, or any OpenAI-compatible server
(Ollama, vLLM, ...). None when no provider is configured: chunks are then stored without
embeddings and found by full-text search."""

import logging
from typing import TYPE_CHECKING

from pydantic import SecretStr

from services.common.clients import shared_client
from services.common.settings import Settings

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)


class EmbeddingError(Exception):
    """The embedding service failed after its retries, or answered something unusable."""


def make_embeddings(settings: Settings) -> "Embeddings | None":
    """A new client for the configured provider (batched, retried with backoff, timed out)."""
    if settings.embedding_provider == "azure":
        from langchain_openai import AzureOpenAIEmbeddings

        return AzureOpenAIEmbeddings(
            azure_endpoint=settings.azure_openai_endpoint,
            deployment=settings.azure_openai_embedding_deployment,
            openai_api_key=settings.azure_openai_api_key,
            openai_api_version=settings.azure_openai_api_version,
            dimensions=settings.embedding_dimensions,
            chunk_size=settings.embedding_batch_size,
            max_retries=settings.openai_max_retries,
            request_timeout=settings.openai_timeout_seconds,
            check_embedding_ctx_length=False,  # no tiktoken: it would download its vocabulary
        )
    if settings.embedding_provider == "openai":
        from langchain_openai import OpenAIEmbeddings

        model = settings.openai_embedding_model
        return OpenAIEmbeddings(
            model=model,
            openai_api_key=settings.openai_key or SecretStr("not-needed"),  # local servers take any key
            openai_api_base=settings.openai_base_url,
            # Only text-embedding-3 models can shorten their vectors; other servers reject the field.
            dimensions=settings.embedding_dimensions if model.startswith("text-embedding-3") else None,
            chunk_size=settings.embedding_batch_size,
            max_retries=settings.openai_max_retries,
            request_timeout=settings.openai_timeout_seconds,
            check_embedding_ctx_length=False,
        )
    return None


def get_embeddings(settings: Settings) -> "Embeddings | None":
    """The shared client (its HTTP connections are reused across invocations)."""
    return shared_client("embeddings", settings, make_embeddings)


async def embed_texts(
    embeddings: "Embeddings", texts: list[str], dimensions: int, *, query: bool = False
) -> list[list[float]]:
    """One vector per text, each of `dimensions` floats, or EmbeddingError. `query`: the one text is
    a question (some models embed questions and passages differently)."""
    try:
        vectors = [await embeddings.aembed_query(texts[0])] if query else await embeddings.aembed_documents(texts)
    except Exception as exc:  # noqa: BLE001 - any client, HTTP or parsing failure of the upstream
        logger.warning("embedding request failed: %s", type(exc).__name__)
        raise EmbeddingError("The embedding service failed. Retry later.") from None
    if len(vectors) != len(texts) or any(len(vector) != dimensions for vector in vectors):
        logger.warning("embedding service answered vectors of the wrong number or dimension")
        raise EmbeddingError("The embedding service answered vectors of the wrong dimension.")
    return vectors
