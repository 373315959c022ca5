"""The counters of the rate and spending limits in the real PostgreSQL: exact under concurrency,
shared by separate engines (two instances of the app), all or nothing, a window restarted in place
when it ends, and ended windows deleted by the expiry timer."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from devhost.host import DevHost
from services.common import database
from services.common.errors import RateLimitedError
from services.common.limits import Limits
from services.common.models import RateCounter
from services.common.settings import Settings

pytestmark = pytest.mark.asyncio

QUESTIONS_PER_HOUR = "rate_limit_questions_per_hour"


def new_client() -> str:
    """A client no other test counts under (what `client_key` makes of an address)."""
    return uuid.uuid4().hex


def limits(clock: Callable[[], datetime] | None = None, transaction=database.transaction, **values: int) -> Limits:
    settings = Settings().model_copy(
        update={"rate_limit_questions_per_minute": 0, "rate_limit_questions_per_hour": 0} | values
    )
    return Limits(transaction, settings, clock) if clock else Limits(transaction, settings)


async def count_of(bucket: str) -> int | None:
    async with database.transaction() as db:
        return (await db.execute(select(RateCounter.count).where(RateCounter.bucket == bucket))).scalar()


async def attempt(limit: Limits, client: str, **amounts: int) -> bool:
    try:
        await limit.reserve(client, **amounts)
    except RateLimitedError:
        return False
    return True


def transaction_of(engine: AsyncEngine) -> Callable[[], AbstractAsyncContextManager[AsyncSession]]:
    @asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            yield session

    return transaction


async def test_fifty_concurrent_counts_add_up_exactly(database_url: str) -> None:
    client, limit = new_client(), limits(rate_limit_questions_per_hour=1000)

    await asyncio.gather(*(limit.reserve(client, questions=1) for _ in range(50)))

    assert await count_of(f"{QUESTIONS_PER_HOUR}:{client}") == 50


async def test_under_concurrency_exactly_the_limit_is_let_through(database_url: str) -> None:
    client, limit = new_client(), limits(rate_limit_questions_per_hour=20)

    accepted = await asyncio.gather(*(attempt(limit, client, questions=1) for _ in range(50)))

    assert accepted.count(True) == 20
    assert await count_of(f"{QUESTIONS_PER_HOUR}:{client}") == 20  # refused attempts are not counted


async def test_two_instances_with_their_own_engines_share_the_count(database_url: str) -> None:
    engines = [create_async_engine(database.database_url()) for _ in range(2)]
    try:
        first, second = (limits(transaction=transaction_of(e), rate_limit_questions_per_hour=3) for e in engines)
        client = new_client()

        results = [
            await attempt(first, client, questions=1),
            await attempt(second, client, questions=1),
            await attempt(first, client, questions=1),
            await attempt(second, client, questions=1),
            await attempt(first, client, questions=1),
        ]

        assert results == [True, True, True, False, False]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_request_refused_by_one_limit_is_counted_by_none(database_url: str) -> None:
    client = new_client()
    limit = limits(rate_limit_questions_per_minute=1, rate_limit_questions_per_hour=100, rate_limit_sessions_per_hour=5)

    assert await attempt(limit, client, questions=1, sessions=1)
    assert not await attempt(limit, client, questions=1, sessions=1)  # over the minute's limit only

    assert await count_of(f"rate_limit_questions_per_minute:{client}") == 1
    assert await count_of(f"{QUESTIONS_PER_HOUR}:{client}") == 1
    assert await count_of(f"rate_limit_sessions_per_hour:{client}") == 1


async def test_an_amount_of_zero_only_asks_for_room(database_url: str) -> None:
    client, limit = new_client(), limits(rate_limit_questions_per_hour=2)

    assert await attempt(limit, client, questions=0)
    assert await attempt(limit, client, questions=2)
    assert not await attempt(limit, client, questions=0)  # the limit is reached: no room left
    assert await count_of(f"{QUESTIONS_PER_HOUR}:{client}") == 2


async def test_unlimited_and_clientless_counts_touch_no_row(database_url: str) -> None:
    client = new_client()

    await limits(rate_limit_questions_per_hour=0).reserve(client, questions=1)
    await limits(rate_limit_questions_per_hour=5).reserve(None, questions=1)

    assert await count_of(f"{QUESTIONS_PER_HOUR}:{client}") is None
    assert await count_of(f"{QUESTIONS_PER_HOUR}:None") is None


async def test_retry_after_is_the_end_of_the_window_and_the_next_window_starts_in_the_same_row(
    database_url: str,
) -> None:
    now = datetime(2026, 11, 22, 13, 45, 20, tzinfo=UTC)
    client, limit = new_client(), limits(lambda: now, rate_limit_questions_per_hour=1)
    await limit.reserve(client, questions=1)

    with pytest.raises(RateLimitedError) as refused:
        await limit.reserve(client, questions=1)

    assert refused.value.retry_after_seconds == 14 * 60 + 40  # until 14:00
    assert refused.value.headers == {"Retry-After": "880"}
    assert refused.value.status == 429 and refused.value.code == "rate_limited"
    now += timedelta(minutes=15)
    await limit.reserve(client, questions=1)
    async with database.transaction() as db:
        rows = (await db.execute(select(RateCounter).where(RateCounter.bucket.contains(client)))).scalars().all()
    assert [(row.count, row.window_end) for row in rows] == [(1, datetime(2026, 11, 22, 15, tzinfo=UTC))]


async def test_refused_by_two_limits_a_client_is_told_to_wait_for_the_later_window(database_url: str) -> None:
    now = datetime(2026, 11, 22, 13, 45, 20, tzinfo=UTC)
    client = new_client()
    limit = limits(lambda: now, rate_limit_questions_per_minute=1, rate_limit_questions_per_hour=1)
    await limit.reserve(client, questions=1)

    with pytest.raises(RateLimitedError) as refused:
        await limit.reserve(client, questions=1)

    assert refused.value.retry_after_seconds == 880  # the hour's end, not the minute's
    assert "RATE_LIMIT_QUESTIONS_PER_HOUR" in refused.value.message


async def test_the_expiry_timer_deletes_the_counters_of_ended_windows_only(database_url: str, devhost: DevHost) -> None:
    ended, current = f"{QUESTIONS_PER_HOUR}:{new_client()}", f"{QUESTIONS_PER_HOUR}:{new_client()}"
    async with database.transaction() as db:
        await db.execute(
            insert(RateCounter),
            [
                {"bucket": ended, "window_end": datetime.now(UTC) - timedelta(seconds=1), "count": 7},
                {"bucket": current, "window_end": datetime.now(UTC) + timedelta(minutes=30), "count": 7},
            ],
        )
    (timer,) = devhost.timer_functions

    await devhost.run_timer(timer)

    assert await count_of(ended) is None
    assert await count_of(current) == 7
    async with database.transaction() as db:
        await db.execute(delete(RateCounter).where(RateCounter.bucket == current))
