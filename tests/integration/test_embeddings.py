"""Embedding requests through the real langchain-openai clients (OpenAI-compatible and Azure OpenAI)
against the local OpenAI-compatible server: every vector lands in its text's row, in batches of the
configured size, whatever encoding the server answers in."""

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from services.common.clients import tls_context
from services.common.settings import get_settings
from services.video_rag.embeddings import embed_documents, make_embeddings
from services.video_rag.llm import make_chat_model
from tests.fakes.openai_server import FakeOpenAI, fake_embedding

pytestmark = pytest.mark.asyncio

TEXTS = ["rivers and mountains", "the weather of the valley", "a volcano erupts at dawn", "rivers again"]


def expected(texts: list[str], dimensions: int) -> np.ndarray:
    return np.stack([fake_embedding(text, dimensions) for text in texts])


@pytest.mark.parametrize("answer", ["base64", "floats", "reversed"])
async def test_each_vector_lands_in_its_texts_row_whatever_the_server_answers(
    fake_openai: FakeOpenAI, answer: str
) -> None:
    fake_openai.float_vectors = answer == "floats"
    fake_openai.reverse_order = answer == "reversed"
    s = get_settings()

    vectors = await embed_documents(make_embeddings(s), TEXTS, s.embedding_dimensions)  # type: ignore[arg-type]

    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), s.embedding_dimensions)
    np.testing.assert_allclose(vectors, expected(TEXTS, s.embedding_dimensions), rtol=1e-6)
    (call,) = fake_openai.calls("/v1/embeddings")
    assert call["input"] == TEXTS and call["encoding_format"] == "base64"
    assert call["model"] == s.openai_embedding_model and call["dimensions"] == s.embedding_dimensions
    endpoint = s.embedding_endpoint
    assert endpoint is not None and endpoint.key is not None
    assert fake_openai.credentials == [(f"Bearer {endpoint.key.get_secret_value()}", None)]


async def test_texts_go_in_batches_of_the_configured_size(fake_openai: FakeOpenAI, settings) -> None:
    settings(EMBEDDING_BATCH_SIZE=3)
    s = get_settings()

    vectors = await embed_documents(make_embeddings(s), TEXTS, s.embedding_dimensions)  # type: ignore[arg-type]

    assert [call["input"] for call in fake_openai.calls("/v1/embeddings")] == [TEXTS[:3], TEXTS[3:]]
    np.testing.assert_allclose(vectors, expected(TEXTS, s.embedding_dimensions), rtol=1e-6)


async def test_azure_openai_deployment_gets_the_same_request(fake_openai: FakeOpenAI, settings) -> None:
    settings(
        AZURE_OPENAI_ENDPOINT=fake_openai.base_url.removesuffix("/v1"),
        AZURE_OPENAI_EMBEDDING_DEPLOYMENT="embed-prod",
        AZURE_OPENAI_API_KEY="azure-test-key",
    )
    s = get_settings()
    assert s.embedding_provider == "azure"

    vectors = await embed_documents(make_embeddings(s), TEXTS, s.embedding_dimensions)  # type: ignore[arg-type]

    np.testing.assert_allclose(vectors, expected(TEXTS, s.embedding_dimensions), rtol=1e-6)
    (call,) = fake_openai.calls("/openai/deployments/embed-prod/embeddings")
    assert call["input"] == TEXTS and call["dimensions"] == s.embedding_dimensions
    assert not fake_openai.calls("/v1/embeddings")
    assert fake_openai.credentials == [(None, "azure-test-key")]


async def test_other_langchain_embeddings_answer_through_their_own_interface() -> None:
    other = DeterministicFakeEmbedding(size=8)

    vectors = await embed_documents(other, TEXTS, 8)

    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 8)
    np.testing.assert_allclose(vectors[2], other.embed_query(TEXTS[2]), rtol=1e-6)


async def test_every_upstream_client_shares_the_process_tls_context_and_keeps_its_limits(settings) -> None:
    """Loading the system's certificates once, not once per HTTP client: the clients of both models
    (sync and async) verify with the same context, and still have their timeout and retries."""
    settings(OPENAI_BASE_URL="https://models.example/v1", OPENAI_KEY="k", OPENAI_TIMEOUT_SECONDS="7")
    s = get_settings()
    embeddings, chat = make_embeddings(s), make_chat_model(s)

    clients = [client._client for model in (embeddings, chat) for client in (model.client, model.async_client)]

    assert {id(client._client._transport._pool._ssl_context) for client in clients} == {id(tls_context())}
    assert {(client.timeout, client.max_retries) for client in clients} == {(7.0, s.openai_max_retries)}
