"""VideoService against the real database."""

import secrets

import pytest

from services.common import database
from services.common.settings import Settings
from services.video_rag.repository import VideoRepository
from services.video_rag.service import VideoService
from services.video_rag.youtube import YouTubeTranscriptSource
from tests.conftest import scalar
from tests.fakes.youtube import FakeYouTube

pytestmark = pytest.mark.asyncio


async def test_without_an_embedding_provider_chunks_are_stored_for_full_text_search(
    database_url: str, fake_youtube: FakeYouTube
) -> None:
    settings = Settings(openai_key=None, openai_base_url=None)
    assert settings.embedding_provider is None
    video_id = secrets.token_urlsafe(8)[:11]
    fake_youtube.add(video_id, title=None)
    service = VideoService(
        VideoRepository(), YouTubeTranscriptSource(settings, fake_youtube.http_client), None, database.transaction,
        settings,
    )  # fmt: skip
    from services.sessions.functions import sessions

    session, _ = await sessions().get_or_create(None)

    (result,) = await service.add_videos(session.id, [video_id], ["en"])

    assert result.status == "added" and result.video is not None
    assert result.video.video.title is None  # oEmbed failed: the video is stored all the same
    assert result.video.video.embedding_model == "none"
    assert await scalar("SELECT count(*) FROM video_chunk WHERE video_id = :v AND embedding IS NULL", v=video_id) == 1
    assert (
        await scalar(
            "SELECT count(*) FROM video_chunk"
            " WHERE video_id = :v AND content_tsv @@ plainto_tsquery('english', 'test')",
            v=video_id,
        )
        == 1
    )
    assert [view.video.video_id for view in await service.list_videos(session.id)] == [video_id]
