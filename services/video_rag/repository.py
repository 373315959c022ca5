"""SQL of videos and session links. Every method runs inside the caller's transaction."""

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sessions.models import Session
from services.video_rag.chunking import Chunk
from services.video_rag.models import IngestJob, SessionVideo, Video
from services.video_rag.vector_store import write_chunks

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@dataclass(frozen=True)
class SessionVideoView:
    """A video as one session sees it: stored (`video`), or its ingestion (`job`, pending or failed)."""

    video: Video | None
    added_at: datetime
    job: IngestJob | None = None

    @property
    def pending(self) -> bool:
        return self.job is not None and self.job.status == "pending"

    @property
    def failed(self) -> bool:
        return self.job is not None and self.job.status == "failed"

    @property
    def video_id(self) -> str:
        if self.video is not None:
            return self.video.video_id
        assert self.job is not None
        return self.job.video_id


TIMEOUT_CODE = "ingest_timeout"
TIMEOUT_MESSAGE = "Adding this video took too long and was given up. Add it again to retry."

# The order in which jobs are locked, whatever the transaction (no deadlock between two of them).
JOB_ORDER = (IngestJob.video_id, IngestJob.languages, IngestJob.embedding_model)


class VideoRepository:
    def __init__(self, job_timeout: timedelta = timedelta(minutes=30)) -> None:
        """`job_timeout`: a pending job that made no progress for this long is failed (`collect_garbage`)."""
        self._job_timeout = job_timeout

    async def session_videos(self, db: AsyncSession, session_id: uuid.UUID) -> list[SessionVideoView]:
        """The session's stored (ready) videos, oldest first."""
        rows = await db.execute(
            select(Video, SessionVideo.added_at)
            .join(SessionVideo, SessionVideo.video_key == Video.id)
            .where(SessionVideo.session_id == session_id)
            .order_by(SessionVideo.added_at, SessionVideo.video_id)
        )
        return [SessionVideoView(video, added_at) for video, added_at in rows]

    async def session_entries(self, db: AsyncSession, session_id: uuid.UUID) -> list[SessionVideoView]:
        """Every video of the session, ready, pending or failed, oldest first."""
        rows = await db.execute(
            select(Video, SessionVideo.added_at, IngestJob)
            .select_from(SessionVideo)
            .outerjoin(Video, SessionVideo.video_key == Video.id)
            .outerjoin(IngestJob, SessionVideo.job_id == IngestJob.id)
            .where(SessionVideo.session_id == session_id)
            .order_by(SessionVideo.added_at, SessionVideo.video_id)
        )
        return [SessionVideoView(video, added_at, job) for video, added_at, job in rows]

    # --- ingestion jobs ----------------------------------------------------------------------

    async def want_job(
        self, db: AsyncSession, video_id: str, languages: str, embedding_model: str, now: datetime
    ) -> tuple[uuid.UUID, bool]:
        """The job of this video (locked until commit): the pending one, or a new one, or the failed or
        stalled one made pending again; and whether it needs a queue message (new or made pending)."""
        row = await db.execute(
            update(IngestJob)
            .where(
                IngestJob.video_id == video_id,
                IngestJob.languages == languages,
                IngestJob.embedding_model == embedding_model,
                or_(IngestJob.status == "failed", IngestJob.updated_at < now - self._job_timeout),
            )
            .values(
                status="pending",
                stage="queued",
                progress=0.0,
                error_code=None,
                error_message=None,
                attempts=0,
                claimed_by=None,
                updated_at=now,
            )
            .returning(IngestJob.id)
        )
        reset = row.scalar_one_or_none()
        if reset is not None:
            return reset, True
        values = {"id": uuid.uuid4(), "video_id": video_id, "languages": languages, "embedding_model": embedding_model,
                  "status": "pending", "stage": "queued", "progress": 0.0, "attempts": 0, "created_at": now,
                  "updated_at": now}  # fmt: skip
        row = await db.execute(
            pg_insert(IngestJob)
            .values(**values)
            .on_conflict_do_update(  # a no-op update: it locks the existing row and returns its id
                index_elements=["video_id", "languages", "embedding_model"], set_={"video_id": video_id}
            )
            .returning(IngestJob.id)
        )
        key = row.scalar_one()
        return key, key == values["id"]

    async def link_job(
        self, db: AsyncSession, session_id: uuid.UUID, video_id: str, job_id: uuid.UUID, now: datetime
    ) -> uuid.UUID | None:
        """Links the session to the job of one of its videos (a new link, or the failed one's link
        moved to this job); returns the job the link had before, when it was another."""
        previous = await db.execute(
            select(SessionVideo.job_id).where(SessionVideo.session_id == session_id, SessionVideo.video_id == video_id)
        )
        old = previous.scalar_one_or_none()
        if old is None:
            await db.execute(
                pg_insert(SessionVideo)
                .values(session_id=session_id, video_id=video_id, job_id=job_id, added_at=now)
                .on_conflict_do_nothing(index_elements=["session_id", "video_id"])
            )
            return None
        if old != job_id:
            await db.execute(
                update(SessionVideo)
                .where(SessionVideo.session_id == session_id, SessionVideo.video_id == video_id)
                .values(job_id=job_id)
            )
            return old
        return None

    async def claim_job(
        self, db: AsyncSession, job_id: uuid.UUID, now: datetime, lease: timedelta, message_id: str | None = None
    ) -> IngestJob | None:
        """The pending job, counted as one more attempt, for the delivery of queue message `message_id`;
        None when it is gone, failed, or being worked on by another message's delivery (progress
        within `lease`): a duplicate message does nothing. A redelivery of the message that claimed
        it takes it over: that message's earlier delivery failed or died."""
        row = await db.execute(
            update(IngestJob)
            .where(
                IngestJob.id == job_id,
                IngestJob.status == "pending",
                or_(
                    IngestJob.stage == "queued",
                    IngestJob.updated_at < now - lease,
                    *([IngestJob.claimed_by == message_id] if message_id else []),
                ),
            )
            .values(
                attempts=IngestJob.attempts + 1, stage="fetching", progress=0.05, updated_at=now, claimed_by=message_id
            )
            .returning(IngestJob)
        )
        return row.scalar_one_or_none()

    async def release_job(self, db: AsyncSession, job_id: uuid.UUID, now: datetime) -> None:
        """Back to `queued`, for the next delivery of its message (this one failed)."""
        await db.execute(
            update(IngestJob)
            .where(IngestJob.id == job_id, IngestJob.status == "pending")
            .values(stage="queued", progress=0.0, updated_at=now)
        )

    async def job_progress(
        self, db: AsyncSession, job_id: uuid.UUID, stage: str, progress: float, now: datetime
    ) -> bool:
        """Records how far the job is; False when it is no longer wanted (no session waits for it)."""
        row = await db.execute(
            update(IngestJob)
            .where(IngestJob.id == job_id, IngestJob.status == "pending")
            .values(stage=stage, progress=progress, updated_at=now)
            .returning(IngestJob.id)
        )
        return row.scalar_one_or_none() is not None

    async def fail_job(self, db: AsyncSession, job_id: uuid.UUID, code: str, message: str, now: datetime) -> None:
        await db.execute(
            update(IngestJob)
            .where(IngestJob.id == job_id)
            .values(status="failed", error_code=code, error_message=message, updated_at=now)
        )

    async def finish_job(self, db: AsyncSession, job_id: uuid.UUID, video_key: uuid.UUID) -> bool | None:
        """The sessions waiting for the job get its stored video, and the job goes. False when no
        session waits for it any more (then the video goes too, unless another session has it); None
        when the stored copy was garbage-collected meanwhile (store it again)."""
        job = await db.execute(select(IngestJob.id).where(IngestJob.id == job_id).with_for_update())
        linked = 0
        if job.first() is not None:
            if not await self.lock_videos(db, {video_key}):
                return None
            rows = await db.execute(
                update(SessionVideo)
                .where(SessionVideo.job_id == job_id)
                .values(video_key=video_key, job_id=None)
                .returning(SessionVideo.session_id)
            )
            linked = len(rows.all())
            await db.execute(delete(IngestJob).where(IngestJob.id == job_id))
        if not linked:
            await self.delete_orphans(db, {video_key})
        return linked > 0

    async def lock_jobs(self, db: AsyncSession, job_ids: Collection[uuid.UUID]) -> None:
        if job_ids:
            await db.execute(
                select(IngestJob.id).where(IngestJob.id.in_(sorted(job_ids))).order_by(*JOB_ORDER).with_for_update()
            )

    async def delete_orphan_jobs(self, db: AsyncSession, job_ids: Collection[uuid.UUID]) -> None:
        """Deletes those of the jobs (locked by the caller) no session waits for any more: their work
        stops at its next step, and what it stores then is deleted at once."""
        if job_ids:
            await db.execute(
                delete(IngestJob).where(
                    IngestJob.id.in_(sorted(job_ids)), ~exists().where(SessionVideo.job_id == IngestJob.id)
                )
            )

    async def find_stored(
        self, db: AsyncSession, video_ids: Collection[str], languages: Sequence[str], embedding_model: str, source: str
    ) -> dict[str, Video]:
        """The stored copy of each of `video_ids` that has one from `source` in one of `languages` (the
        earliest listed), by video id."""
        rows = await db.execute(
            select(Video).where(
                Video.video_id.in_(video_ids),
                Video.language_code.in_(languages),
                Video.embedding_model == embedding_model,
                Video.source == source,
            )
        )
        rank = {code: languages.index(code) for code in languages}  # the first listed wins
        stored: dict[str, Video] = {}
        for video in rows.scalars():
            best = stored.get(video.video_id)
            if best is None or rank[video.language_code] < rank[best.language_code]:
                stored[video.video_id] = video
        return stored

    async def insert_video(self, db: AsyncSession, video: Video) -> uuid.UUID:
        """Inserts the video and returns its key, or the key of the same video (id, language, model,
        source) that another writer stored first."""
        unique = ["video_id", "language_code", "embedding_model", "source"]
        values = {column: getattr(video, column) for column in Video.__table__.columns.keys()}  # noqa: SIM118
        row = await db.execute(
            pg_insert(Video).values(**values).on_conflict_do_nothing(index_elements=unique).returning(Video.id)
        )
        key = row.scalar_one_or_none()
        if key is not None:
            return key
        existing = await db.execute(select(Video.id).where(*(getattr(Video, c) == values[c] for c in unique)))
        return existing.scalar_one()

    async def store(
        self,
        db: AsyncSession,
        video: Video,
        chunks: list[Chunk],
        vectors: "NDArray[np.float32] | None",
        following: int,
        sentences: "Sequence[tuple[int, NDArray[np.float32]]]" = (),
    ) -> uuid.UUID:
        """The video row and all its chunks (each embedded with the `following` windows after it) and
        their sentences' vectors (write_chunks); the key of the stored copy (another writer's, when it
        stored the same video first: then nothing is written)."""
        key = await self.insert_video(db, video)
        if key == video.id:
            await write_chunks(db, key, video.video_id, video.language_code, chunks, vectors, following, sentences)
        return key

    async def lock_session(self, db: AsyncSession, session_id: uuid.UUID) -> int | None:
        """Serializes the links of one session (for its quota); returns how many videos it has, or
        None when the session is gone (deleted or cleaned up since the request was authorized)."""
        row = await db.execute(select(Session.id).where(Session.id == session_id).with_for_update(key_share=True))
        if row.first() is None:
            return None
        count = await db.execute(select(func.count()).where(SessionVideo.session_id == session_id))
        return int(count.scalar_one())

    async def link(
        self, db: AsyncSession, session_id: uuid.UUID, video_id: str, video_key: uuid.UUID, now: datetime
    ) -> bool:
        """Links the video to the session; False when the session already had this video id."""
        row = await db.execute(
            pg_insert(SessionVideo)
            .values(session_id=session_id, video_id=video_id, video_key=video_key, added_at=now)
            .on_conflict_do_nothing(index_elements=["session_id", "video_id"])
            .returning(SessionVideo.video_key)
        )
        return row.scalar_one_or_none() is not None

    async def relink(
        self, db: AsyncSession, session_id: uuid.UUID, video_id: str, video_key: uuid.UUID, now: datetime
    ) -> uuid.UUID | None:
        """Links the video, replacing the session's copy of the same video id; returns the replaced key."""
        previous = await self.unlink(db, session_id, video_id)
        await self.link(db, session_id, video_id, video_key, now)
        return previous if previous != video_key else None

    async def session_video(self, db: AsyncSession, session_id: uuid.UUID, video_id: str) -> SessionVideoView:
        row = await db.execute(
            select(Video, SessionVideo.added_at)
            .join(SessionVideo, SessionVideo.video_key == Video.id)
            .where(SessionVideo.session_id == session_id, SessionVideo.video_id == video_id)
        )
        video, added_at = row.one()
        return SessionVideoView(video, added_at)

    async def lock_videos(self, db: AsyncSession, video_keys: set[uuid.UUID]) -> set[uuid.UUID]:
        """Those of `video_keys` that still exist, locked against garbage collection until commit."""
        if not video_keys:
            return set()
        rows = await db.execute(
            select(Video.id)
            .where(Video.id.in_(sorted(video_keys)))
            .order_by(Video.id)
            .with_for_update(read=True, key_share=True)
        )
        return set(rows.scalars())

    async def link_many(
        self,
        db: AsyncSession,
        session_id: uuid.UUID,
        videos: dict[str, uuid.UUID],
        now: datetime,
        positions: dict[str, int] | None = None,
    ) -> set[str]:
        """Links the videos (id -> stored key) in one statement; returns the ids that were new here.
        Their `added_at` follow the given order (or `positions`) a microsecond apart, so that lists keep it."""
        if not videos:
            return set()
        rows = await db.execute(
            pg_insert(SessionVideo)
            .values(
                [
                    {
                        "session_id": session_id,
                        "video_id": v,
                        "video_key": k,
                        "added_at": now + timedelta(microseconds=positions[v] if positions else i),
                    }
                    for i, (v, k) in enumerate(videos.items())
                ]
            )
            .on_conflict_do_nothing(index_elements=["session_id", "video_id"])
            .returning(SessionVideo.video_id)
        )
        return set(rows.scalars())

    async def unlink(self, db: AsyncSession, session_id: uuid.UUID, video_id: str) -> uuid.UUID | None:
        """Removes the session's video; returns its stored key (None when it had none). A job no other
        session waits for goes with it (cancelled)."""
        where = (SessionVideo.session_id == session_id, SessionVideo.video_id == video_id)
        job = (await db.execute(select(SessionVideo.job_id).where(*where))).scalar_one_or_none()
        await self.lock_jobs(db, [job] if job else [])  # jobs before links, as everywhere
        row = await db.execute(delete(SessionVideo).where(*where).returning(SessionVideo.video_key))
        await self.delete_orphan_jobs(db, [job] if job else [])
        return row.scalar_one_or_none()

    async def has_video(self, db: AsyncSession, session_id: uuid.UUID, video_id: str) -> bool:
        row = await db.execute(
            select(SessionVideo.video_id).where(
                SessionVideo.session_id == session_id, SessionVideo.video_id == video_id
            )
        )
        return row.first() is not None

    async def delete_for_sessions(self, db: AsyncSession, session_ids: Sequence[uuid.UUID]) -> None:
        """Removes the sessions' links, the videos (with their chunks) no other session has, and the
        jobs no other session waits for (their work stops)."""
        await db.execute(select(Session.id).where(Session.id.in_(session_ids)).order_by(Session.id).with_for_update())
        jobs = await db.execute(
            select(SessionVideo.job_id).where(
                SessionVideo.session_id.in_(session_ids), SessionVideo.job_id.is_not(None)
            )
        )
        job_ids = {job for job in jobs.scalars() if job is not None}
        await self.lock_jobs(db, job_ids)
        rows = await db.execute(
            delete(SessionVideo).where(SessionVideo.session_id.in_(session_ids)).returning(SessionVideo.video_key)
        )
        await self.delete_orphan_jobs(db, job_ids)
        await self.delete_orphans(db, {key for key in rows.scalars() if key is not None})

    async def collect_garbage(self, db: AsyncSession, now: datetime) -> None:
        """Videos no session links, stored over an hour ago: what an interrupted request left; jobs
        no session waits for; and pending jobs that made no progress within the job timeout (their
        worker died and their message is gone): failed, `ingest_timeout`."""
        rows = await db.execute(
            select(Video.id).where(
                Video.created_at < now - timedelta(hours=1), ~exists().where(SessionVideo.video_key == Video.id)
            )
        )
        await self.delete_orphans(db, set(rows.scalars()))
        jobs = await db.execute(
            select(IngestJob.id).where(~exists().where(SessionVideo.job_id == IngestJob.id)).order_by(*JOB_ORDER)
        )
        job_ids = list(jobs.scalars())
        await self.lock_jobs(db, job_ids)
        await self.delete_orphan_jobs(db, job_ids)
        await self.expire_jobs(db, now)

    async def expire_jobs(self, db: AsyncSession, now: datetime, session_id: uuid.UUID | None = None) -> None:
        """Fails the pending jobs (of one session's videos, or all) that made no progress within the
        job timeout: their worker died and their message is gone (`ingest_timeout`)."""
        stalled = [IngestJob.status == "pending", IngestJob.updated_at < now - self._job_timeout]
        if session_id is not None:
            stalled.append(exists().where(SessionVideo.job_id == IngestJob.id, SessionVideo.session_id == session_id))
        await db.execute(
            update(IngestJob)
            .where(*stalled)
            .values(status="failed", error_code=TIMEOUT_CODE, error_message=TIMEOUT_MESSAGE, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def delete_orphans(self, db: AsyncSession, video_keys: set[uuid.UUID]) -> None:
        """Deletes those of `video_keys` that no session links any more; chunks go by cascade.

        The videos are locked first, in a fixed order: a concurrent link to one of them either
        commits before (and the video is kept) or waits and then fails on its foreign key."""
        if not video_keys:
            return
        keys = sorted(video_keys)
        await db.execute(select(Video.id).where(Video.id.in_(keys)).order_by(Video.id).with_for_update())
        await db.execute(delete(Video).where(Video.id.in_(keys), ~exists().where(SessionVideo.video_key == Video.id)))
