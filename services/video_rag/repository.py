"""SQL of videos and session links. Every method runs inside the caller's transaction."""

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sessions.models import Session
from services.video_rag.chunking import Chunk
from services.video_rag.models import SessionVideo, Video
from services.video_rag.vector_store import write_chunks

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@dataclass(frozen=True)
class SessionVideoView:
    """A video as one session sees it."""

    video: Video
    added_at: datetime


class VideoRepository:
    async def session_videos(self, db: AsyncSession, session_id: uuid.UUID) -> list[SessionVideoView]:
        rows = await db.execute(
            select(Video, SessionVideo.added_at)
            .join(SessionVideo, SessionVideo.video_key == Video.id)
            .where(SessionVideo.session_id == session_id)
            .order_by(SessionVideo.added_at, SessionVideo.video_id)
        )
        return [SessionVideoView(video, added_at) for video, added_at in rows]

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
    ) -> uuid.UUID:
        """The video row and all its chunks (each embedded with the `following` windows after it); the
        key of the stored copy (another writer's, when it stored the same video first: then nothing is
        written)."""
        key = await self.insert_video(db, video)
        if key == video.id:
            await write_chunks(db, key, video.video_id, video.language_code, chunks, vectors, following)
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
        self, db: AsyncSession, session_id: uuid.UUID, videos: dict[str, uuid.UUID], now: datetime
    ) -> set[str]:
        """Links the videos (id -> stored key) in one statement; returns the ids that were new here.
        Their `added_at` follow the given order a microsecond apart, so that lists keep it."""
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
                        "added_at": now + timedelta(microseconds=i),
                    }
                    for i, (v, k) in enumerate(videos.items())
                ]
            )
            .on_conflict_do_nothing(index_elements=["session_id", "video_id"])
            .returning(SessionVideo.video_id)
        )
        return set(rows.scalars())

    async def unlink(self, db: AsyncSession, session_id: uuid.UUID, video_id: str) -> uuid.UUID | None:
        row = await db.execute(
            delete(SessionVideo)
            .where(SessionVideo.session_id == session_id, SessionVideo.video_id == video_id)
            .returning(SessionVideo.video_key)
        )
        return row.scalar_one_or_none()

    async def delete_for_sessions(self, db: AsyncSession, session_ids: Sequence[uuid.UUID]) -> None:
        """Removes the sessions' links and the videos (with their chunks) no other session has."""
        rows = await db.execute(
            delete(SessionVideo).where(SessionVideo.session_id.in_(session_ids)).returning(SessionVideo.video_key)
        )
        await self.delete_orphans(db, set(rows.scalars()))

    async def collect_garbage(self, db: AsyncSession, now: datetime) -> None:
        """Videos no session links, stored over an hour ago: what an interrupted request left."""
        rows = await db.execute(
            select(Video.id).where(
                Video.created_at < now - timedelta(hours=1), ~exists().where(SessionVideo.video_key == Video.id)
            )
        )
        await self.delete_orphans(db, set(rows.scalars()))

    async def delete_orphans(self, db: AsyncSession, video_keys: set[uuid.UUID]) -> None:
        """Deletes those of `video_keys` that no session links any more; chunks go by cascade.

        The videos are locked first, in a fixed order: a concurrent link to one of them either
        commits before (and the video is kept) or waits and then fails on its foreign key."""
        if not video_keys:
            return
        keys = sorted(video_keys)
        await db.execute(select(Video.id).where(Video.id.in_(keys)).order_by(Video.id).with_for_update())
        await db.execute(delete(Video).where(Video.id.in_(keys), ~exists().where(SessionVideo.video_key == Video.id)))
