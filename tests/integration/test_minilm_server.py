"""The all-MiniLM-L6-v2 server of `python -m bench quality` (bench/embedding_server.py), through the
app's own embedding client and as raw HTTP: unit vectors, each in its text's row whatever the batch
and the encoding, the similarities the model is published with, and chat answers that cite every
passage of the app's prompt in order."""

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from bench.embedding_server import MODEL_NAME, MiniLMServer
from bench.minilm import MiniLM
from services.common.settings import get_settings
from services.video_rag import rag
from services.video_rag.embeddings import embed_documents, make_embeddings

TEXTS = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "An eigenvector stays on its own span when the transformation is applied. " * 40,  # past 256 tokens
]


@pytest.fixture(scope="module")
def server() -> Iterator[MiniLMServer]:
    server = MiniLMServer(MiniLM.load())
    server.start()
    yield server
    server.stop()


def embed(server: MiniLMServer, texts: list[str], encoding: str) -> dict[str, Any]:
    body = {"model": MODEL_NAME, "input": texts, "encoding_format": encoding}
    response = httpx.post(f"{server.base_url}/embeddings", json=body, timeout=60)
    assert response.status_code == 200
    return dict(response.json())


async def test_vectors_are_unit_length_and_the_same_whatever_the_batch(server: MiniLMServer, settings) -> None:
    settings(OPENAI_BASE_URL=server.base_url, OPENAI_EMBEDDING_MODEL=MODEL_NAME, EMBEDDING_DIMENSIONS=384,
             EMBEDDING_BATCH_SIZE=4)  # fmt: skip
    embeddings = make_embeddings(get_settings())
    assert embeddings is not None
    before = len(server.calls("/v1/embeddings"))

    batched = await embed_documents(embeddings, TEXTS, 384)
    sizes = [len(call["input"]) for call in server.calls("/v1/embeddings")[before:]]
    alone = np.stack([(await embed_documents(embeddings, [text], 384))[0] for text in TEXTS])

    assert sizes == [4, 2]
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_floats_and_base64_carry_the_same_vectors_with_their_index_and_the_token_usage(server: MiniLMServer) -> None:
    floats, encoded = embed(server, TEXTS, "float"), embed(server, TEXTS, "base64")

    assert [item["index"] for item in floats["data"]] == list(range(len(TEXTS)))
    decoded = np.stack([np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in encoded["data"]])
    np.testing.assert_allclose(np.array([item["embedding"] for item in floats["data"]]), decoded, rtol=1e-6)
    assert decoded.shape == (len(TEXTS), 384)
    # Word pieces with [CLS] and [SEP]: 8 + 9 + 8 + 8 + 11, and the long text cut at the model's 256.
    assert floats["usage"] == {"prompt_tokens": 300, "total_tokens": 300}


def test_related_sentences_score_above_unrelated_ones_as_the_published_model_does(server: MiniLMServer) -> None:
    vectors = np.array([item["embedding"] for item in embed(server, TEXTS[:5], "float")["data"]])
    similarity = vectors @ vectors.T

    # sentence-transformers' documentation gives 0.6660, 0.1046 and 0.1411 for these pairs with this model.
    assert similarity[0, 1] == pytest.approx(0.6660, abs=1e-3)
    assert similarity[0, 2] == pytest.approx(0.1046, abs=1e-3)
    assert similarity[1, 2] == pytest.approx(0.1411, abs=1e-3)
    assert similarity[3, 4] > 0.7 > 0.2 > max(similarity[3, :3].max(), similarity[4, :3].max())


def test_the_chat_answer_cites_every_passage_of_the_apps_prompt_in_order(server: MiniLMServer) -> None:
    passages = [rag.Passage(i, "vid", None, 60.0 * i, 60.0 * i + 60, f"passage {i}", None) for i in (1, 2, 3)]
    messages = [
        {"role": "system" if role == "system" else "user", "content": content}
        for role, content in rag.answer_messages("Why?", passages)
    ]

    response = httpx.post(f"{server.base_url}/chat/completions", json={"model": "any", "messages": messages})

    answer = response.json()["choices"][0]["message"]["content"]
    assert answer == "[1][2][3]"
    assert rag.cite(answer, passages)[1] == passages  # the chat's sources: the passages, in retrieval order
