"""Video use cases: add YouTube videos, upload captions, list and remove a session's videos."""

import asyncio
import hashlib
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Literal, Protocol

from services.common import database
from services.common.database import Transaction
from services.common.errors import (
    InvalidRequestError,
    ItemError,
    LimitExceededError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
    SessionInvalidError,
)
from services.common.limits import Limits, estimate_tokens
from services.common.settings import Settings
from services.common.telemetry import span
from services.video_rag.captions import parse_captions
from services.video_rag.chunking import Chunk, Snippet, chunk_snippets, embedding_texts
from services.video_rag.embeddings import EmbeddingError, embed_documents
from services.video_rag.models import Video
from services.video_rag.repository import SessionVideoView, VideoRepository
from services.video_rag.youtube import Transcript, parse_video_id, upload_video_id

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.embeddings import Embeddings
    from numpy.typing import NDArray


YOUTUBE = "youtube"
LINK_ATTEMPTS = 3
LIMIT_MESSAGE = "This session has reached its video limit (MAX_VIDEOS_PER_SESSION)."
_executor: ThreadPoolExecutor | None = None

Outcome = uuid.UUID | ItemError  # the key of a video's stored copy, or why there is none
Status = Literal["added", "already_added"] | ItemError


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


@dataclass(frozen=True)
class Upload:
    """Captions a client already has; `youtube_id` when they name the YouTube video they belong to."""

    title: str
    format: Literal["vtt", "srt", "text"]
    content: str
    language_code: str
    source_url: str | None = None
    youtube_id: str | None = None


@dataclass(frozen=True)
class About:
    """What is known of a transcript besides its captions."""

    video_id: str
    language_code: str
    source: str  # YOUTUBE, or "upload:<hash of title and content>"
    title: str | None
    channel: str | None = None
    source_url: str | None = None
    is_generated: bool = False


@dataclass(frozen=True)
class Prepared:
    """A video ready to be written: its row, its passages and their embeddings (None without a provider)."""

    video: Video
    chunks: list[Chunk]
    vectors: "NDArray[np.float32] | None"


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
        limits: Limits | None = None,
    ) -> None:
        """`limits`: videos are counted per client, embeddings against the service's budgets."""
        self._repository = repository
        self._transcripts = transcripts
        self._embeddings = embeddings
        self._transaction = transaction
        self._settings = settings
        self._clock = clock
        self._limits = limits

    # --- queries ------------------------------------------------------------------------------

    async def list_videos(self, session_id: uuid.UUID) -> list[SessionVideoView]:
        async with self._transaction() as db:
            return await self._repository.session_videos(db, session_id)

    # --- YouTube videos -----------------------------------------------------------------------

    async def add_videos(
        self, session_id: uuid.UUID, inputs: Sequence[str], languages: Sequence[str], client: str | None = None
    ) -> list[ItemResult]:
        """One result per input, in order. Videos are fetched, embedded and stored concurrently
        (bounded), each whole or not at all; then all are linked to the session in one short
        transaction. One video's failure never affects the others. `client`: whose rate limits count
        the new videos (None: no client's)."""
        if len(inputs) > self._settings.max_urls_per_request:
            limit = self._settings.max_urls_per_request
            raise InvalidRequestError(
                f"At most {limit} URLs per request.", details=[{"field": "urls", "message": f"at most {limit} items"}]
            )
        async with self._transaction() as db:
            have = {view.video.video_id for view in await self._repository.session_videos(db, session_id)}
        video_ids = [parse_video_id(raw) for raw in inputs]
        wanted, statuses = _within_room(video_ids, have, self._settings.max_videos_per_session - len(have))
        await self._reserve_videos(client, wanted, languages)
        pending = wanted
        for _ in range(LINK_ATTEMPTS):  # a copy garbage-collected since it was found is stored again
            linked, pending = await self._link(session_id, wanted, await self._store_all(pending, languages))
            statuses |= linked
            if not pending:
                break
        statuses |= {v: ItemError("upstream_error", "The video changed while it was added. Retry.") for v in pending}
        async with self._transaction() as db:
            views = {view.video.video_id: view for view in await self._repository.session_videos(db, session_id)}
        return _results(inputs, video_ids, statuses, views)

    async def _store_all(self, video_ids: Sequence[str], languages: Sequence[str]) -> dict[str, Outcome]:
        """The key of each video's stored copy (found, or fetched, embedded and stored now), or its error."""
        async with self._transaction() as db:
            stored = await self._repository.find_stored(
                db, video_ids, languages, self._settings.embedding_model_id, YOUTUBE
            )
        semaphore = asyncio.Semaphore(self._settings.ingest_concurrency)

        async def store(video_id: str) -> Outcome:
            if video_id in stored:
                return stored[video_id].id
            async with semaphore:
                try:
                    return await self._store_one(video_id, languages)
                except ItemError as error:
                    return error
                except RateLimitedError as error:  # the service's embedding budget ran out meanwhile
                    return ItemError(RateLimitedError.code, error.message)

        keys = await asyncio.gather(*(store(video_id) for video_id in video_ids))
        return dict(zip(video_ids, keys, strict=True))

    async def _store_one(self, video_id: str, languages: Sequence[str]) -> uuid.UUID:
        """Fetches, embeds and stores a video that has no stored copy."""
        transcript, (title, channel) = await self._fetch(video_id, languages)
        about = About(video_id, transcript.language_code, YOUTUBE, title, channel, is_generated=transcript.is_generated)
        prepared = await self._prepare(about, transcript.snippets)
        async with database.bulk_write_slot(), self._transaction() as db:
            return await self._repository.store(
                db, prepared.video, prepared.chunks, prepared.vectors, self._settings.chunk_embed_following
            )

    async def _link(
        self, session_id: uuid.UUID, video_ids: Sequence[str], outcomes: dict[str, Outcome]
    ) -> tuple[dict[str, Status], list[str]]:
        """Links the stored videos to the session within its quota, in one transaction; returns each
        video's status, and the videos whose copy was garbage-collected since it was found."""
        ready = {v: key for v, key in outcomes.items() if isinstance(key, uuid.UUID)}
        statuses: dict[str, Status] = {v: error for v, error in outcomes.items() if isinstance(error, ItemError)}
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
        return statuses, [v for v in video_ids if v in ready and ready[v] not in alive]

    async def _reserve_videos(self, client: str | None, video_ids: Sequence[str], languages: Sequence[str]) -> None:
        """Counts the new videos against the client's limit before any work; refused, counting nothing,
        when some must be embedded and the service's embedding budget is already spent. Each video's
        tokens are reserved when its transcript is known (`_prepare`)."""
        if self._limits is None or not video_ids:
            return
        embeds = None
        if self._embeddings is not None:
            model = self._settings.embedding_model_id
            async with self._transaction() as db:
                stored = await self._repository.find_stored(db, video_ids, languages, model, YOUTUBE)
            embeds = 0 if set(video_ids) - set(stored) else None
        await self._limits.reserve(client, videos=len(video_ids), embedding_tokens=embeds)

    async def _fetch(self, video_id: str, languages: Sequence[str]) -> tuple[Transcript, tuple[str | None, str | None]]:
        """The transcript, and title and channel fetched at the same time (blocking calls, in threads)."""
        loop = asyncio.get_running_loop()
        executor = _blocking_executor(self._settings)
        metadata = loop.run_in_executor(executor, self._transcripts.metadata, video_id)  # never raises
        with span("youtube.fetch_transcript"):
            transcript = await loop.run_in_executor(executor, partial(self._transcripts.fetch, video_id, languages))
        return transcript, await metadata

    # --- uploads ------------------------------------------------------------------------------

    async def add_upload(self, session_id: uuid.UUID, upload: Upload, client: str | None = None) -> SessionVideoView:
        """Stores captions the client already has; they replace the session's copy of that video.
        `client`: whose rate limits count it (None: no client's)."""
        # Parsing and chunking run in a worker thread: a large file never stalls the worker's other requests.
        snippets = await asyncio.to_thread(parse_captions, upload.format, upload.content)
        video_id = upload.youtube_id or upload_video_id(upload.content)
        source = "upload:" + hashlib.sha256(f"{upload.title}\n{upload.content}".encode()).hexdigest()[:32]
        model = self._settings.embedding_model_id
        async with self._transaction() as db:
            stored = (await self._repository.find_stored(db, [video_id], [upload.language_code], model, source)).get(
                video_id
            )
            have = {view.video.video_id for view in await self._repository.session_videos(db, session_id)}
        self._check_room(video_id, have, len(have))
        about = About(video_id, upload.language_code, source, upload.title, source_url=upload.source_url)
        if stored is None:
            prepared = await self._prepare_upload(about, snippets, client)
        else:
            prepared = None
            if self._limits is not None:
                await self._limits.reserve(client, videos=1)
        async with database.bulk_write_slot(), self._transaction() as db:
            if prepared is not None:
                key = await self._repository.store(
                    db, prepared.video, prepared.chunks, prepared.vectors, self._settings.chunk_embed_following
                )
            else:
                assert stored is not None
                key = stored.id
            count = await self._repository.lock_session(db, session_id)
            if count is None:
                raise SessionInvalidError("This session ended while the transcript was being added.")
            self._check_room(video_id, have, count)
            replaced = await self._repository.relink(db, session_id, video_id, key, self._clock())
            if replaced is not None:
                await self._repository.delete_orphans(db, {replaced})
            return await self._repository.session_video(db, session_id, video_id)

    def _check_room(self, video_id: str, have: set[str], count: int) -> None:
        """A new video needs room under MAX_VIDEOS_PER_SESSION; replacing one of the session's does not."""
        if video_id not in have and count >= self._settings.max_videos_per_session:
            raise LimitExceededError(LIMIT_MESSAGE)

    async def _prepare_upload(self, about: About, snippets: list[Snippet], client: str | None) -> Prepared:
        """`_prepare`, with its failures as the request's: nothing readable is 400, embeddings down 503,
        over a limit 429."""
        try:
            return await self._prepare(about, snippets, client, videos=1)
        except ItemError as error:
            if error.code == "upstream_error":
                raise ServiceUnavailableError(error.message) from None
            raise InvalidRequestError(error.message) from None

    # --- shared steps -------------------------------------------------------------------------

    async def _prepare(
        self, about: About, snippets: list[Snippet], client: str | None = None, videos: int | None = None
    ) -> Prepared:
        """Passages and embeddings of a transcript, and its video row: all the work before the write.
        Within the limits of a video: MAX_TRANSCRIPT_SECONDS long, MAX_CHUNKS_PER_VIDEO windows. The
        embedding tokens are reserved before the embedding (with `videos` for the client's limit, in the
        same count), or RateLimitedError."""
        s = self._settings
        if snippets and max(snippet.end for snippet in snippets) > s.max_transcript_seconds:
            raise ItemError("limit_exceeded", f"This video is longer than {s.max_transcript_seconds // 60} minutes.")
        chunks = await asyncio.to_thread(
            partial(
                chunk_snippets,
                snippets,
                target_seconds=s.chunk_target_seconds,
                target_chars=s.chunk_target_chars,
                overlap_seconds=s.chunk_overlap_seconds,
            )
        )
        if not chunks:
            raise ItemError("no_transcript", "This transcript holds no text.")
        if len(chunks) > s.max_chunks_per_video:
            raise ItemError("limit_exceeded", f"This transcript makes more than {s.max_chunks_per_video} passages.")
        texts = embedding_texts(chunks, s.chunk_embed_following)  # what is sent to be embedded
        if self._limits is not None:
            tokens = estimate_tokens(texts) if self._embeddings is not None else None
            await self._limits.reserve(client, videos=videos, embedding_tokens=tokens)
        vectors = await self._embed(texts)
        video = Video(
            id=uuid.uuid4(),
            **asdict(about),
            embedding_model=s.embedding_model_id,
            duration_seconds=max(snippet.end for snippet in snippets),
            chunk_count=len(chunks),
            created_at=self._clock(),
        )
        return Prepared(video, chunks, vectors)

    async def _embed(self, texts: list[str]) -> "NDArray[np.float32] | None":
        """The windows' vectors, one per text (None without an embedding provider)."""
        if self._embeddings is None:
            return None
        try:
            with span("embeddings.embed_chunks", chunks=len(texts)):
                return await embed_documents(self._embeddings, texts, self._settings.embedding_dimensions)
        except EmbeddingError as exc:
            raise ItemError("upstream_error", str(exc)) from None

    # --- removal ------------------------------------------------------------------------------

    async def remove_video(self, session_id: uuid.UUID, video_id: str) -> None:
        if not 0 < len(video_id) <= 100 or not video_id.isprintable():
            raise NotFoundError("This session has no video with this id.")
        async with self._transaction() as db:
            key = await self._repository.unlink(db, session_id, video_id)
            if key is None:
                raise NotFoundError("This session has no video with this id.")
            await self._repository.delete_orphans(db, {key})


def _within_room(video_ids: Sequence[str | None], have: set[str], room: int) -> tuple[list[str], dict[str, Status]]:
    """The new video ids to add, in input order, within the session's room; and the refused ones."""
    wanted: list[str] = []
    refused: dict[str, Status] = {}
    for video_id in video_ids:
        if video_id is None or video_id in have or video_id in wanted or video_id in refused:
            continue
        if len(wanted) < room:
            wanted.append(video_id)
        else:
            refused[video_id] = ItemError("limit_exceeded", LIMIT_MESSAGE)
    return wanted, refused


def _results(
    inputs: Sequence[str],
    video_ids: Sequence[str | None],
    statuses: dict[str, Status],
    views: dict[str, SessionVideoView],
) -> list[ItemResult]:
    """One result per input, in order; a video named twice is `already_added` the second time."""
    results, seen = [], set()
    for raw, video_id in zip(inputs, video_ids, strict=True):
        if video_id is None:
            results.append(
                ItemResult(raw, None, "failed", error=ItemError("invalid_url", "Not a YouTube video URL or id."))
            )
            continue
        status = statuses.get(video_id, "already_added")
        if isinstance(status, ItemError):
            results.append(ItemResult(raw, video_id, "failed", error=status))
        else:
            results.append(
                ItemResult(raw, video_id, "already_added" if video_id in seen else status, views.get(video_id))
            )
        seen.add(video_id)
    return results
