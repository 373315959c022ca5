"""VideoService against the real database and the real queue (Azurite)."""

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common import database
from services.common.queues import StorageQueue, queue_client
from services.common.settings import Settings
from services.video_rag.repository import VideoRepository
from services.video_rag.service import IngestMessage, VideoService
from services.video_rag.youtube import YouTubeTranscriptSource
from tests.conftest import scalar
from tests.fakes.youtube import FakeYouTube

pytestmark = pytest.mark.asyncio


def queued_service(settings: Settings, fake_youtube: FakeYouTube, **options: Any) -> tuple[str, VideoService]:
    """A service without embeddings whose jobs go to a queue of its own (its name, and the service)."""
    queue_name = f"it-{uuid.uuid4().hex[:12]}"
    repository = VideoRepository(job_timeout=timedelta(minutes=settings.ingest_timeout_minutes))
    service = VideoService(
        repository, YouTubeTranscriptSource(settings, fake_youtube.http_client), None, database.transaction,
        settings, queue=StorageQueue(settings, queue_name), **options,
    )  # fmt: skip
    return queue_name, service


async def deliver(settings: Settings, queue_name: str, service: VideoService) -> int:
    """What the queue trigger does with each message of the queue: the job it names, worked on."""
    client = queue_client(settings, queue_name)
    messages = list(client.receive_messages(max_messages=32))
    for message in messages:
        await service.ingest(IngestMessage.model_validate_json(message.content).job_id)
        client.delete_message(message)
    return len(messages)


async def test_without_an_embedding_provider_chunks_are_stored_for_full_text_search(
    database_url: str, fake_youtube: FakeYouTube
) -> None:
    settings = Settings(openai_key=None, openai_base_url=None, ingest_wait_seconds=0)
    assert settings.embedding_provider is None
    video_id = secrets.token_urlsafe(8)[:11]
    fake_youtube.add(video_id, title=None)
    queue_name, service = queued_service(settings, fake_youtube)
    from services.sessions.functions import sessions

    session, _ = await sessions().get_or_create(None)

    (pending,) = await service.add_videos(session.id, [video_id], ["en"])
    delivered = await deliver(settings, queue_name, service)
    (view,) = await service.list_videos(session.id)

    assert pending.status == "pending" and delivered == 1
    assert view.video is not None and view.job is None
    assert view.video.title is None  # oEmbed failed: the video is stored all the same
    assert view.video.embedding_model == "none"
    assert await scalar("SELECT count(*) FROM video_chunk WHERE video_id = :v AND embedding IS NULL", v=video_id) == 1
    assert (
        await scalar(
            "SELECT count(*) FROM video_chunk"
            " WHERE video_id = :v AND content_tsv @@ plainto_tsquery('english', 'test')",
            v=video_id,
        )
        == 1
    )


async def test_a_redelivered_message_stores_the_video_once_and_two_sessions_share_one_job(
    database_url: str, fake_youtube: FakeYouTube
) -> None:
    settings = Settings(openai_key=None, openai_base_url=None, ingest_wait_seconds=0)
    video_id = secrets.token_urlsafe(8)[:11]
    fake_youtube.add(video_id)
    queue_name, service = queued_service(settings, fake_youtube)
    from services.sessions.functions import sessions

    first, _ = await sessions().get_or_create(None)
    second, _ = await sessions().get_or_create(None)

    await service.add_videos(first.id, [video_id], ["en"])
    await service.add_videos(second.id, [video_id], ["en"])
    client = queue_client(settings, queue_name)
    (message,) = list(client.receive_messages(max_messages=32, visibility_timeout=1))  # one job, one message
    job_id = IngestMessage.model_validate_json(message.content).job_id
    await service.ingest(job_id)
    await service.ingest(job_id)  # the same message again (redelivered), and a duplicate
    await service.ingest(job_id, last_attempt=True)

    assert await scalar("SELECT count(*) FROM video WHERE video_id = :v", v=video_id) == 1
    assert await scalar("SELECT count(*) FROM ingest_job WHERE video_id = :v", v=video_id) == 0
    for session in (first, second):
        (view,) = await service.list_videos(session.id)
        assert view.video is not None and view.video.video_id == video_id


async def test_a_job_whose_worker_died_is_taken_over_by_its_messages_redelivery_and_failed_once_it_stalls(
    database_url: str, fake_youtube: FakeYouTube
) -> None:

    from services.sessions.functions import sessions
    from services.video_rag.service import JOB_LEASE

    settings = Settings(openai_key=None, openai_base_url=None, ingest_wait_seconds=0, ingest_timeout_minutes=30)
    started = datetime.now(UTC)
    clock = [started]
    video_ids = [secrets.token_urlsafe(8)[:11] for _ in range(2)]
    for video_id in video_ids:
        fake_youtube.add(video_id)
    queue_name, service = queued_service(settings, fake_youtube, clock=lambda: clock[0])
    session, _ = await sessions().get_or_create(None)
    await service.add_videos(session.id, video_ids, ["en"])
    jobs = {}
    for message in queue_client(settings, queue_name).receive_messages(max_messages=32):
        job_id = IngestMessage.model_validate_json(message.content).job_id
        async with database.transaction() as db:  # a delivery takes each job, then its instance dies
            job = await VideoRepository().claim_job(db, job_id, started, JOB_LEASE, message.id)
            assert job is not None
            jobs[job.video_id] = (job_id, message.id)

    clock[0] = started + timedelta(minutes=1)
    job_id, message_id = jobs[video_ids[0]]
    await service.ingest(job_id, message_id="another")  # a duplicate message, within the lease: left alone
    still = {view.video_id: view.job and view.job.status for view in await service.list_videos(session.id)}
    await service.ingest(job_id, message_id=message_id)  # the redelivery of the message that took it
    clock[0] = started + timedelta(minutes=31)  # the other job's message is gone: nothing moves it any more
    views = {view.video_id: view for view in await service.list_videos(session.id)}

    assert still == {video_ids[0]: "pending", video_ids[1]: "pending"}
    assert views[video_ids[0]].video is not None  # taken over and stored
    failed = views[video_ids[1]].job
    assert failed is not None and failed.status == "failed" and failed.error_code == "ingest_timeout"
