"""In-memory stand-ins for the services' collaborators: repositories that keep their rows in dicts,
a transcript source, a unit of work, a clock and embeddings that fail. No database, no network."""

import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from langchain_core.embeddings import Embeddings
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.settings import Settings
from services.sessions.models import Session
from services.sessions.repository import SessionRepository
from services.video_rag.chunking import Chunk, Snippet
from services.video_rag.models import IngestJob, Video
from services.video_rag.repository import SessionVideoView, VideoRepository
from services.video_rag.youtube import Transcript

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


def make_settings(**values: Any) -> Settings:
    """Settings with every value the services read given here (overridden by `values`), so that
    the environment of the test run does not decide them. No embedding provider by default."""
    defaults: dict[str, Any] = {
        "max_urls_per_request": 5,
        "max_videos_per_session": 3,
        "max_transcript_seconds": 3600,
        "ingest_concurrency": 4,
        "chunk_target_seconds": 60,
        "chunk_target_chars": 1000,
        "chunk_overlap_seconds": 5,
        "embedding_provider": "none",
        "embedding_dimensions": 8,
        "session_expire_minutes": 15,
        "session_sliding_expiration": True,
        "session_cleanup_batch_size": 2,
    }
    return Settings(**(defaults | values))


class FakeClock:
    """A clock that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


_NO_DATABASE = cast(AsyncSession, object())  # what the fake repositories are handed and ignore


class FakeTransaction:
    """The services' `Transaction`: units of work over the fake repositories, which keep their
    state themselves (nothing is rolled back). Counts the units opened."""

    def __init__(self) -> None:
        self.opened = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        self.opened += 1
        yield _NO_DATABASE


class FailingEmbeddings(Embeddings):
    """An embedding service that is down."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise ConnectionError("embedding service down")

    def embed_query(self, text: str) -> list[float]:
        raise ConnectionError("embedding service down")

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        raise ConnectionError("embedding service down")

    async def aembed_query(self, text: str) -> list[float]:
        raise ConnectionError("embedding service down")


# --- videos --------------------------------------------------------------------------------------


def transcript_of(video_id: str, language_code: str = "en", seconds: float = 60.0) -> Transcript:
    """Two captions spanning `seconds`."""
    half = seconds / 2
    snippets = [Snippet(f"words about {video_id}", 0.0, half), Snippet("and some more words", half, half)]
    return Transcript(video_id, language_code, is_generated=False, snippets=snippets)


class InlineQueue:
    """The ingestion queue, delivering each message at once to `service.ingest` (as the queue trigger
    would, with no delay): the request then finds its videos done within its wait."""

    def __init__(self) -> None:
        self.service: Any = None
        self.sent: list[str] = []

    async def send(self, messages: Sequence[str]) -> None:
        from services.video_rag.service import IngestMessage

        self.sent.extend(messages)
        for message in messages:
            await self.service.ingest(IngestMessage.model_validate_json(message).job_id)


class FakeTranscriptSource:
    """YouTube: every video has a transcript (`transcript_of`) unless `transcripts` or `errors`
    say otherwise. Records the videos fetched (from the service's worker threads)."""

    def __init__(self) -> None:
        self.transcripts: dict[str, Transcript] = {}
        self.errors: dict[str, Exception] = {}
        self.fetched: list[str] = []

    def fetch(self, video_id: str, languages: Sequence[str]) -> Transcript:
        self.fetched.append(video_id)
        if video_id in self.errors:
            raise self.errors[video_id]
        return self.transcripts.get(video_id) or transcript_of(video_id, languages[0])

    def metadata(self, video_id: str) -> tuple[str | None, str | None]:
        return f"Title of {video_id}", "A channel"


class FakeVideoRepository(VideoRepository):
    """VideoRepository in dicts, with the database's constraints as assertions. `before_link` holds
    what other requests do meanwhile: each call of `lock_session` or `finish_job` (the start of a
    link) first runs the next one."""

    def __init__(self) -> None:
        self.sessions: set[uuid.UUID] = set()
        self.videos: dict[uuid.UUID, Video] = {}
        self.chunks: dict[uuid.UUID, list[Chunk]] = {}
        self.vectors: dict[uuid.UUID, NDArray[np.float32] | None] = {}
        self.links: dict[uuid.UUID, dict[str, tuple[uuid.UUID, datetime]]] = {}  # session -> video id -> key, added
        self.jobs: dict[uuid.UUID, IngestJob] = {}
        self.job_links: dict[uuid.UUID, dict[str, tuple[uuid.UUID, datetime]]] = {}  # session -> video id -> job
        self.before_link: list[Callable[[], None]] = []

    # --- helpers of the tests ---------------------------------------------------------------

    def new_session(self) -> uuid.UUID:
        session_id = uuid.uuid4()
        self.sessions.add(session_id)
        self.links[session_id] = {}
        self.job_links[session_id] = {}
        return session_id

    def end_session(self, session_id: uuid.UUID) -> None:
        """The session deleted by its owner or by the cleanup timer (its links go by cascade)."""
        self.sessions.discard(session_id)
        self.links.pop(session_id, None)
        self._delete_unwanted_jobs({job for job, _ in self.job_links.pop(session_id, {}).values()})

    def put(self, video_id: str, *, embedding_model: str = "none", source: str = "youtube") -> uuid.UUID:
        """A stored copy of a video, linked to no session."""
        key = uuid.uuid4()
        self.videos[key] = Video(
            id=key, video_id=video_id, language_code="en", embedding_model=embedding_model, source=source,
            title=None, channel=None, source_url=None, is_generated=False, duration_seconds=10.0, chunk_count=1,
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        self.chunks[key] = [Chunk(f"words about {video_id}", 0.0, 10.0)]
        self.vectors[key] = None
        return key

    def attach(self, session_id: uuid.UUID, key: uuid.UUID, added_at: datetime) -> None:
        self.links[session_id][self.videos[key].video_id] = (key, added_at)

    def key_of(self, session_id: uuid.UUID, video_id: str) -> uuid.UUID:
        return self.links[session_id][video_id][0]

    def collect_unlinked(self) -> None:
        """The cleanup timer: every copy no session links goes."""
        self._delete_unlinked(set(self.videos))

    def _linked(self) -> set[uuid.UUID]:
        return {key for links in self.links.values() for key, _ in links.values()}

    def _delete_unlinked(self, keys: set[uuid.UUID]) -> None:
        for key in keys - self._linked():
            self.videos.pop(key, None)
            self.chunks.pop(key, None)
            self.vectors.pop(key, None)

    def _delete_unwanted_jobs(self, jobs: set[uuid.UUID]) -> None:
        wanted = {job for links in self.job_links.values() for job, _ in links.values()}
        for job in jobs - wanted:
            self.jobs.pop(job, None)

    def _link(self, session_id: uuid.UUID, video_id: str, key: uuid.UUID, added_at: datetime) -> bool:
        assert session_id in self.sessions, "foreign key: no such session"
        assert key in self.videos, "foreign key: no such video"
        if video_id in self.links[session_id] or video_id in self.job_links[session_id]:
            return False
        self.links[session_id][video_id] = (key, added_at)
        return True

    # --- VideoRepository ----------------------------------------------------------------------

    async def session_videos(self, db: AsyncSession, session_id: uuid.UUID) -> list[SessionVideoView]:
        links = self.links.get(session_id, {})
        ordered = sorted(links.items(), key=lambda item: (item[1][1], item[0]))
        return [SessionVideoView(self.videos[key], added_at) for _, (key, added_at) in ordered]

    async def session_entries(self, db: AsyncSession, session_id: uuid.UUID) -> list[SessionVideoView]:
        views = [(added_at, video_id, SessionVideoView(self.videos[key], added_at))
                 for video_id, (key, added_at) in self.links.get(session_id, {}).items()]  # fmt: skip
        views += [(added_at, video_id, SessionVideoView(None, added_at, self.jobs[job]))
                  for video_id, (job, added_at) in self.job_links.get(session_id, {}).items()]  # fmt: skip
        return [view for _, _, view in sorted(views, key=lambda item: (item[0], item[1]))]

    async def expire_jobs(self, db: AsyncSession, now: datetime, session_id: uuid.UUID | None = None) -> None:
        pass  # the unit tests' jobs never stall

    async def want_job(
        self, db: AsyncSession, video_id: str, languages: str, embedding_model: str, now: datetime
    ) -> tuple[uuid.UUID, bool]:
        for job in self.jobs.values():
            if (job.video_id, job.languages, job.embedding_model) == (video_id, languages, embedding_model):
                if job.status != "failed":
                    return job.id, False
                job.status, job.stage, job.error_code, job.error_message = "pending", "queued", None, None
                return job.id, True
        job = IngestJob(id=uuid.uuid4(), video_id=video_id, languages=languages, embedding_model=embedding_model,
                        status="pending", stage="queued", progress=0.0, error_code=None, error_message=None,
                        attempts=0, claimed_by=None, created_at=now, updated_at=now)  # fmt: skip
        self.jobs[job.id] = job
        return job.id, True

    async def link_job(
        self, db: AsyncSession, session_id: uuid.UUID, video_id: str, job_id: uuid.UUID, now: datetime
    ) -> uuid.UUID | None:
        assert job_id in self.jobs, "foreign key: no such job"
        links = self.job_links[session_id]
        old = links[video_id][0] if video_id in links else None
        links[video_id] = (job_id, links[video_id][1] if video_id in links else now)
        return old if old != job_id else None

    async def lock_jobs(self, db: AsyncSession, job_ids: Collection[uuid.UUID]) -> None:
        pass

    async def delete_orphan_jobs(self, db: AsyncSession, job_ids: Collection[uuid.UUID]) -> None:
        self._delete_unwanted_jobs(set(job_ids))

    async def claim_job(
        self, db: AsyncSession, job_id: uuid.UUID, now: datetime, lease: timedelta, message_id: str | None = None
    ) -> IngestJob | None:
        job = self.jobs.get(job_id)
        if job is None or job.status != "pending":
            return None
        if job.stage != "queued" and job.updated_at >= now - lease and (not message_id or job.claimed_by != message_id):
            return None
        job.attempts, job.stage, job.updated_at, job.claimed_by = job.attempts + 1, "fetching", now, message_id
        return job

    async def release_job(self, db: AsyncSession, job_id: uuid.UUID, now: datetime) -> None:
        if job_id in self.jobs:
            self.jobs[job_id].stage = "queued"

    async def job_progress(
        self, db: AsyncSession, job_id: uuid.UUID, stage: str, progress: float, now: datetime
    ) -> bool:
        job = self.jobs.get(job_id)
        if job is None or job.status != "pending":
            return False
        job.stage, job.progress, job.updated_at = stage, progress, now
        return True

    async def fail_job(self, db: AsyncSession, job_id: uuid.UUID, code: str, message: str, now: datetime) -> None:
        if job_id in self.jobs:
            job = self.jobs[job_id]
            job.status, job.error_code, job.error_message = "failed", code, message

    async def finish_job(self, db: AsyncSession, job_id: uuid.UUID, video_key: uuid.UUID) -> bool | None:
        if self.before_link:
            self.before_link.pop(0)()
        linked = 0
        if job_id in self.jobs:
            if video_key not in self.videos:
                return None
            for session_id, links in self.job_links.items():
                for video_id, (job, added_at) in list(links.items()):
                    if job == job_id:
                        del links[video_id]
                        self.links[session_id][video_id] = (video_key, added_at)
                        linked += 1
            del self.jobs[job_id]
        if not linked:
            self._delete_unlinked({video_key})
        return linked > 0

    async def has_video(self, db: AsyncSession, session_id: uuid.UUID, video_id: str) -> bool:
        return video_id in self.links.get(session_id, {}) or video_id in self.job_links.get(session_id, {})

    async def find_stored(
        self, db: AsyncSession, video_ids: Collection[str], languages: Sequence[str], embedding_model: str, source: str
    ) -> dict[str, Video]:
        stored: dict[str, Video] = {}
        for video in self.videos.values():
            if (
                video.video_id in video_ids
                and video.language_code in languages
                and video.embedding_model == embedding_model
                and video.source == source
            ):
                best = stored.get(video.video_id)
                if best is None or languages.index(video.language_code) < languages.index(best.language_code):
                    stored[video.video_id] = video
        return stored

    async def insert_video(self, db: AsyncSession, video: Video) -> uuid.UUID:
        unique = ("video_id", "language_code", "embedding_model", "source")
        for existing in self.videos.values():
            if all(getattr(existing, column) == getattr(video, column) for column in unique):
                return existing.id
        self.videos[video.id] = video
        return video.id

    async def store(
        self,
        db: AsyncSession,
        video: Video,
        chunks: list[Chunk],
        vectors: "NDArray[np.float32] | None",
        following: int,
        sentences: "Sequence[tuple[int, NDArray[np.float32]]]" = (),
    ) -> uuid.UUID:
        key = await self.insert_video(db, video)
        if key == video.id:
            self.chunks[key] = list(chunks)
            self.vectors[key] = vectors
        return key

    async def lock_session(self, db: AsyncSession, session_id: uuid.UUID) -> int | None:
        if self.before_link:
            self.before_link.pop(0)()
        if session_id not in self.sessions:
            return None
        return len(self.links[session_id]) + len(self.job_links[session_id])

    async def link(
        self, db: AsyncSession, session_id: uuid.UUID, video_id: str, video_key: uuid.UUID, now: datetime
    ) -> bool:
        return self._link(session_id, video_id, video_key, now)

    async def relink(
        self, db: AsyncSession, session_id: uuid.UUID, video_id: str, video_key: uuid.UUID, now: datetime
    ) -> uuid.UUID | None:
        previous = await self.unlink(db, session_id, video_id)
        self._link(session_id, video_id, video_key, now)
        return previous if previous != video_key else None

    async def session_video(self, db: AsyncSession, session_id: uuid.UUID, video_id: str) -> SessionVideoView:
        key, added_at = self.links[session_id][video_id]
        return SessionVideoView(self.videos[key], added_at)

    async def lock_videos(self, db: AsyncSession, video_keys: set[uuid.UUID]) -> set[uuid.UUID]:
        return video_keys & set(self.videos)

    async def link_many(
        self,
        db: AsyncSession,
        session_id: uuid.UUID,
        videos: dict[str, uuid.UUID],
        now: datetime,
        positions: dict[str, int] | None = None,
    ) -> set[str]:
        return {
            video_id
            for i, (video_id, key) in enumerate(videos.items())
            if self._link(
                session_id, video_id, key, now + timedelta(microseconds=positions[video_id] if positions else i)
            )
        }

    async def unlink(self, db: AsyncSession, session_id: uuid.UUID, video_id: str) -> uuid.UUID | None:
        job = self.job_links.get(session_id, {}).pop(video_id, None)
        if job is not None:
            self._delete_unwanted_jobs({job[0]})
        link = self.links.get(session_id, {}).pop(video_id, None)
        return None if link is None else link[0]

    async def delete_for_sessions(self, db: AsyncSession, session_ids: Sequence[uuid.UUID]) -> None:
        keys = {key for session_id in session_ids for key, _ in self.links.pop(session_id, {}).values()}
        jobs = {job for session_id in session_ids for job, _ in self.job_links.pop(session_id, {}).values()}
        self._delete_unwanted_jobs(jobs)
        self._delete_unlinked(keys)

    async def collect_garbage(self, db: AsyncSession, now: datetime) -> None:
        old = now - timedelta(hours=1)
        self._delete_unlinked({key for key, video in self.videos.items() if video.created_at < old})

    async def delete_orphans(self, db: AsyncSession, video_keys: set[uuid.UUID]) -> None:
        self._delete_unlinked(video_keys)


# --- sessions ------------------------------------------------------------------------------------


class FakeSessionRepository(SessionRepository):
    """SessionRepository in a dict. Appends ("sessions", ids) to `log` when it deletes."""

    def __init__(self, log: list[tuple[str, Any]] | None = None) -> None:
        self.rows: dict[uuid.UUID, Session] = {}
        self.log = log if log is not None else []

    @staticmethod
    def _copy(row: Session) -> Session:
        return Session(id=row.id, created_at=row.created_at, last_seen_at=row.last_seen_at, expires_at=row.expires_at)

    async def create(self, db: AsyncSession, session_id: uuid.UUID, now: datetime, ttl: timedelta) -> Session:
        assert session_id not in self.rows, "primary key: the session exists"
        self.rows[session_id] = Session(id=session_id, created_at=now, last_seen_at=now, expires_at=now + ttl)
        return self._copy(self.rows[session_id])

    async def touch(
        self, db: AsyncSession, session_id: uuid.UUID, now: datetime, ttl: timedelta | None
    ) -> Session | None:
        row = self.rows.get(session_id)
        if row is None or row.expires_at <= now:
            return None
        row.last_seen_at = now
        if ttl is not None:
            row.expires_at = now + ttl
        return self._copy(row)

    async def exists(self, db: AsyncSession, session_id: uuid.UUID) -> bool:
        return session_id in self.rows

    async def delete(self, db: AsyncSession, session_ids: list[uuid.UUID]) -> None:
        self.log.append(("sessions", list(session_ids)))
        for session_id in session_ids:
            self.rows.pop(session_id, None)

    async def lock_expired(self, db: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
        expired = sorted((row.expires_at, row.id) for row in self.rows.values() if row.expires_at <= now)
        return [session_id for _, session_id in expired[:limit]]


class FakeSessionDependent:
    """Data hanging off sessions (videos, chat history): logs what it is asked to delete."""

    def __init__(self, name: str, log: list[tuple[str, Any]]) -> None:
        self.name = name
        self.log = log

    async def delete_for_sessions(self, db: AsyncSession, session_ids: Sequence[uuid.UUID]) -> None:
        self.log.append((self.name, list(session_ids)))

    async def collect_garbage(self, db: AsyncSession, now: datetime) -> None:
        self.log.append((f"{self.name}.collect_garbage", now))
