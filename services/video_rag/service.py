"""Video use cases: add YouTube videos, upload captions, list and remove a session's videos."""

import asyncio
import hashlib
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from services.common import database
from services.common.errors import (
    InvalidRequestError,
    ItemError,
    LimitExceededError,
    NotFoundError,
    SessionInvalidError,
)
from services.common.settings import Settings, get_settings
from services.common.telemetry import span
from services.sessions.service import Transaction
from services.video_rag.captions import parse_captions
from services.video_rag.chunking import Chunk, Snippet, chunk_snippets
from services.video_rag.embeddings import EmbeddingError, embed_documents, get_embeddings
from services.video_rag.models import Video
from services.video_rag.repository import SessionVideoView, VideoRepository
from services.video_rag.vector_store import write_chunks
from services.video_rag.youtube import Transcript, YouTubeTranscriptSource, parse_video_id

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.embeddings import Embeddings
    from numpy.typing import NDArray


YOUTUBE = "youtube"
LINK_ATTEMPTS = 3
LIMIT_MESSAGE = "This session has reached its video limit (MAX_VIDEOS_PER_SESSION)."
_executor: ThreadPoolExecutor | None = None


class TranscriptSource(Protocol):
    """What the service needs of YouTube (blocking: it runs in a worker thread)."""

    def fetch(self, video_id: str, languages: Sequence[str]) -> Transcript: ...

    def metadata(self, video_id: str) -> tuple[str | None, str | None]: ...


@dataclass(frozen=True)
class ItemResult:
    input: str
    video_id: str | None
    status: Literal["added", "already_added", "failed"]
    video: SessionVideoView | None = None
    error: ItemError | None = None


def _blocking_executor(settings: Settings) -> ThreadPoolExecutor:
    """Threads for the blocking YouTube client: two per video fetched at once (its transcript, and
    its title and channel at the same time), so that no fetch waits for another's thread."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=2 * settings.ingest_concurrency, thread_name_prefix="youtube")
    return _executor


class VideoService:
    def __init__(
        self,
        repository: VideoRepository,
        transcripts: TranscriptSource,
        embeddings: "Embeddings | None",
        transaction: Transaction,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repository = repository
        self._transcripts = transcripts
        self._embeddings = embeddings
        self._transaction = transaction
        self._settings = settings
        self._clock = clock

    @classmethod
    def default(cls) -> "VideoService":
        settings = get_settings()
        return cls(
            VideoRepository(),
            YouTubeTranscriptSource(settings),
            get_embeddings(settings),
            database.transaction,
            settings,
        )

    # --- queries ------------------------------------------------------------------------------

    async def list_videos(self, session_id: uuid.UUID) -> list[SessionVideoView]:
        async with self._transaction() as db:
            return await self._repository.session_videos(db, session_id)

    # --- YouTube videos -----------------------------------------------------------------------

    async def add_videos(
        self, session_id: uuid.UUID, inputs: Sequence[str], languages: Sequence[str]
    ) -> list[ItemResult]:
        """One result per input, in order. Videos are fetched, embedded and stored concurrently
        (bounded), each whole or not at all; then all are linked to the session in one short
        transaction. One video's failure never affects the others."""
        async with self._transaction() as db:
            have = {view.video.video_id for view in await self._repository.session_videos(db, session_id)}
        room = self._settings.max_videos_per_session - len(have)
        video_ids = [parse_video_id(raw) for raw in inputs]
        wanted: list[str] = []  # new video ids, in input order, within the session's room
        errors: dict[int, ItemError] = {}
        for index, video_id in enumerate(video_ids):
            if video_id is None:
                errors[index] = ItemError("invalid_url", "Not a YouTube video URL or id.")
            elif video_id not in have and video_id not in wanted:
                if len(wanted) < room:
                    wanted.append(video_id)
                else:
                    errors[index] = ItemError("limit_exceeded", LIMIT_MESSAGE)
        outcomes = await self._store_all(wanted, languages)
        statuses = await self._link_all(session_id, wanted, outcomes, languages)
        async with self._transaction() as db:
            views = {view.video.video_id: view for view in await self._repository.session_videos(db, session_id)}
        results, seen = [], set()
        for index, (raw, video_id) in enumerate(zip(inputs, video_ids, strict=True)):
            if index in errors or video_id is None:
                results.append(ItemResult(raw, video_id, "failed", error=errors[index]))
            elif isinstance(outcome := statuses.get(video_id, "already_added"), ItemError):
                results.append(ItemResult(raw, video_id, "failed", error=outcome))
            else:
                status = "already_added" if video_id in seen else outcome
                results.append(ItemResult(raw, video_id, status, views.get(video_id)))
            seen.add(video_id)
        return results

    async def _store_all(self, video_ids: Sequence[str], languages: Sequence[str]) -> dict[str, uuid.UUID | ItemError]:
        """The key of each video's stored copy (found, or fetched, embedded and stored now), or its error."""
        async with self._transaction() as db:
            stored = await self._repository.find_stored(
                db, video_ids, languages, self._settings.embedding_model_id, YOUTUBE
            )
        semaphore = asyncio.Semaphore(self._settings.ingest_concurrency)

        async def store(video_id: str) -> uuid.UUID | ItemError:
            if video_id in stored:
                return stored[video_id].id
            async with semaphore:
                try:
                    return await self._store_one(video_id, languages)
                except ItemError as error:
                    return error

        keys = await asyncio.gather(*(store(video_id) for video_id in video_ids))
        return dict(zip(video_ids, keys, strict=True))

    async def _store_one(self, video_id: str, languages: Sequence[str]) -> uuid.UUID:
        """Fetches, embeds and stores a video that has no stored copy."""
        transcript, (title, channel) = await self._fetch(video_id, languages)
        video, chunks, vectors = await self._prepare(
            video_id=video_id,
            language_code=transcript.language_code,
            source=YOUTUBE,
            snippets=transcript.snippets,
            title=title,
            channel=channel,
            source_url=None,
            is_generated=transcript.is_generated,
        )
        async with database.bulk_write_slot(), self._transaction() as db:
            return await self._store(db, video, chunks, vectors)

    async def _link_all(
        self,
        session_id: uuid.UUID,
        video_ids: Sequence[str],
        outcomes: dict[str, uuid.UUID | ItemError],
        languages: Sequence[str],
    ) -> dict[str, Literal["added", "already_added"] | ItemError]:
        """Links the stored videos to the session within its quota, in one transaction. A copy that
        was garbage-collected since it was found (its last session removed it meanwhile) is stored
        again, up to LINK_ATTEMPTS times."""
        statuses: dict[str, Literal["added", "already_added"] | ItemError] = {}
        for attempt in range(LINK_ATTEMPTS):
            ready = {v: k for v, k in outcomes.items() if isinstance(k, uuid.UUID)}
            statuses |= {v: error for v, error in outcomes.items() if isinstance(error, ItemError)}
            async with self._transaction() as db:
                count = await self._repository.lock_session(db, session_id)
                if count is None:  # the session ended meanwhile: what was stored for it alone goes
                    await self._repository.delete_orphans(db, set(ready.values()))
                else:
                    alive = await self._repository.lock_videos(db, set(ready.values()))
                    accepted = [v for v in video_ids if v in ready and ready[v] in alive]
                    over = accepted[max(0, self._settings.max_videos_per_session - count) :]
                    accepted = accepted[: len(accepted) - len(over)]
                    linked = await self._repository.link_many(
                        db, session_id, {v: ready[v] for v in accepted}, self._clock()
                    )
                    await self._repository.delete_orphans(db, {ready[v] for v in over})
            if count is None:
                raise SessionInvalidError("This session ended while its videos were being added.")
            statuses |= {v: ("added" if v in linked else "already_added") for v in accepted}
            statuses |= {v: ItemError("limit_exceeded", LIMIT_MESSAGE) for v in over}
            gone = [v for v in video_ids if v in ready and ready[v] not in alive]
            if not gone:
                break
            if attempt == LINK_ATTEMPTS - 1:
                statuses |= {
                    v: ItemError("upstream_error", "The video changed while it was added. Retry.") for v in gone
                }
            else:
                outcomes = await self._store_all(gone, languages)
        return statuses

    async def _fetch(self, video_id: str, languages: Sequence[str]) -> tuple[Transcript, tuple[str | None, str | None]]:
        """The transcript, and title and channel fetched at the same time (blocking calls, in threads)."""
        loop = asyncio.get_running_loop()
        executor = _blocking_executor(self._settings)
        metadata = loop.run_in_executor(executor, self._transcripts.metadata, video_id)  # never raises
        with span("youtube.fetch_transcript"):
            transcript = await loop.run_in_executor(executor, partial(self._transcripts.fetch, video_id, languages))
        if transcript.snippets and max(s.end for s in transcript.snippets) > self._settings.max_transcript_seconds:
            raise ItemError(
                "limit_exceeded",
                f"This video is longer than {self._settings.max_transcript_seconds // 60} minutes.",
            )
        return transcript, await metadata

    # --- uploads ------------------------------------------------------------------------------

    async def add_upload(
        self,
        session_id: uuid.UUID,
        *,
        title: str,
        format: Literal["vtt", "srt", "text"],
        content: str,
        language_code: str,
        source_url: str | None,
    ) -> SessionVideoView:
        """Stores captions the client already has; they replace the session's copy of that video."""
        snippets = parse_captions(format, content)
        video_id = "upload-" + hashlib.sha256(content.encode()).hexdigest()[:16]
        if source_url:
            youtube_id = parse_video_id(source_url)
            if youtube_id is None:
                raise InvalidRequestError(
                    "source_url is not a YouTube video URL.",
                    details=[{"field": "source_url", "message": "not a YouTube video URL"}],
                )
            video_id = youtube_id
        source = "upload:" + hashlib.sha256(f"{title}\n{content}".encode()).hexdigest()[:32]
        model = self._settings.embedding_model_id
        async with self._transaction() as db:
            stored = (await self._repository.find_stored(db, [video_id], [language_code], model, source)).get(video_id)
            have = {view.video.video_id for view in await self._repository.session_videos(db, session_id)}
        if video_id not in have and len(have) >= self._settings.max_videos_per_session:
            raise LimitExceededError(LIMIT_MESSAGE)
        if stored is None:
            video = await self._prepare(
                video_id=video_id,
                language_code=language_code,
                source=source,
                snippets=snippets,
                title=title,
                channel=None,
                source_url=source_url,
                is_generated=False,
            )
        async with database.bulk_write_slot(), self._transaction() as db:
            key = stored.id if stored is not None else await self._store(db, *video)
            count = await self._repository.lock_session(db, session_id)
            if count is None:
                raise SessionInvalidError("This session ended while the transcript was being added.")
            if video_id not in have and count >= self._settings.max_videos_per_session:
                raise LimitExceededError(LIMIT_MESSAGE)
            replaced = await self._repository.relink(db, session_id, video_id, key, self._clock())
            if replaced is not None:
                await self._repository.delete_orphans(db, {replaced})
            return await self._repository.session_video(db, session_id, video_id)

    # --- shared steps -------------------------------------------------------------------------

    async def _prepare(
        self,
        *,
        video_id: str,
        language_code: str,
        source: str,
        snippets: list[Snippet],
        title: str | None,
        channel: str | None,
        source_url: str | None,
        is_generated: bool,
    ) -> tuple[Video, list[Chunk], "NDArray[np.float32] | None"]:
        """Chunks and embeddings of a transcript, and its video row: all the work before the write."""
        s = self._settings
        chunks = chunk_snippets(
            snippets,
            target_seconds=s.chunk_target_seconds,
            target_chars=s.chunk_target_chars,
            overlap_seconds=s.chunk_overlap_seconds,
        )
        if not chunks:
            raise ItemError("no_transcript", "This transcript holds no text.")
        vectors = None
        if self._embeddings is not None:
            try:
                with span("embeddings.embed_chunks", chunks=len(chunks)):
                    vectors = await embed_documents(self._embeddings, [c.text for c in chunks], s.embedding_dimensions)
            except EmbeddingError as exc:
                raise ItemError("upstream_error", str(exc)) from None
        video = Video(
            id=uuid.uuid4(),
            video_id=video_id,
            language_code=language_code,
            embedding_model=s.embedding_model_id,
            source=source,
            title=title,
            channel=channel,
            source_url=source_url,
            is_generated=is_generated,
            duration_seconds=max(snippet.end for snippet in snippets),
            chunk_count=len(chunks),
            created_at=self._clock(),
        )
        return video, chunks, vectors

    async def _store(
        self, db: AsyncSession, video: Video, chunks: list[Chunk], vectors: "NDArray[np.float32] | None"
    ) -> uuid.UUID:
        """The video row and all its chunks in the caller's transaction; the key of the stored copy
        (another writer's, when it stored the same video first)."""
        key = await self._repository.insert_video(db, video)
        if key == video.id:
            await write_chunks(db, key, video.video_id, video.language_code, chunks, vectors)
        return key

    # --- removal ------------------------------------------------------------------------------

    async def remove_video(self, session_id: uuid.UUID, video_id: str) -> None:
        async with self._transaction() as db:
            key = await self._repository.unlink(db, session_id, video_id)
            if key is None:
                raise NotFoundError("This session has no video with this id.")
            await self._repository.delete_orphans(db, {key})
