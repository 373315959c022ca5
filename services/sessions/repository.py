"""SQL of the `session` table. Every method runs inside the caller's transaction."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.sessions.models import Session


class SessionRepository:
    async def create(self, db: AsyncSession, session_id: uuid.UUID, now: datetime, ttl: timedelta) -> Session:
        row = await db.execute(
            insert(Session)
            .values(id=session_id, created_at=now, last_seen_at=now, expires_at=now + ttl)
            .returning(Session)
        )
        return row.scalar_one()

    async def touch(
        self, db: AsyncSession, session_id: uuid.UUID, now: datetime, ttl: timedelta | None
    ) -> Session | None:
        """Marks a live session as seen (and slides its expiry by `ttl` when given) in one statement.
        None when the session does not exist or has expired."""
        values: dict[str, object] = {"last_seen_at": now}
        if ttl is not None:
            values["expires_at"] = now + ttl
        row = await db.execute(
            update(Session)
            .where(Session.id == session_id, Session.expires_at > now)
            .values(**values)
            .returning(Session)
            .execution_options(synchronize_session=False)
        )
        return row.scalar_one_or_none()

    async def exists(self, db: AsyncSession, session_id: uuid.UUID) -> bool:
        row = await db.execute(select(Session.id).where(Session.id == session_id))
        return row.first() is not None

    async def delete(self, db: AsyncSession, session_ids: list[uuid.UUID]) -> None:
        await db.execute(delete(Session).where(Session.id.in_(session_ids)))

    async def lock_expired(self, db: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
        """Up to `limit` expired sessions, locked for deletion in a fixed order (no deadlock between
        two cleanups). A row a request still holds is waited for, not skipped: it would otherwise
        outlive this run."""
        rows = await db.execute(
            select(Session.id)
            .where(Session.expires_at <= now)
            .order_by(Session.expires_at, Session.id)
            .limit(limit)
            .with_for_update()
        )
        return list(rows.scalars())
