"""Video use cases: add YouTube videos, upload captions, list and remove a session's videos."""

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Literal, Protocol

import sqlalchemy.exc
from pydantic import BaseModel

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
from services.common.per_loop import of_this_loop
from services.common.settings import Settings
from services.common.telemetry import span
from services.video_rag.captions import parse_captions
from services.video_rag.chunking import Chunk, Snippet, chunk_snippets, embedding_texts, window_sentences
from services.video_rag.embeddings import EmbeddingError, embed_documents
from services.video_rag.models import Video
from services.video_rag.repository import SessionVideoView, VideoRepository
from services.video_rag.youtube import Transcript, parse_video_id, upload_video_id

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.embeddings import Embeddings
    from numpy.typing import NDArray
    from sqlalchemy.ext.asyncio import AsyncSession


YOUTUBE = "youtube"
LINK_ATTEMPTS = 3
LIMIT_MESSAGE = "This session has reached its video limit (MAX_VIDEOS_PER_SESSION)."
_executor: ThreadPoolExecutor | None = None

Outcome = uuid.UUID | ItemError  # the key of a video's stored copy, or why there is none
Status = Literal["added", "already_added", "pending"] | ItemError
Progress = Callable[[str, float], Awaitable[None]]  # (stage, fraction of the whole job)

# A delivery of a job's message works on it alone while it makes progress within this time; after it,
# a redelivery (its worker died) takes it over.
JOB_LEASE = timedelta(minutes=5)
QUEUE_DOWN_MESSAGE = "The ingestion queue could not be reached. Add the video again to retry."
GONE_MESSAGE = "The video was removed from this session while it was added."
FAILED_MESSAGE = "Adding this video failed repeatedly. Add it again to retry."
logger = logging.getLogger(__name__)


class IngestMessage(BaseModel):
    """The body of a message of the ingestion queue: the job to work on."""

    job_id: uuid.UUID


class IngestQueue(Protocol):
    """Where the jobs' messages go (`services.common.queues.StorageQueue`)."""

    async def send(self, messages: Sequence[str]) -> None: ...


class _NoQueue:
    async def send(self, messages: Sequence[str]) -> None:
        raise ServiceUnavailableError("No ingestion queue is configured (AzureWebJobsStorage).")


class _Cancelled(Exception):
    """The job is gone: no session waits for its video any more."""


class TranscriptSource(Protocol):
    """What the service needs of YouTube (blocking: it runs in a worker thread)."""

    def fetch(self, video_id: str, languages: Sequence[str]) -> Transcript: ...

    def metadata(self, video_id: str) -> tuple[str | None, str | None]: ...


@dataclass(frozen=True)
class ItemResult:
    input: str
    video_id: str | None
    status: Literal["added", "already_added", "pending", "failed"]
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
    """A video ready to be written: its row, its passages and their embeddings (None without a
    provider), and the vectors of the passages' sentences ((passage index, vector))."""

    video: Video
    chunks: list[Chunk]
    vectors: "NDArray[np.float32] | None"
    sentences: "list[tuple[int, NDArray[np.float32]]]"


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
        queue: "IngestQueue | None" = None,
    ) -> None:
        """`limits`: videos are counted per client, embeddings against the service's budgets; `queue`:
        where the ingestion's messages go (the queue of the `IngestVideo` function)."""
        self._queue = queue or _NoQueue()
        self._repository = repository
        self._transcripts = transcripts
        self._embeddings = embeddings
        self._transaction = transaction
        self._settings = settings
        self._clock = clock
        self._limits = limits

    # --- queries ------------------------------------------------------------------------------

    async def list_videos(self, session_id: uuid.UUID) -> list[SessionVideoView]:
        """Every video of the session, ready, pending or failed (a pending one that stalled beyond the
        job timeout is failed now), oldest first."""
        async with self._transaction() as db:
            await self._repository.expire_jobs(db, self._clock(), session_id)
            return await self._repository.session_entries(db, session_id)

    # --- YouTube videos -----------------------------------------------------------------------

    async def add_videos(
        self, session_id: uuid.UUID, inputs: Sequence[str], languages: Sequence[str], client: str | None = None
    ) -> list[ItemResult]:
        """One result per input, in order. A video already stored is linked at once; the others get a
        job, shared with every session waiting for the same video, worked on by the queue-triggered
        function (`ingest`), and this waits for them INGEST_WAIT_SECONDS at most: those not done by
        then are `pending`. A failed video of the session is tried again. One video's failure never
        affects the others. `client`: whose rate limits count the new videos (None: no client's)."""
        deadline = asyncio.get_running_loop().time() + self._settings.ingest_wait_seconds
        if len(inputs) > self._settings.max_urls_per_request:
            limit = self._settings.max_urls_per_request
            raise InvalidRequestError(
                f"At most {limit} URLs per request.", details=[{"field": "urls", "message": f"at most {limit} items"}]
            )
        now = self._clock()
        async with self._transaction() as db:
            await self._repository.expire_jobs(db, now, session_id)
            have = {view.video_id: view for view in await self._repository.session_entries(db, session_id)}
        video_ids = [parse_video_id(raw) for raw in inputs]
        retry = [v for v in dict.fromkeys(video_ids) if v in have and have[v].failed]
        held = {v for v in have if v not in retry}
        wanted, statuses = _within_room(video_ids, held | set(retry), self._settings.max_videos_per_session - len(have))
        await self._reserve_videos(client, [*wanted, *retry], languages)
        linked, to_send = await self._link(session_id, wanted, retry, languages)
        statuses |= linked
        await self._enqueue(to_send)
        waiting = [v for v in dict.fromkeys(video_ids) if v is not None and statuses.get(v) != "added"]
        views = await self._wait(session_id, waiting, deadline)
        return _results(inputs, video_ids, statuses, views)

    async def _link(
        self, session_id: uuid.UUID, wanted: Sequence[str], retry: Sequence[str], languages: Sequence[str]
    ) -> tuple[dict[str, Status], dict[uuid.UUID, str]]:
        """In one transaction, within the session's quota: the stored videos linked, the others linked
        to their job (`pending`). Returns each video's status, and the jobs that need a queue message."""
        model, now = self._settings.embedding_model_id, self._clock()
        statuses: dict[str, Status] = {}
        to_send: dict[uuid.UUID, str] = {}
        async with self._transaction() as db:
            count = await self._repository.lock_session(db, session_id)
            if count is None:
                raise SessionInvalidError("This session ended while its videos were being added.")
            room = max(0, self._settings.max_videos_per_session - count)
            accepted, over = list(wanted[:room]), wanted[room:]
            statuses |= {v: ItemError("limit_exceeded", LIMIT_MESSAGE) for v in over}
            stored = await self._repository.find_stored(db, [*accepted, *retry], languages, model, YOUTUBE)
            alive = await self._repository.lock_videos(db, {video.id for video in stored.values()})
            ready = {v: stored[v].id for v in accepted if v in stored and stored[v].id in alive}
            position = {v: i for i, v in enumerate([*accepted, *retry])}  # lists keep the input order
            linked = await self._repository.link_many(db, session_id, ready, now, position)
            statuses |= {v: "added" for v in linked}
            replaced: set[uuid.UUID] = set()
            for video_id in sorted({*accepted, *retry} - set(ready)):  # jobs are locked in a fixed order
                job_id, send = await self._repository.want_job(db, video_id, ",".join(languages), model, now)
                old = await self._repository.link_job(
                    db, session_id, video_id, job_id, now + timedelta(microseconds=position[video_id])
                )
                replaced |= {old} if old else set()
                statuses[video_id] = "pending"
                if send:
                    to_send[job_id] = video_id
            await self._repository.lock_jobs(db, replaced)
            await self._repository.delete_orphan_jobs(db, replaced)
        return statuses, to_send

    async def _enqueue(self, jobs: dict[uuid.UUID, str]) -> None:
        """One queue message per job; when the queue cannot be reached, the jobs fail (retry: add again)."""
        if not jobs:
            return
        try:
            await self._queue.send([IngestMessage(job_id=job).model_dump_json() for job in jobs])
        except Exception as exc:  # noqa: BLE001 - any failure of the queue's client fails these videos alone
            logger.warning("ingestion queue unavailable: %s", type(exc).__name__)
            async with self._transaction() as db:
                for job in jobs:
                    await self._repository.fail_job(db, job, "upstream_error", QUEUE_DOWN_MESSAGE, self._clock())

    async def _wait(
        self, session_id: uuid.UUID, video_ids: Sequence[str], deadline: float
    ) -> dict[str, SessionVideoView]:
        """The session's videos once none of `video_ids` is pending any more, or at `deadline`."""
        loop, pause = asyncio.get_running_loop(), 0.1
        views: dict[str, SessionVideoView] | None = None
        while True:
            try:
                async with self._transaction() as db:
                    views = {view.video_id: view for view in await self._repository.session_entries(db, session_id)}
            except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.TimeoutError):
                if views is None:  # nothing to answer with: the request fails (503)
                    raise
                # The videos are being added whatever this look fails of (a busy pool): the last one stands.
            left = deadline - loop.time()
            if left <= 0 or not any(v in views and views[v].pending for v in video_ids):
                return views
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 1.5, 0.5)  # a finished video is answered within half a second

    # --- the queue-triggered ingestion ----------------------------------------------------------

    async def ingest(self, job_id: uuid.UUID, last_attempt: bool = False, message_id: str | None = None) -> None:
        """Fetches, embeds and stores the video of a job (one delivery of its queue message), then the
        sessions waiting for it have it. Idempotent: a job that is gone, failed or being worked on by
        another delivery is left alone, and a video is stored once whatever the deliveries. A video
        that cannot be added (no transcript, too long, ...) fails with its code; an unexpected error is
        raised for the queue to deliver the message again, and fails the job on the `last_attempt`
        (the message then goes to the poison queue). `message_id`: the queue message delivered, whose
        redelivery takes over a job its earlier delivery left. At most INGEST_CONCURRENCY run at once in
        a process, however many messages the host hands over (host.json's batches): the others wait."""
        slots = of_this_loop(
            "ingest_slots", lambda: asyncio.Semaphore(self._settings.ingest_concurrency), made_from=self._settings
        )
        async with slots:
            await self._ingest_job(job_id, last_attempt, message_id)

    async def _ingest_job(self, job_id: uuid.UUID, last_attempt: bool, message_id: str | None) -> None:
        async with self._transaction() as db:
            job = await self._repository.claim_job(db, job_id, self._clock(), JOB_LEASE, message_id)
        if job is None:
            return
        languages = job.languages.split(",")
        try:
            await self._ingest(job.id, job.video_id, languages)
        except _Cancelled:
            return
        except ItemError as error:
            await self._fail(job.id, error.code, error.message)
        except RateLimitedError as error:  # the service's embedding budget ran out
            await self._fail(job.id, RateLimitedError.code, error.message)
        except Exception:
            if last_attempt:
                await self._fail(job.id, "ingest_failed", FAILED_MESSAGE)
            else:
                async with self._transaction() as db:
                    await self._repository.release_job(db, job.id, self._clock())
            raise

    async def _ingest(self, job_id: uuid.UUID, video_id: str, languages: Sequence[str]) -> None:
        model = self._settings.embedding_model_id
        for _ in range(LINK_ATTEMPTS):  # a copy garbage-collected since it was found is stored again
            async with self._transaction() as db:
                stored = await self._repository.find_stored(db, [video_id], languages, model, YOUTUBE)
            if video_id in stored:
                key = stored[video_id].id
            else:
                key = await self._store_one(video_id, languages, partial(self._progress, job_id))
            async with self._transaction() as db:
                done = await self._repository.finish_job(db, job_id, key)
            if done is not None:
                return
        raise ItemError("upstream_error", "The video changed while it was added. Retry.")

    async def _progress(self, job_id: uuid.UUID, stage: str, progress: float) -> None:
        """Records how far a job is; stops the work when no session waits for it any more."""
        async with self._transaction() as db:
            wanted = await self._repository.job_progress(db, job_id, stage, progress, self._clock())
        if not wanted:
            raise _Cancelled()

    async def _fail(self, job_id: uuid.UUID, code: str, message: str) -> None:
        async with self._transaction() as db:
            await self._repository.fail_job(db, job_id, code, message, self._clock())

    async def _store_one(
        self, video_id: str, languages: Sequence[str], progress: "Progress | None" = None
    ) -> uuid.UUID:
        """Fetches, embeds and stores a video that has no stored copy; returns the stored copy's key."""
        transcript, (title, channel) = await self._fetch(video_id, languages)
        if progress is not None:
            await progress("embedding", 0.3)
        about = About(video_id, transcript.language_code, YOUTUBE, title, channel, is_generated=transcript.is_generated)
        prepared = await self._prepare(about, transcript.snippets)
        if progress is not None:
            await progress("storing", 0.9)
        async with database.bulk_write_slot(), self._transaction() as db:
            return await self._write(db, prepared)

    async def _write(self, db: "AsyncSession", prepared: Prepared) -> uuid.UUID:
        """Stores a prepared video in `db`'s transaction; the key of the stored copy (repository.store)."""
        following = self._settings.chunk_embed_following
        return await self._repository.store(
            db, prepared.video, prepared.chunks, prepared.vectors, following, prepared.sentences
        )

    async def store_now(self, video_ids: Sequence[str], languages: Sequence[str]) -> dict[str, Outcome]:
        """Fetches, embeds and stores videos concurrently (INGEST_CONCURRENCY at once) in this call:
        what POST /api/videos did inside the request before the queue (`python -m bench ingest`
        compares the two)."""
        semaphore = asyncio.Semaphore(self._settings.ingest_concurrency)

        async def store(video_id: str) -> Outcome:
            async with semaphore:
                try:
                    return await self._store_one(video_id, languages)
                except ItemError as error:
                    return error

        keys = await asyncio.gather(*(store(video_id) for video_id in video_ids))
        return dict(zip(video_ids, keys, strict=True))

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
            have = {view.video_id for view in await self._repository.session_entries(db, session_id)}
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
                key = await self._write(db, prepared)
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
            minutes = s.max_transcript_seconds // 60
            raise ItemError(
                "limit_exceeded",
                f"This video is longer than {minutes} minutes."
                if about.source == YOUTUBE
                else f"This transcript runs longer than {minutes} minutes (by its last caption's time; plain text"
                " is timed at about 2.5 words a second).",
            )
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
        sentences = window_sentences(chunks) if self._embeddings is not None else []
        texts = embedding_texts(chunks, s.chunk_embed_following) + [sentence for _, sentence in sentences]
        if self._limits is not None:
            tokens = estimate_tokens(texts) if self._embeddings is not None else None
            await self._limits.reserve(client, videos=videos, embedding_tokens=tokens)
        embedded = await self._embed(texts)  # the windows' spans, then the sentences
        vectors = None if embedded is None else embedded[: len(chunks)]
        sentence_vectors = (
            [(index, vector) for (index, _), vector in zip(sentences, embedded[len(chunks) :], strict=True)]
            if embedded is not None
            else []
        )
        video = Video(
            id=uuid.uuid4(),
            **asdict(about),
            embedding_model=s.embedding_model_id,
            duration_seconds=max(snippet.end for snippet in snippets),
            chunk_count=len(chunks),
            created_at=self._clock(),
        )
        return Prepared(video, chunks, vectors, sentence_vectors)

    async def _embed(self, texts: list[str]) -> "NDArray[np.float32] | None":
        """A vector per text (None without an embedding provider)."""
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
            if not await self._repository.has_video(db, session_id, video_id):
                raise NotFoundError("This session has no video with this id.")
            key = await self._repository.unlink(db, session_id, video_id)  # a pending one's job is cancelled
            await self._repository.delete_orphans(db, {key} if key else set())


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
    """One result per input, in order; a video named twice is `already_added` the second time (unless
    pending or failed). A video the request started is `added` once stored, `pending` while it is
    worked on, `failed` with the job's error."""
    results, seen = [], set()
    for raw, video_id in zip(inputs, video_ids, strict=True):
        if video_id is None:
            results.append(
                ItemResult(raw, None, "failed", error=ItemError("invalid_url", "Not a YouTube video URL or id."))
            )
            continue
        status = statuses.get(video_id, "already_added")
        view = views.get(video_id)
        if isinstance(status, ItemError):
            results.append(ItemResult(raw, video_id, "failed", error=status))
        elif view is None:  # removed by another request meanwhile
            results.append(ItemResult(raw, video_id, "failed", error=ItemError("upstream_error", GONE_MESSAGE)))
        elif view.job is not None and view.job.status == "failed":
            error = ItemError(view.job.error_code or "upstream_error", view.job.error_message or "")
            results.append(ItemResult(raw, video_id, "failed", view, error))
        elif view.job is not None:
            results.append(ItemResult(raw, video_id, "pending", view))
        else:
            added = status in ("added", "pending") and video_id not in seen
            results.append(ItemResult(raw, video_id, "added" if added else "already_added", view))
        seen.add(video_id)
    return results
