"""Sliding and fixed expiry, and the expiry timer, against the real database."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from devhost.host import DevHost
from services.common import database
from services.common.errors import SessionExpiredError, SessionInvalidError
from services.common.settings import Settings
from services.sessions.models import Session
from services.sessions.repository import SessionRepository
from services.sessions.service import SessionService

pytestmark = pytest.mark.asyncio


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def service(clock: Clock, sliding: bool, minutes: int = 15) -> SessionService:
    settings = Settings(session_expire_minutes=minutes, session_sliding_expiration=sliding)
    return SessionService(SessionRepository(), database.transaction, settings, clock)


async def count_sessions(ids: list[uuid.UUID]) -> int:
    async with database.transaction() as db:
        return int((await db.execute(select(func.count()).where(Session.id.in_(ids)))).scalar_one())


async def test_sliding_expiry_moves_expires_at_on_each_authorized_request(database_url: str) -> None:
    clock = Clock()
    sessions = service(clock, sliding=True)
    session, _ = await sessions.get_or_create(None)

    clock.now += timedelta(minutes=10)
    renewed = await sessions.authorize(session.id)
    clock.now += timedelta(minutes=10)  # 20 min after creation, 10 after the last request
    again = await sessions.authorize(session.id)

    assert renewed.expires_at == session.created_at + timedelta(minutes=25)
    assert again.expires_at == session.created_at + timedelta(minutes=35)


async def test_fixed_expiry_ends_the_session_at_creation_plus_ttl_whatever_the_activity(
    database_url: str,
) -> None:
    clock = Clock()
    sessions = service(clock, sliding=False)
    session, _ = await sessions.get_or_create(None)

    clock.now += timedelta(minutes=10)
    seen = await sessions.authorize(session.id)
    clock.now += timedelta(minutes=6)

    assert seen.expires_at == session.expires_at
    with pytest.raises(SessionExpiredError):
        await sessions.authorize(session.id)


async def test_get_or_create_renews_a_live_session_only_when_sliding(database_url: str) -> None:
    clock = Clock()
    sliding, fixed = service(clock, sliding=True), service(clock, sliding=False)
    a, _ = await sliding.get_or_create(None)
    b, _ = await fixed.get_or_create(None)
    clock.now += timedelta(minutes=5)

    a2, a_created = await sliding.get_or_create(str(a.id))
    b2, b_created = await fixed.get_or_create(str(b.id))

    assert not a_created and a2.expires_at == clock.now + timedelta(minutes=15)
    assert not b_created and b2.expires_at == b.expires_at


async def test_unknown_session_is_invalid_and_expired_one_is_expired(database_url: str) -> None:
    clock = Clock()
    sessions = service(clock, sliding=True, minutes=1)
    session, _ = await sessions.get_or_create(None)
    clock.now += timedelta(minutes=2)

    with pytest.raises(SessionExpiredError):
        await sessions.authorize(session.id)
    with pytest.raises(SessionInvalidError):
        await sessions.authorize(uuid.uuid4())
    with pytest.raises(SessionInvalidError):
        await sessions.authorize(None)


async def test_timer_deletes_expired_sessions_only_and_a_second_run_is_harmless(
    database_url: str, devhost: DevHost
) -> None:
    an_hour_ago, now = Clock(), Clock()
    an_hour_ago.now -= timedelta(hours=1)
    expired = [(await service(an_hour_ago, sliding=True).get_or_create(None))[0].id for _ in range(3)]
    live = [(await service(now, sliding=True).get_or_create(None))[0].id for _ in range(2)]
    (timer,) = devhost.timer_functions

    await devhost.run_timer(timer)
    assert await count_sessions(expired) == 0
    assert await count_sessions(live) == 2

    await devhost.run_timer(timer)
    assert await count_sessions(live) == 2


async def test_cleanup_works_in_batches_until_none_is_left(database_url: str) -> None:
    an_hour_ago = Clock()
    an_hour_ago.now -= timedelta(hours=1)
    ids = [(await service(an_hour_ago, sliding=True).get_or_create(None))[0].id for _ in range(7)]
    settings = Settings(session_cleanup_batch_size=3)
    cleaner = SessionService(SessionRepository(), database.transaction, settings)

    deleted = await cleaner.delete_expired()

    assert deleted >= 7
    assert await count_sessions(ids) == 0
