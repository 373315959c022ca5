"""Retrieval through HTTP: POST /api/search, hybrid search on natural questions, moments rather than
passage starts, and extractive answers, in the real PostgreSQL with the real langchain-openai client
against the local OpenAI-compatible server."""

import re
import secrets
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import httpx
import pytest

from tests.conftest import scalar
from tests.fakes.openai_server import FakeOpenAI
from tests.real_data import CAPTIONS, without_real_captions

pytestmark = pytest.mark.asyncio

# Share with the question every word but the answer's: the (bag-of-words) embeddings prefer them.
DISTRACTORS = [
    "what did the children do in the garden after school",
    "what did the dog do in the park at noon",
    "so what did the team do in the morning",
    "what did the farmer do in the field",
]


def srt(captions: Sequence[tuple[float, float, str]]) -> str:
    def stamp(seconds: float) -> str:
        whole = int(seconds)
        return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d},{int(seconds % 1 * 1000):03d}"

    return "\n".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n" for i, (a, b, text) in enumerate(captions, 1))


async def upload(
    client: httpx.AsyncClient, session_id: str, title: str, captions: list[tuple[float, float, str]]
) -> str:
    video_id = secrets.token_urlsafe(8)[:11]
    response = await client.post(
        "/api/transcripts",
        json={"title": title, "format": "srt", "content": srt(captions), "source_url": f"https://youtu.be/{video_id}"},
        headers={"X-Session-Id": session_id},
    )
    assert response.status_code == 201, response.text
    return video_id


def spaced(texts: list[str], seconds: float = 65) -> list[tuple[float, float, str]]:
    """One caption per text, each a window of its own."""
    return [(i * seconds, i * seconds + seconds - 1, text) for i, text in enumerate(texts)]


async def search(client: httpx.AsyncClient, session_id: str, query: str, **extra: object) -> httpx.Response:
    return await client.post("/api/search", json={"query": query, **extra}, headers={"X-Session-Id": session_id})


async def test_search_answers_the_best_moments_best_first_and_remembers_nothing(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI
) -> None:
    rare = "zirconium" + secrets.token_hex(2)
    video_id = await upload(client, session_id, "Rocks", spaced(["granite is hard", f"the {rare} glows", "sand"]))

    response = await search(client, session_id, f"where does {rare} glow?", k=2)

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["rank"] for r in results] == [1, 2]
    first = results[0]
    assert rare in first["text"] and first["video_id"] == video_id and first["title"] == "Rocks"
    assert first["start_seconds"] == 65.0 and first["url"] == f"https://www.youtube.com/watch?v={video_id}&t=65s"
    assert results[0]["score"] >= results[1]["score"]
    assert fake_openai.calls("/v1/chat/completions") == []
    table = '"langchain_chat_message"'
    assert await scalar(f"SELECT count(*) FROM {table} WHERE session_id = :s", s=session_id) == 0


async def test_a_natural_question_finds_the_passage_sharing_only_one_rare_word(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI
) -> None:
    rare = "xylophonist" + secrets.token_hex(2)
    answer = f"a {rare} tuned her instrument"
    # A few minutes of other talk around: how rare a word is shows against a session's worth of windows.
    talk = [f"item {i}: {topic}" for i, topic in enumerate(["rivers flow", "stars shine", "bread rises"] * 20)]
    await upload(client, session_id, "Concert", spaced([*talk, *DISTRACTORS, answer]))
    question = f"what did the {rare} do in the hall"

    results = (await search(client, session_id, question)).json()["results"]
    fake_openai.chat_answer = lambda body: "[1]"
    chat = (await client.post("/api/chat", json={"question": question}, headers={"X-Session-Id": session_id})).json()

    assert results[0]["text"] == answer  # the embeddings alone rank the distractors above it
    assert chat["sources"][0]["text"] == answer


async def test_a_video_stored_before_sentence_vectors_is_not_pushed_down_by_newer_ones(
    client: httpx.AsyncClient, session_id: str
) -> None:
    """Videos stored before migration 0007 have no sentence vectors: beside videos that have them, their
    windows count as average in the sentence leg (not as its worst), and the other two legs rank them."""
    older = await upload(
        client,
        session_id,
        "Coast",
        spaced(["the keeper lived alone in the lighthouse for years", "waves hit the rocks", "gulls"]),
    )
    newer = await upload(
        client,
        session_id,
        "Town",
        spaced(["the baker lived in the town. He sold bread for years", "the market opens", "rain"]),
    )
    key = await scalar("SELECT id FROM video WHERE video_id = :v", v=older)
    assert await scalar("SELECT count(*) FROM video_sentence WHERE video_key = :k", k=key) == 3
    await scalar(
        "WITH gone AS (DELETE FROM video_sentence WHERE video_key = :k RETURNING 1) SELECT count(*) FROM gone", k=key
    )

    response = await search(client, session_id, "who lived alone in the lighthouse for years?", k=2)

    assert response.status_code == 200, response.text
    assert [r["video_id"] for r in response.json()["results"]] == [older, newer]


async def test_full_text_alone_ranks_a_rare_word_above_common_ones(
    client: httpx.AsyncClient, session_id: str, settings: Any
) -> None:
    rare = "quokka" + secrets.token_hex(2)
    common = ["the valley today is green and the valley is wide", "a valley today, another valley tomorrow"]
    await upload(client, session_id, "Valleys", spaced([*common, f"a {rare} crossed it", "the valley sleeps today"]))
    settings(embedding_provider="none", chat_provider="none")

    results = (await search(client, session_id, f"did a {rare} cross the valley today?")).json()["results"]

    assert rare in results[0]["text"]  # ranked by how rare the matched words are, not by how many times they occur


async def test_a_source_opens_the_moment_and_gives_the_minute_after_it(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI
) -> None:
    rare = "tardigrade" + secrets.token_hex(2)
    captions: list[tuple[float, float, str]] = [
        (t, t + 3, f"filler sentence number {t // 3} about nothing much.") for t in range(0, 300, 3)
    ]
    captions[40] = (120, 123, f"The {rare} survives in space.")
    video_id = await upload(client, session_id, "Animals", captions)

    (first, *_) = (await search(client, session_id, f"what survives in space, a {rare}?")).json()["results"]

    assert 100 <= first["start_seconds"] <= 120  # the window holding it: not a minute before
    assert first["url"] == f"https://www.youtube.com/watch?v={video_id}&t={int(first['start_seconds'])}s"
    assert first["end_seconds"] - first["start_seconds"] >= 50 and rare in first["text"]


@without_real_captions
async def test_the_moments_of_a_real_video_are_a_minute_apart_and_as_many_as_asked(
    client: httpx.AsyncClient, session_id: str, settings: Any
) -> None:
    """Real captions: windows of about ten seconds, each read with the ones after it, so the windows just
    before the best one match nearly as well. They are not other results (ten-second stubs whose text
    stopped where the better one starts): every moment of a video is a minute away from the others. And
    where the windows the searches nominate crowd a few stretches, more are nominated: a 25-minute video
    has room for 10 moments a minute apart (each keeps out less than two minutes)."""
    content = (CAPTIONS / "bBC-nXj3Ng4.srt").read_text(encoding="utf-8")  # 1,499 s
    response = await client.post(
        "/api/transcripts",
        json={"title": "Bitcoin", "format": "srt", "content": content, "source_url": "https://youtu.be/bBC-nXj3Ng4"},
        headers={"X-Session-Id": session_id},
    )
    assert response.status_code == 201, response.text
    settings(retrieval_fetch_k=1)  # each search nominates k windows to begin with

    found = await search(client, session_id, "How does everyone agree on which list of payments is the real one?", k=10)

    results = found.json()["results"]
    assert len(results) == 10
    starts = sorted(r["start_seconds"] for r in results)
    assert all(later - earlier >= 60 for earlier, later in pairwise(starts))
    for r in results:
        assert r["end_seconds"] - r["start_seconds"] >= 40 or r["end_seconds"] >= 1499 - 60


async def test_the_searches_nominate_more_windows_only_while_they_have_more(
    client: httpx.AsyncClient, session_id: str, settings: Any
) -> None:
    """Full text alone, each search nominating k windows to begin with: words said every 10 seconds for
    10 minutes fill the first 20 (more match), then all 60 are nominated, and the moments a minute apart
    they make, as many as fit, are what comes back. A word said nowhere: one round."""
    from sqlalchemy import event

    from services.common.database import get_engine

    settings(embedding_provider="none", chat_provider="none", retrieval_fetch_k=1)
    await upload(client, session_id, "Kites", spaced([f"kites fly number {i}" for i in range(60)], seconds=10))
    statements: list[str] = []
    engine = get_engine().sync_engine
    record = lambda *args: statements.append(args[2])  # noqa: E731 - (connection, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", record)
    try:
        many = (await search(client, session_id, "where do kites fly?", k=20)).json()["results"]
        full_text_rounds = sum("plainto_tsquery" in statement for statement in statements)
        statements.clear()
        none = (await search(client, session_id, "xylophone", k=20)).json()["results"]
        rounds_for_nothing = sum("plainto_tsquery" in statement for statement in statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    starts = sorted(r["start_seconds"] for r in many)
    assert 5 <= len(many) <= 10 and all(later - earlier >= 60 for earlier, later in pairwise(starts))
    assert all(any(abs(start - 10 * i) < 60 for start in starts) for i in range(60))  # no room for another
    assert full_text_rounds == 2
    assert none == [] and rounds_for_nothing == 1


async def test_with_no_context_a_moment_is_its_window_alone(
    client: httpx.AsyncClient, session_id: str, settings: Any
) -> None:
    settings(retrieval_context_seconds=0)
    rare = "quokka" + secrets.token_hex(2)
    await upload(client, session_id, "Zoo", spaced(["the lions sleep", f"the {rare} smiles", "the seals swim"]))

    results = (await search(client, session_id, f"which animal smiles, the {rare}?", k=3)).json()["results"]

    assert (results[0]["start_seconds"], results[0]["end_seconds"]) == (65.0, 129.0)
    assert rare in results[0]["text"] and "seals" not in results[0]["text"]
    assert len(results) == 3  # no window keeps out another


async def test_extractive_answer_quotes_the_matching_sentence_with_its_own_moment(
    client: httpx.AsyncClient, session_id: str, settings: Any
) -> None:
    rare = "axolotl" + secrets.token_hex(2)
    lines: list[tuple[float, float, str]] = [
        (t, t + 3, f"Some words about lakes number {t // 3}.") for t in range(0, 60, 3)
    ]
    lines[4] = (12, 15, f"The {rare} regrows its limbs.")
    video_id = await upload(client, session_id, "Lakes [2]", lines)
    settings(chat_provider="none")

    body = (
        await client.post(
            "/api/chat", json={"question": f"what regrows, the {rare}?"}, headers={"X-Session-Id": session_id}
        )
    ).json()

    assert body["mode"] == "extractive"
    first = body["answer"].splitlines()[1]
    assert first.startswith("[1] ") and f"The {rare} regrows its limbs." in first
    assert "Some words about lakes" not in first  # a sentence, not the whole passage
    source = body["sources"][0]
    assert abs(source["start_seconds"] - 12) < 1.5  # placed by its position in the window's text
    assert source["url"].endswith(f"&t={int(source['start_seconds'])}s")
    assert source["video_id"] == video_id
    assert set(re.findall(r"\[(\d+)\]", body["answer"])) == {str(s["index"]) for s in body["sources"]}


async def test_without_a_chat_model_a_follow_up_is_not_drowned_by_the_previous_question(
    client: httpx.AsyncClient, session_id: str, settings: Any
) -> None:
    volcano, glacier = "volcanic" + secrets.token_hex(2), "glacial" + secrets.token_hex(2)
    first = f"the {volcano} eruption of Katla melted ice and the floods came after the {volcano} eruption"
    await upload(client, session_id, "Iceland", spaced([first, f"the {glacier} ice cap is thick", "fish swim"]))
    settings(chat_provider="none")
    headers = {"X-Session-Id": session_id}
    await client.post("/api/chat", json={"question": f"When was the {volcano} eruption of Katla?"}, headers=headers)

    body = (await client.post("/api/chat", json={"question": f"and the {glacier} ice cap?"}, headers=headers)).json()

    assert glacier in body["sources"][0]["text"]


async def test_embeddings_and_chat_can_come_from_different_servers(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI, settings: Any
) -> None:
    chat_server = FakeOpenAI(dimensions=fake_openai.dimensions).start()
    try:
        chat_server.chat_answer = lambda body: "From the other server [1]."
        settings(chat_base_url=chat_server.base_url, embedding_base_url=fake_openai.base_url, openai_base_url="")
        await upload(client, session_id, "Moons", spaced(["moons orbit planets"]))
        embedded = len(fake_openai.calls("/v1/embeddings"))

        body = (
            await client.post("/api/chat", json={"question": "what orbits?"}, headers={"X-Session-Id": session_id})
        ).json()

        assert body["answer"] == "From the other server [1]." and body["mode"] == "generative"
        assert len(fake_openai.calls("/v1/embeddings")) > embedded and fake_openai.calls("/v1/chat/completions") == []
        assert chat_server.calls("/v1/embeddings") == []
    finally:
        chat_server.stop()


@pytest.mark.parametrize(
    "body", [{}, {"query": ""}, {"query": " \n\t "}, {"query": "x" * 2001}, {"query": "q", "k": 0},
             {"query": "q", "k": 21}, {"query": "q", "video_ids": "abc"}, {"query": "q", "video_ids": []},
             {"query": "q", "extra": 1}],
)  # fmt: skip
async def test_malformed_search_is_400(client: httpx.AsyncClient, session_id: str, body: dict[str, Any]) -> None:
    response = await client.post("/api/search", json=body, headers={"X-Session-Id": session_id})

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


async def test_search_without_videos_is_409_and_needs_a_session(client: httpx.AsyncClient, session_id: str) -> None:
    assert (await search(client, session_id, "anything")).status_code == 409
    assert (await client.post("/api/search", json={"query": "q"})).status_code == 401
