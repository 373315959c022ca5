"""Session use cases: create or resume, authorize, delete, and delete the expired ones."""

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.database import Transaction
from services.common.errors import SessionExpiredError, SessionInvalidError
from services.common.limits import Limits
from services.common.settings import Settings
from services.sessions.repository import SessionRepository

logger = logging.getLogger(__name__)


class SessionDependent(Protocol):
    """Data another service hangs off sessions, which goes with them (videos, chat history)."""

    async def delete_for_sessions(self, db: AsyncSession, session_ids: Sequence[uuid.UUID]) -> None: ...

    async def collect_garbage(self, db: AsyncSession, now: datetime) -> None:
        """What a request interrupted by its session's end left behind (run by the cleanup timer)."""


@dataclass(frozen=True)
class ActiveSession:
    id: uuid.UUID
    created_at: datetime
    expires_at: datetime


def parse_session_id(raw: str | None) -> uuid.UUID | None:
    """A session id as sent by a client, or None when it cannot be one."""
    if not raw or len(raw) > 100:
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        return None


def utcnow() -> datetime:
    return datetime.now(UTC)


class SessionService:
    def __init__(
        self,
        repository: SessionRepository,
        transaction: Transaction,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        dependents: Sequence[SessionDependent] = (),
        limits: Limits | None = None,
    ) -> None:
        """`dependents`: what is deleted with a session, beyond the session itself; `limits`: new
        sessions are counted per client."""
        self._repository = repository
        self._limits = limits
        self._dependents = dependents
        self._transaction = transaction
        self._settings = settings
        self._clock = clock

    @property
    def _ttl(self) -> timedelta:
        return timedelta(minutes=self._settings.session_expire_minutes)

    @property
    def _sliding_ttl(self) -> timedelta | None:
        return self._ttl if self._settings.session_sliding_expiration else None

    async def get_or_create(self, raw_id: str | None, client: str | None = None) -> tuple[ActiveSession, bool]:
        """The live session named by `raw_id` (renewed), else a new one with a server-generated id,
        counted against `client`'s rate limit first (None: no client's)."""
        session_id = parse_session_id(raw_id)
        now = self._clock()
        row = None
        if session_id is not None:
            async with self._transaction() as db:
                row = await self._repository.touch(db, session_id, now, self._sliding_ttl)
        if row is not None:
            return ActiveSession(row.id, row.created_at, row.expires_at), False
        if self._limits is not None:
            await self._limits.reserve(client, sessions=1)
        async with self._transaction() as db:
            row = await self._repository.create(db, uuid.uuid4(), now, self._ttl)
        return ActiveSession(row.id, row.created_at, row.expires_at), True

    async def authorize(self, session_id: uuid.UUID | None) -> ActiveSession:
        """The live session `session_id`, renewed when expiry is sliding. One round trip when it is live."""
        if session_id is None:
            raise SessionInvalidError()
        now = self._clock()
        async with self._transaction() as db:
            row = await self._repository.touch(db, session_id, now, self._sliding_ttl)
            if row is None:
                raise (
                    SessionExpiredError() if await self._repository.exists(db, session_id) else SessionInvalidError()
                )
        return ActiveSession(row.id, row.created_at, row.expires_at)

    async def delete(self, session_id: uuid.UUID) -> None:
        async with self._transaction() as db:
            await self._delete(db, [session_id])

    async def _delete(self, db: AsyncSession, session_ids: list[uuid.UUID]) -> None:
        """The sessions and all that hangs off them, set-based, in the caller's transaction."""
        for dependent in self._dependents:
            await dependent.delete_for_sessions(db, session_ids)
        await self._repository.delete(db, session_ids)

    async def delete_expired(self) -> int:
        """Deletes every expired session with all that hangs off it, one transaction per batch;
        returns how many were deleted."""
        now = self._clock()
        deleted = 0
        while True:
            async with self._transaction() as db:
                ids = await self._repository.lock_expired(db, now, self._settings.session_cleanup_batch_size)
                if ids:
                    await self._delete(db, ids)
            deleted += len(ids)
            if len(ids) < self._settings.session_cleanup_batch_size:
                break
        async with self._transaction() as db:
            for dependent in self._dependents:
                await dependent.collect_garbage(db, now)
        return deleted
