"""VideoService over in-memory fakes: which videos a request adds, which it refuses and why, and
what stays stored. The session's room is 3 videos, a request at most 5 URLs (`make_settings`)."""

import uuid
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from services.common.errors import (
    InvalidRequestError,
    ItemError,
    LimitExceededError,
    NotFoundError,
    ServiceUnavailableError,
    SessionInvalidError,
)
from services.video_rag.service import LINK_ATTEMPTS, ItemResult, Upload, VideoService
from services.video_rag.youtube import Transcript
from tests.unit.fakes import (
    FailingEmbeddings,
    FakeClock,
    FakeTransaction,
    FakeTranscriptSource,
    FakeVideoRepository,
    InlineQueue,
    make_settings,
    transcript_of,
)

SRT = "1\n00:00:01,000 --> 00:00:04,000\nThe word is here\n\n2\n00:01:05,000 --> 00:01:08,000\nAnd more\n"


def vid(n: int) -> str:
    """A well-formed YouTube video id."""
    return f"vid-{n:07d}"


def video_service(
    repository: FakeVideoRepository,
    transcripts: FakeTranscriptSource,
    embeddings: Embeddings | None = None,
    transaction: FakeTransaction | None = None,
    **settings: Any,
) -> VideoService:
    queue = InlineQueue()
    service = queue.service = VideoService(
        repository, transcripts, embeddings, transaction or FakeTransaction(), make_settings(**settings), FakeClock(),
        queue=queue,
    )  # fmt: skip
    return service


@pytest.fixture
def repository() -> FakeVideoRepository:
    return FakeVideoRepository()


@pytest.fixture
def transcripts() -> FakeTranscriptSource:
    return FakeTranscriptSource()


@pytest.fixture
def service(repository: FakeVideoRepository, transcripts: FakeTranscriptSource) -> VideoService:
    return video_service(repository, transcripts)


@pytest.fixture
def session(repository: FakeVideoRepository) -> uuid.UUID:
    return repository.new_session()


def outcomes(results: list[ItemResult]) -> list[str]:
    """Each result's status, or its error code when it failed."""
    return [result.error.code if result.error else result.status for result in results]


async def video_ids(service: VideoService, session: uuid.UUID) -> list[str]:
    return [view.video_id for view in await service.list_videos(session)]


# --- add_videos ------------------------------------------------------------------------------------


async def test_new_videos_are_fetched_and_added_in_input_order(
    service: VideoService, session: uuid.UUID, transcripts: FakeTranscriptSource
) -> None:
    inputs = [f"https://youtu.be/{vid(2)}", vid(1), f"https://www.youtube.com/watch?v={vid(3)}"]

    results = await service.add_videos(session, inputs, ["en"])

    assert [(r.input, r.video_id, r.status) for r in results] == [
        (inputs[0], vid(2), "added"),
        (inputs[1], vid(1), "added"),
        (inputs[2], vid(3), "added"),
    ]
    assert [r.video.video.video_id for r in results if r.video] == [vid(2), vid(1), vid(3)]
    assert results[0].video and results[0].video.video.title == f"Title of {vid(2)}"
    assert sorted(transcripts.fetched) == [vid(1), vid(2), vid(3)]
    assert await video_ids(service, session) == [vid(2), vid(1), vid(3)]


async def test_results_keep_input_order_whatever_each_outcome(
    service: VideoService, session: uuid.UUID, transcripts: FakeTranscriptSource
) -> None:
    transcripts.errors[vid(2)] = ItemError("no_transcript", "No captions.")

    results = await service.add_videos(session, ["nonsense", vid(1), vid(2), vid(1), vid(3)], ["en"])

    assert outcomes(results) == ["invalid_url", "added", "no_transcript", "already_added", "added"]
    assert [r.video_id for r in results] == [None, vid(1), vid(2), vid(1), vid(3)]


async def test_invalid_urls_fail_as_invalid_url_and_fetch_nothing(
    service: VideoService, session: uuid.UUID, transcripts: FakeTranscriptSource
) -> None:
    inputs = [f"https://example.com/watch?v={vid(1)}", "not a video", "", f"https://youtu.be/{vid(1)}x"]

    results = await service.add_videos(session, inputs, ["en"])

    assert outcomes(results) == ["invalid_url"] * 4
    assert all(r.status == "failed" and r.video_id is None and r.video is None for r in results)
    assert transcripts.fetched == []


async def test_second_copy_of_a_video_in_one_request_is_already_added(
    service: VideoService, session: uuid.UUID, transcripts: FakeTranscriptSource
) -> None:
    results = await service.add_videos(session, [vid(1), f"https://youtu.be/{vid(1)}"], ["en"])

    assert outcomes(results) == ["added", "already_added"]
    assert results[1].video == results[0].video is not None
    assert transcripts.fetched == [vid(1)]
    assert await video_ids(service, session) == [vid(1)]


async def test_a_video_already_in_the_session_is_already_added_and_not_fetched_again(
    service: VideoService, session: uuid.UUID, transcripts: FakeTranscriptSource
) -> None:
    await service.add_videos(session, [vid(1)], ["en"])

    (result,) = await service.add_videos(session, [f"https://youtu.be/{vid(1)}"], ["en"])

    assert result.status == "already_added" and result.video is not None and result.video.video.video_id == vid(1)
    assert transcripts.fetched == [vid(1)]


async def test_videos_beyond_the_sessions_room_fail_as_limit_exceeded_and_are_not_fetched(
    service: VideoService, session: uuid.UUID, transcripts: FakeTranscriptSource
) -> None:
    await service.add_videos(session, [vid(1)], ["en"])

    results = await service.add_videos(session, [vid(2), vid(3), vid(4), vid(5)], ["en"])

    assert outcomes(results) == ["added", "added", "limit_exceeded", "limit_exceeded"]
    assert vid(4) not in transcripts.fetched and vid(5) not in transcripts.fetched
    assert await video_ids(service, session) == [vid(1), vid(2), vid(3)]


async def test_a_full_session_answers_already_added_for_its_own_videos(
    service: VideoService, session: uuid.UUID
) -> None:
    await service.add_videos(session, [vid(1), vid(2), vid(3)], ["en"])

    results = await service.add_videos(session, [vid(4), vid(1)], ["en"])

    assert outcomes(results) == ["limit_exceeded", "already_added"]


async def test_videos_added_meanwhile_by_another_request_count_against_the_room(
    service: VideoService, session: uuid.UUID, repository: FakeVideoRepository
) -> None:
    def another_request_adds_two_videos() -> None:
        for n in (8, 9):
            repository.attach(session, repository.put(vid(n)), FakeClock().now)

    repository.before_link.append(another_request_adds_two_videos)

    results = await service.add_videos(session, [vid(1), vid(2)], ["en"])

    assert outcomes(results) == ["added", "limit_exceeded"]
    assert sorted(v.video_id for v in repository.videos.values()) == [vid(1), vid(8), vid(9)]  # vid 2's copy went


async def test_one_videos_failure_leaves_the_others_added(
    service: VideoService, session: uuid.UUID, transcripts: FakeTranscriptSource
) -> None:
    transcripts.errors[vid(2)] = ItemError("no_transcript", "This video has no captions.")

    results = await service.add_videos(session, [vid(1), vid(2), vid(3)], ["en"])

    assert outcomes(results) == ["added", "no_transcript", "added"]
    assert results[1].status == "failed" and results[1].error and results[1].error.message.endswith("no captions.")
    assert await video_ids(service, session) == [vid(1), vid(2), vid(3)]  # the failed one too, until removed
    assert [view.job.status for view in await service.list_videos(session) if view.job] == ["failed"]


async def test_a_video_longer_than_max_transcript_seconds_fails_as_limit_exceeded(
    service: VideoService, session: uuid.UUID, transcripts: FakeTranscriptSource, repository: FakeVideoRepository
) -> None:
    transcripts.transcripts[vid(1)] = transcript_of(vid(1), seconds=3601)

    results = await service.add_videos(session, [vid(1), vid(2)], ["en"])

    assert outcomes(results) == ["limit_exceeded", "added"]
    assert [v.video_id for v in repository.videos.values()] == [vid(2)]


async def test_a_fetched_transcript_keeps_its_language_and_origin(
    service: VideoService, transcripts: FakeTranscriptSource, session: uuid.UUID
) -> None:
    generated = transcript_of(vid(1), "de")
    transcripts.transcripts[vid(1)] = Transcript(vid(1), "de", is_generated=True, snippets=generated.snippets)

    (result,) = await service.add_videos(session, [vid(1)], ["de", "en"])

    assert result.video is not None
    assert (result.video.video.language_code, result.video.video.is_generated) == ("de", True)
    assert result.video.video.source == "youtube" and result.video.video.channel == "A channel"


async def test_embeddings_failing_fail_the_video_as_upstream_error(
    repository: FakeVideoRepository, transcripts: FakeTranscriptSource, session: uuid.UUID
) -> None:
    service = video_service(repository, transcripts, FailingEmbeddings(), embedding_provider="openai")

    (result,) = await service.add_videos(session, [vid(1)], ["en"])

    assert outcomes([result]) == ["upstream_error"]
    assert repository.videos == {}


async def test_more_urls_than_max_urls_per_request_is_an_invalid_request(
    service: VideoService, session: uuid.UUID, transcripts: FakeTranscriptSource
) -> None:
    with pytest.raises(InvalidRequestError):
        await service.add_videos(session, [vid(n) for n in range(6)], ["en"])

    assert transcripts.fetched == []


async def test_max_urls_per_request_urls_are_accepted(
    repository: FakeVideoRepository, transcripts: FakeTranscriptSource, session: uuid.UUID
) -> None:
    service = video_service(repository, transcripts, max_videos_per_session=10)

    results = await service.add_videos(session, [vid(n) for n in range(5)], ["en"])

    assert outcomes(results) == ["added"] * 5


async def test_a_stored_copy_is_reused_without_fetching(
    service: VideoService, repository: FakeVideoRepository, transcripts: FakeTranscriptSource
) -> None:
    first, second = repository.new_session(), repository.new_session()
    await service.add_videos(first, [vid(1)], ["en"])

    (result,) = await service.add_videos(second, [vid(1)], ["en"])

    assert result.status == "added"
    assert transcripts.fetched == [vid(1)]
    assert repository.key_of(second, vid(1)) == repository.key_of(first, vid(1))
    assert len(repository.videos) == 1


async def test_a_copy_in_another_embedding_space_is_not_reused(
    service: VideoService, repository: FakeVideoRepository, transcripts: FakeTranscriptSource, session: uuid.UUID
) -> None:
    other = repository.put(vid(1), embedding_model="openai:text-embedding-3-small:1536")

    await service.add_videos(session, [vid(1)], ["en"])

    assert transcripts.fetched == [vid(1)]
    assert repository.key_of(session, vid(1)) != other


async def test_a_copy_collected_between_find_and_link_is_stored_again(
    service: VideoService, repository: FakeVideoRepository, transcripts: FakeTranscriptSource, session: uuid.UUID
) -> None:
    left_over = repository.put(vid(1))  # stored by a request that was interrupted
    repository.before_link.append(repository.collect_unlinked)  # the cleanup timer, between find and link

    (result,) = await service.add_videos(session, [vid(1)], ["en"])

    assert result.status == "added"
    assert transcripts.fetched == [vid(1)]
    assert repository.key_of(session, vid(1)) != left_over
    assert repository.key_of(session, vid(1)) in repository.videos


async def test_a_copy_collected_before_every_link_fails_as_upstream_error_after_link_attempts(
    service: VideoService, repository: FakeVideoRepository, transcripts: FakeTranscriptSource, session: uuid.UUID
) -> None:
    repository.before_link.extend([repository.collect_unlinked] * (1 + LINK_ATTEMPTS))  # the request's, the job's

    results = await service.add_videos(session, [vid(1), "nonsense"], ["en"])

    assert outcomes(results) == ["upstream_error", "invalid_url"]
    assert transcripts.fetched == [vid(1)] * LINK_ATTEMPTS
    assert [(view.video, view.job and view.job.status) for view in await service.list_videos(session)] == [
        (None, "failed")
    ]


async def test_the_session_ending_meanwhile_is_session_invalid_and_its_videos_alone_go(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    other = repository.new_session()
    await service.add_videos(other, [vid(1)], ["en"])
    repository.before_link.append(lambda: repository.end_session(session))

    with pytest.raises(SessionInvalidError):
        await service.add_videos(session, [vid(1), vid(2)], ["en"])

    assert [v.video_id for v in repository.videos.values()] == [vid(1)]  # the other session's


async def test_with_an_embedding_model_each_passage_is_stored_with_its_vector(
    repository: FakeVideoRepository, transcripts: FakeTranscriptSource, session: uuid.UUID
) -> None:
    settings: dict[str, Any] = {"embedding_provider": "openai", "embedding_dimensions": 8}
    service = video_service(repository, transcripts, DeterministicFakeEmbedding(size=8), **settings)
    transcripts.transcripts[vid(1)] = transcript_of(vid(1), seconds=600)

    (result,) = await service.add_videos(session, [vid(1)], ["en"])

    key = repository.key_of(session, vid(1))
    vectors = repository.vectors[key]
    assert vectors is not None and vectors.shape == (len(repository.chunks[key]), 8)
    assert len(repository.chunks[key]) > 1
    assert result.video and result.video.video.embedding_model == make_settings(**settings).embedding_model_id


async def test_without_an_embedding_model_passages_are_stored_without_vectors(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    (result,) = await service.add_videos(session, [vid(1)], ["en"])

    key = repository.key_of(session, vid(1))
    assert repository.chunks[key] and repository.vectors[key] is None
    assert result.video and result.video.video.embedding_model == "none"


# --- add_upload ------------------------------------------------------------------------------------


def upload(content: str = SRT, youtube_id: str | None = None, **values: Any) -> Upload:
    fields: dict[str, Any] = {"title": "My talk", "format": "srt", "language_code": "en"} | values
    return Upload(content=content, youtube_id=youtube_id, **fields)


async def test_an_upload_becomes_a_video_of_the_session(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    view = await service.add_upload(session, upload())

    assert view.video.video_id.startswith("upload-") and view.video.source.startswith("upload:")
    assert view.video.title == "My talk" and view.video.duration_seconds == 68.0
    assert view.video.chunk_count == len(repository.chunks[view.video.id]) == 1
    assert await video_ids(service, session) == [view.video.video_id]


async def test_an_upload_replaces_the_sessions_copy_of_that_video(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    await service.add_videos(session, [vid(1), vid(2)], ["en"])
    fetched = repository.key_of(session, vid(1))

    view = await service.add_upload(session, upload(youtube_id=vid(1)))

    assert sorted(await video_ids(service, session)) == [vid(1), vid(2)]
    assert repository.key_of(session, vid(1)) == view.video.id != fetched
    assert view.video.source.startswith("upload:")
    assert fetched not in repository.videos  # no other session had it


async def test_an_upload_keeps_the_replaced_copy_another_session_has(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    other = repository.new_session()
    await service.add_videos(other, [vid(1)], ["en"])
    await service.add_videos(session, [vid(1)], ["en"])

    await service.add_upload(session, upload(youtube_id=vid(1)))

    assert repository.key_of(other, vid(1)) in repository.videos


async def test_the_same_upload_in_another_session_reuses_its_stored_copy(
    service: VideoService, repository: FakeVideoRepository
) -> None:
    first, second = repository.new_session(), repository.new_session()

    one = await service.add_upload(first, upload())
    two = await service.add_upload(second, upload())

    assert one.video.id == two.video.id and len(repository.videos) == 1


async def test_an_upload_of_a_new_video_into_a_full_session_is_limit_exceeded(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    await service.add_videos(session, [vid(1), vid(2), vid(3)], ["en"])

    with pytest.raises(LimitExceededError):
        await service.add_upload(session, upload())

    assert len(repository.videos) == 3


async def test_an_upload_replacing_a_video_of_a_full_session_is_accepted(
    service: VideoService, session: uuid.UUID
) -> None:
    await service.add_videos(session, [vid(1), vid(2), vid(3)], ["en"])

    view = await service.add_upload(session, upload(youtube_id=vid(2)))

    assert view.video.video_id == vid(2)
    assert sorted(await video_ids(service, session)) == [vid(1), vid(2), vid(3)]


async def test_an_upload_into_a_session_filled_meanwhile_is_limit_exceeded(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    await service.add_videos(session, [vid(1), vid(2)], ["en"])
    repository.before_link.append(lambda: repository.attach(session, repository.put(vid(9)), FakeClock().now))

    with pytest.raises(LimitExceededError):
        await service.add_upload(session, upload())

    assert sorted(await video_ids(service, session)) == [vid(1), vid(2), vid(9)]


async def test_an_upload_into_a_session_ended_meanwhile_is_session_invalid(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    repository.before_link.append(lambda: repository.end_session(session))

    with pytest.raises(SessionInvalidError):
        await service.add_upload(session, upload())


async def test_an_upload_with_no_text_after_cleaning_is_an_invalid_request(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        await service.add_upload(session, upload("[Music]", format="text"))

    assert raised.value.status == 400
    assert repository.videos == {} and await video_ids(service, session) == []


async def test_an_upload_while_embeddings_fail_is_service_unavailable(
    repository: FakeVideoRepository, transcripts: FakeTranscriptSource, session: uuid.UUID
) -> None:
    service = video_service(repository, transcripts, FailingEmbeddings(), embedding_provider="openai")

    with pytest.raises(ServiceUnavailableError) as raised:
        await service.add_upload(session, upload())

    assert raised.value.status == 503
    assert repository.videos == {} and await video_ids(service, session) == []


async def test_an_upload_embedded_to_the_wrong_dimension_is_service_unavailable(
    repository: FakeVideoRepository, transcripts: FakeTranscriptSource, session: uuid.UUID
) -> None:
    service = video_service(
        repository, transcripts, DeterministicFakeEmbedding(size=4), embedding_provider="openai", embedding_dimensions=8
    )

    with pytest.raises(ServiceUnavailableError):
        await service.add_upload(session, upload())


# --- remove_video ----------------------------------------------------------------------------------


async def test_removing_a_video_unlinks_it_and_deletes_its_copy(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    await service.add_videos(session, [vid(1), vid(2)], ["en"])

    await service.remove_video(session, vid(1))

    assert await video_ids(service, session) == [vid(2)]
    assert [v.video_id for v in repository.videos.values()] == [vid(2)]


async def test_removing_a_video_keeps_the_copy_another_session_has(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    other = repository.new_session()
    await service.add_videos(other, [vid(1)], ["en"])
    await service.add_videos(session, [vid(1)], ["en"])

    await service.remove_video(session, vid(1))

    assert await video_ids(service, session) == []
    assert await video_ids(service, other) == [vid(1)]


async def test_removing_a_video_the_session_does_not_have_is_not_found(
    service: VideoService, repository: FakeVideoRepository, session: uuid.UUID
) -> None:
    other = repository.new_session()
    await service.add_videos(other, [vid(1)], ["en"])

    with pytest.raises(NotFoundError):
        await service.remove_video(session, vid(1))

    assert await video_ids(service, other) == [vid(1)]


@pytest.mark.parametrize("video_id", ["", "x" * 101])
async def test_removing_an_empty_or_too_long_id_is_not_found_without_opening_a_transaction(
    repository: FakeVideoRepository, transcripts: FakeTranscriptSource, session: uuid.UUID, video_id: str
) -> None:
    transaction = FakeTransaction()
    service = video_service(repository, transcripts, transaction=transaction)

    with pytest.raises(NotFoundError):
        await service.remove_video(session, video_id)

    assert transaction.opened == 0
