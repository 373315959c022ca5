"""Upstream faults: YouTube and the OpenAI-compatible server misbehaving. Each fault gives the
documented error, is retried where that makes sense (bounded), and leaves no partial video, chunk
or chat turn."""

import secrets

import httpx
import pytest

from tests.conftest import add_videos, scalar
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.youtube import FakeYouTube

pytestmark = pytest.mark.asyncio


def new_id() -> str:
    return secrets.token_urlsafe(8)[:11]


async def nothing_stored(video_id: str) -> bool:
    videos = await scalar("SELECT count(*) FROM video WHERE video_id = :v", v=video_id)
    chunks = await scalar("SELECT count(*) FROM video_chunk WHERE video_id = :v", v=video_id)
    return bool(videos == 0 and chunks == 0)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"watch_status": 429}, "request_blocked"),
        ({"watch_status": 500}, "upstream_error"),
        ({"watch_status": 503}, "upstream_error"),
        ({"fault": "timeout"}, "upstream_error"),
        ({"fault": "unreachable"}, "upstream_error"),
        ({"fault": "unparsable"}, "upstream_error"),
        ({"fault": "truncated"}, "upstream_error"),
    ],
)
async def test_youtube_faults_give_the_item_error_and_store_nothing(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, fault: dict[str, object], code: str
) -> None:
    broken, fine = new_id(), new_id()
    fake_youtube.add(broken, **fault)
    fake_youtube.add(fine)

    results = await add_videos(client, session_id, broken, fine)

    assert results[0]["status"] == "failed" and results[0]["error"]["code"] == code
    assert results[1]["status"] == "added"
    assert await nothing_stored(broken)


@pytest.mark.parametrize("fault", ["timeout", "unreachable"])
async def test_a_youtube_that_cannot_be_reached_is_said_so_and_a_question_then_says_why_nothing_is_ready(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, fault: str
) -> None:
    video_id = new_id()
    fake_youtube.add(video_id, fault=fault)

    (result,) = await add_videos(client, session_id, video_id)
    chat = await client.post("/api/chat", json={"question": "What is said?"}, headers={"X-Session-Id": session_id})
    search = await client.post(
        "/api/search", json={"query": "said", "video_ids": [video_id]}, headers={"X-Session-Id": session_id}
    )

    assert result["error"]["message"] == "YouTube could not be reached (network, DNS or proxy). Retry later."
    for response in (chat, search):
        assert response.status_code == 409 and response.json()["error"]["code"] == "no_videos"
        assert response.json()["error"]["message"].startswith("No video is ready: 1 could not be added")


@pytest.mark.parametrize(
    "fault",
    ["status_500", "status_503", "rate_limited", "malformed", "wrong_dimension", "timeout"],
)
async def test_embedding_faults_fail_the_video_after_bounded_retries_and_store_nothing(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI, settings, fault: str
) -> None:
    settings(OPENAI_TIMEOUT_SECONDS=1, OPENAI_MAX_RETRIES=1)
    video_id = new_id()
    fake_youtube.add(video_id)
    if fault.startswith("status_"):
        fake_openai.always_fail = int(fault.removeprefix("status_"))
    elif fault == "rate_limited":
        fake_openai.failures.extend([(429, {"Retry-After": "0"})] * 5)
    elif fault == "malformed":
        fake_openai.malformed = True
    elif fault == "wrong_dimension":
        fake_openai.wrong_dimension = True
    else:
        fake_openai.latency_seconds = 2.5

    (result,) = await add_videos(client, session_id, video_id)

    assert result["status"] == "failed" and result["error"]["code"] == "upstream_error"
    assert await nothing_stored(video_id)
    calls = len(fake_openai.calls("/v1/embeddings"))
    assert calls == (1 if fault == "wrong_dimension" or fault == "malformed" else 2)  # the try and one retry


@pytest.mark.parametrize("fault", ["status_500", "rate_limited", "malformed", "timeout"])
async def test_chat_model_faults_are_503_after_bounded_retries_with_no_turn_stored(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI, settings, fault: str
) -> None:
    headers = {"X-Session-Id": session_id}
    upload = {"title": "t", "format": "text", "content": "glaciers carve valleys"}
    assert (await client.post("/api/transcripts", json=upload, headers=headers)).status_code == 201
    settings(OPENAI_TIMEOUT_SECONDS=1, OPENAI_MAX_RETRIES=1)
    fake_openai.chat_fault = fault

    response = await client.post("/api/chat", json={"question": "what do glaciers do?"}, headers=headers)

    assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"
    assert len(fake_openai.calls("/v1/chat/completions")) == (1 if fault == "malformed" else 2)
    assert (await client.get("/api/chat/history", headers=headers)).json()["messages"] == []
