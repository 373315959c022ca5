"""Ingestion through the queue (Azurite, the app's queue trigger run by devhost): POST /api/videos
answers within its bound whatever YouTube does, pending videos show their progress, churn cancels what
is no longer wanted, and a message that keeps failing ends as a failed video and in the poison queue.
Real youtube-transcript-api over recorded responses, real PostgreSQL, real queue."""

import asyncio
import copy
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import scalar
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.youtube import FakeYouTube, hour_of_captions

pytestmark = pytest.mark.asyncio


def new_id() -> str:
    return secrets.token_urlsafe(8)[:11]


async def until(condition: Callable[[], Awaitable[bool]], attempts: int = 1200) -> None:
    """Waits for `condition` (every 0.1 s; gives up after `attempts`: a guard, not a timing assertion)."""
    for _ in range(attempts):
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the condition never held")


async def listed(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    response = await client.get("/api/videos", headers={"X-Session-Id": session_id})
    assert response.status_code == 200
    return list(response.json()["videos"])


async def post(client: httpx.AsyncClient, session_id: str, *urls: str) -> httpx.Response:
    return await client.post("/api/videos", json={"urls": list(urls)}, headers={"X-Session-Id": session_id})


def queue_is_empty(queue_name: str) -> Callable[[], Awaitable[bool]]:
    """Every message of the queue done (its function returned): none left, visible or not."""
    from services.common.queues import queue_client
    from services.common.settings import get_settings

    async def empty() -> bool:
        client = queue_client(get_settings(), queue_name)
        properties = await asyncio.to_thread(client.get_queue_properties)
        return properties.approximate_message_count == 0

    return empty


def status_of(client: httpx.AsyncClient, session_id: str, video_id: str, status: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return any(v["video_id"] == video_id and v["status"] == status for v in await listed(client, session_id))

    return check


async def execute(sql: str) -> None:
    from sqlalchemy import text

    from services.common.database import transaction

    async with transaction() as db:
        await db.execute(text(sql))


async def stored(video_id: str) -> tuple[int, int, int]:
    """(video rows, chunk rows, job rows) of a video."""
    return (
        int(await scalar("SELECT count(*) FROM video WHERE video_id = :v", v=video_id)),
        int(await scalar("SELECT count(*) FROM video_chunk WHERE video_id = :v", v=video_id)),
        int(await scalar("SELECT count(*) FROM ingest_job WHERE video_id = :v", v=video_id)),
    )


async def test_a_hanging_youtube_never_holds_the_post_beyond_its_bound(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, settings
) -> None:
    settings(INGEST_WAIT_SECONDS=1)
    video_id = new_id()
    fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions("volcano", seconds=600)})
    fake_youtube.block()  # every YouTube request now hangs (300 s)
    headers = {"X-Session-Id": session_id}

    response = await post(client, session_id, video_id)
    (pending,) = await listed(client, session_id)
    chat = await client.post("/api/chat", json={"question": "volcano?"}, headers=headers)
    search = await client.post("/api/search", json={"query": "volcano"}, headers=headers)
    fake_youtube.release()
    await until(status_of(client, session_id, video_id, "ready"))
    (ready,) = await listed(client, session_id)
    answered = await client.post("/api/search", json={"query": "volcano"}, headers=headers)

    assert response.status_code == 202  # answered while YouTube was still hanging
    (item,) = response.json()["videos"]
    assert item["status"] == "pending" and item["error"] is None
    assert item["video"]["status"] == "pending" and item["video"]["chunk_count"] is None
    assert pending["status"] == "pending" and pending["progress"]["stage"] in ("queued", "fetching")
    assert 0 <= pending["progress"]["fraction"] < 0.3
    assert chat.status_code == 409 and chat.json()["error"]["code"] == "no_videos"
    assert "still being added" in chat.json()["error"]["message"]
    assert search.status_code == 409
    assert ready["status"] == "ready" and ready["progress"] is None and ready["chunk_count"] >= 10
    assert answered.status_code == 200 and answered.json()["results"][0]["video_id"] == video_id


async def test_questions_use_the_ready_videos_while_others_are_still_arriving(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, settings
) -> None:
    ready, arriving = new_id(), new_id()
    fake_youtube.add(ready, captions={("en", "manual"): hour_of_captions("glacier", seconds=300)})
    fake_youtube.add(arriving, captions={("en", "manual"): hour_of_captions("glacier", seconds=300)})
    headers = {"X-Session-Id": session_id}
    first = await post(client, session_id, ready)
    settings(INGEST_WAIT_SECONDS=0.5)
    fake_youtube.block()

    second = await post(client, session_id, arriving)
    chat = await client.post("/api/chat", json={"question": "What about the glacier?"}, headers=headers)
    search = await client.post("/api/search", json={"query": "glacier"}, headers=headers)
    named = await client.post("/api/search", json={"query": "glacier", "video_ids": [arriving]}, headers=headers)

    assert first.status_code == 200 and second.status_code == 202
    assert chat.status_code == 200
    assert {result["video_id"] for result in search.json()["results"]} == {ready}
    assert named.status_code == 409  # the only video named is not ready yet


@pytest.mark.parametrize("churn", ["remove the video", "end the session"])
async def test_removing_a_pending_video_or_ending_its_session_cancels_it_and_stores_nothing(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, ingest_queue: str, settings, churn: str
) -> None:
    settings(INGEST_WAIT_SECONDS=0.5)
    video_id = new_id()
    fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions("river", seconds=600)})
    fake_youtube.block()
    headers = {"X-Session-Id": session_id}
    response = await post(client, session_id, video_id)
    await until(lambda: asyncio.sleep(0, len(fake_youtube.requests_for(video_id)) > 0))  # the work has started

    if churn == "remove the video":
        gone = await client.delete(f"/api/videos/{video_id}", headers=headers)
        assert gone.status_code == 204 and await listed(client, session_id) == []
    else:
        gone = await client.delete("/api/sessions/current", headers=headers)
        assert gone.status_code == 204
    fake_youtube.release()
    await until(queue_is_empty(ingest_queue))  # the function has returned

    assert response.status_code == 202
    assert await stored(video_id) == (0, 0, 0)


async def test_two_sessions_waiting_for_one_video_share_one_job(
    client: httpx.AsyncClient, fake_youtube: FakeYouTube, settings
) -> None:
    settings(INGEST_WAIT_SECONDS=0.5)
    video_id = new_id()
    fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions("lake", seconds=300)})
    sessions = [(await client.post("/api/sessions")).json()["session_id"] for _ in range(2)]
    fake_youtube.block()

    responses = [await post(client, s, video_id) for s in sessions]
    jobs = await scalar("SELECT count(*) FROM ingest_job WHERE video_id = :v", v=video_id)
    fake_youtube.release()
    for s in sessions:
        await until(status_of(client, s, video_id, "ready"))

    assert [r.status_code for r in responses] == [202, 202] and jobs == 1
    watch_pages = [r for r in fake_youtube.requests_for(video_id) if "/watch" in r[1]]
    assert len(watch_pages) == 1
    assert await stored(video_id) == (1, (await listed(client, sessions[0]))[0]["chunk_count"], 0)


async def test_a_failed_video_is_listed_with_its_error_and_retried_by_posting_it_again(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube
) -> None:
    video_id = new_id()
    fake_youtube.add(video_id, mode="transcripts_disabled")

    failed = await post(client, session_id, video_id)
    (listed_failed,) = await listed(client, session_id)
    fake_youtube.add(video_id)  # captions are on now
    retried = await post(client, session_id, video_id)
    (listed_ready,) = await listed(client, session_id)

    assert failed.status_code == 200 and failed.json()["videos"][0]["error"]["code"] == "transcripts_disabled"
    assert listed_failed["status"] == "failed" and listed_failed["error"]["code"] == "transcripts_disabled"
    assert retried.status_code == 200 and retried.json()["videos"][0]["status"] == "added"
    assert listed_ready["status"] == "ready" and listed_ready["error"] is None
    assert await stored(video_id) == (1, listed_ready["chunk_count"], 0)


async def test_pending_videos_count_against_the_sessions_quota(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, settings
) -> None:
    settings(INGEST_WAIT_SECONDS=0.5, MAX_VIDEOS_PER_SESSION=1)
    first, second = new_id(), new_id()
    fake_youtube.add(first)
    fake_youtube.add(second)
    fake_youtube.block()

    pending = await post(client, session_id, first)
    refused = await post(client, session_id, second)

    assert pending.status_code == 202
    assert refused.status_code == 200 and refused.json()["videos"][0]["error"]["code"] == "limit_exceeded"


async def test_a_message_that_keeps_failing_ends_as_a_failed_video_and_in_the_poison_queue(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI, devhost,
    ingest_queue: str, settings,
) -> None:  # fmt: skip
    """The database refuses to store the video (a trigger of this test's): every delivery fails
    unexpectedly, the host delivers it maxDequeueCount times (no delay between them here), then moves
    it to the poison queue; the last delivery failed the video."""
    from devhost.host import DevHost
    from function_app import app
    from services.common.queues import queue_client
    from services.common.settings import get_settings

    settings(INGEST_WAIT_SECONDS=0)
    video_id = new_id()
    fake_youtube.add(video_id)
    await execute(
        "CREATE FUNCTION refuse_video() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
    )
    await execute(  # the id is this test's own (letters, digits, - and _)
        "CREATE TRIGGER refuse_video BEFORE INSERT ON video FOR EACH ROW"
        f" WHEN (NEW.video_id = '{video_id}') EXECUTE FUNCTION refuse_video()"
    )
    await devhost.stop_queues()  # this test's host retries at once instead
    host_json = copy.deepcopy(devhost.host_json)
    host_json["extensions"]["queues"]["visibilityTimeout"] = "00:00:00"
    fast = DevHost(app, timers=False, queues=False, host_json=host_json)
    fast.start_queues()
    try:
        response = await post(client, session_id, video_id)
        await until(status_of(client, session_id, video_id, "failed"))
        await until(queue_is_empty(ingest_queue))
    finally:
        await fast.stop_queues()
        await execute("DROP TRIGGER refuse_video ON video")
        await execute("DROP FUNCTION refuse_video()")
    (failed,) = await listed(client, session_id)
    poison = queue_client(get_settings(), f"{ingest_queue}-poison")
    (message,) = poison.peek_messages(max_messages=32)

    assert response.status_code == 202
    assert failed["error"]["code"] == "ingest_failed"
    assert len([r for r in fake_youtube.requests_for(video_id) if "/watch" in r[1]]) == 5  # maxDequeueCount
    job = await scalar("SELECT id::text FROM ingest_job WHERE video_id = :v", v=video_id)
    assert json.loads(message.content) == {"job_id": job}  # as sent (base64, which the client decodes)
    assert (await stored(video_id))[:2] == (0, 0)
