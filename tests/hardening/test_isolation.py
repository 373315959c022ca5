"""Isolation as a property: whatever the sessions, videos, questions and `video_ids`, nothing that
only session B has (a video, a passage, a history turn) ever appears in a response to session A."""

import json
import secrets

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.asyncio

WORDS = ["volcano", "river", "glacier", "desert", "forest", "ocean", "storm", "canyon"]


def marker() -> str:
    return "m" + secrets.token_hex(5)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    a_topics=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
    b_topics=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
    question_words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
    ask_for_b_ids=st.booleans(),
    share=st.booleans(),
)
async def test_nothing_of_session_b_reaches_session_a(
    client: httpx.AsyncClient,
    fake_openai: FakeOpenAI,
    a_topics: list[str],
    b_topics: list[str],
    question_words: list[str],
    ask_for_b_ids: bool,
    share: bool,
) -> None:
    fake_openai.chat_answer = lambda body: "Everything I saw: [1][2][3][4][5][6]."

    async def upload(session_id: str, title: str, content: str) -> dict[str, object]:
        response = await client.post(
            "/api/transcripts",
            json={"title": title, "format": "text", "content": content},
            headers={"X-Session-Id": session_id},
        )
        assert response.status_code == 201, response.text
        return dict(response.json()["video"])

    a = (await client.post("/api/sessions")).json()["session_id"]
    b = (await client.post("/api/sessions")).json()["session_id"]
    b_secrets: list[str] = []
    b_ids: list[str] = []
    for topic in b_topics:
        secret = marker()
        b_secrets.append(secret)
        lines = f"{topic} story with {secret}\nmore about the {topic} and {secret}"
        video = await upload(b, f"B {secret}", lines)
        b_ids.append(str(video["video_id"]))
    await client.post("/api/chat", json={"question": f"B asks {b_secrets[0]}"}, headers={"X-Session-Id": b})
    b_secrets.append(f"B asks {b_secrets[0]}")
    for topic in a_topics:
        await upload(a, f"A {topic}", f"{topic} facts for session A {marker()}")
    if share:  # both sessions hold the same uploaded transcript: shared, yet each sees its own copy only
        common = f"shared text {marker()}"
        await upload(a, "shared", common)
        await upload(b, "shared", common)
    question = " ".join(question_words) + " " + " ".join(b_secrets[:1])
    asked_ids = [str(video_id) for video_id in b_ids[:1]] if ask_for_b_ids else []
    body: dict[str, object] = {"question": question}
    if asked_ids:
        body["video_ids"] = asked_ids
    headers = {"X-Session-Id": a}
    responses = [
        await client.post("/api/chat", json=body, headers=headers),
        await client.get("/api/videos", headers=headers),
        await client.get("/api/chat/history", headers=headers),
    ]
    if ask_for_b_ids:
        assert responses[0].status_code == 400
    seen = "\n".join(r.text for r in responses)
    for own in [question, *asked_ids]:  # what A itself sent may come back to A
        seen = seen.replace(json.dumps(own)[1:-1], "")
    for secret in b_secrets:
        assert secret not in seen, secret
    for video_id in b_ids:
        assert video_id not in seen
