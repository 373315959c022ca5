"""SessionService over an in-memory repository and a clock the tests move: which session a client
gets, when it is renewed, and what goes with it. Sessions live 15 minutes (`make_settings`)."""

import uuid
from datetime import timedelta
from typing import Any

import pytest

from services.common.errors import SessionExpiredError, SessionInvalidError
from services.sessions.service import SessionService
from tests.unit.fakes import FakeClock, FakeSessionDependent, FakeSessionRepository, FakeTransaction, make_settings

TTL = timedelta(minutes=15)


@pytest.fixture
def log() -> list[tuple[str, Any]]:
    """What the repository and the dependents deleted, in order."""
    return []


@pytest.fixture
def repository(log: list[tuple[str, Any]]) -> FakeSessionRepository:
    return FakeSessionRepository(log)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def session_service(
    repository: FakeSessionRepository,
    clock: FakeClock,
    *dependents: FakeSessionDependent,
    transaction: FakeTransaction | None = None,
    **settings: Any,
) -> SessionService:
    return SessionService(repository, transaction or FakeTransaction(), make_settings(**settings), clock, dependents)


@pytest.fixture
def service(repository: FakeSessionRepository, clock: FakeClock) -> SessionService:
    return session_service(repository, clock)


# --- get_or_create ---------------------------------------------------------------------------------


async def test_without_an_id_a_session_is_created_with_a_server_generated_id(
    service: SessionService, repository: FakeSessionRepository, clock: FakeClock
) -> None:
    session, created = await service.get_or_create(None)

    assert created
    assert list(repository.rows) == [session.id]
    assert (session.created_at, session.expires_at) == (clock.now, clock.now + TTL)


async def test_an_unknown_id_is_not_taken_a_new_session_gets_another(
    service: SessionService, repository: FakeSessionRepository
) -> None:
    chosen_by_the_client = uuid.uuid4()

    session, created = await service.get_or_create(str(chosen_by_the_client))

    assert created and session.id != chosen_by_the_client
    assert list(repository.rows) == [session.id]


@pytest.mark.parametrize("raw", ["", "not-a-uuid", "1" * 200])
async def test_a_malformed_id_gets_a_new_session(service: SessionService, raw: str) -> None:
    _, created = await service.get_or_create(raw)

    assert created


async def test_a_live_session_is_resumed_and_renewed_when_expiry_slides(
    service: SessionService, clock: FakeClock
) -> None:
    first, _ = await service.get_or_create(None)
    clock.advance(minutes=10)

    again, created = await service.get_or_create(f" {first.id} ")

    assert not created and again.id == first.id
    assert again.created_at == first.created_at and again.expires_at == clock.now + TTL


async def test_a_live_session_is_resumed_but_not_renewed_when_expiry_is_fixed(
    repository: FakeSessionRepository, clock: FakeClock
) -> None:
    service = session_service(repository, clock, session_sliding_expiration=False)
    first, _ = await service.get_or_create(None)
    clock.advance(minutes=10)

    again, created = await service.get_or_create(str(first.id))

    assert not created and again.id == first.id and again.expires_at == first.expires_at


async def test_an_expired_session_is_not_resumed_a_new_one_is_created(
    service: SessionService, clock: FakeClock
) -> None:
    first, _ = await service.get_or_create(None)
    clock.advance(minutes=16)

    again, created = await service.get_or_create(str(first.id))

    assert created and again.id != first.id and again.expires_at == clock.now + TTL


# --- authorize -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sliding", "renewed"), [(True, True), (False, False)])
async def test_authorize_returns_the_live_session_renewed_only_when_expiry_slides(
    repository: FakeSessionRepository, clock: FakeClock, sliding: bool, renewed: bool
) -> None:
    service = session_service(repository, clock, session_sliding_expiration=sliding)
    session, _ = await service.get_or_create(None)
    clock.advance(minutes=14)

    authorized = await service.authorize(session.id)

    assert authorized.id == session.id
    assert authorized.expires_at == (clock.now + TTL if renewed else session.expires_at)


async def test_authorize_without_an_id_is_session_invalid(service: SessionService) -> None:
    with pytest.raises(SessionInvalidError):
        await service.authorize(None)


async def test_authorize_of_an_unknown_id_is_session_invalid(service: SessionService) -> None:
    await service.get_or_create(None)

    with pytest.raises(SessionInvalidError):
        await service.authorize(uuid.uuid4())


async def test_authorize_of_an_expired_session_is_session_expired(service: SessionService, clock: FakeClock) -> None:
    session, _ = await service.get_or_create(None)
    clock.advance(minutes=15)

    with pytest.raises(SessionExpiredError):
        await service.authorize(session.id)


# --- delete ----------------------------------------------------------------------------------------


async def test_deleting_a_session_deletes_first_what_every_dependent_holds_for_it(
    repository: FakeSessionRepository, clock: FakeClock, log: list[tuple[str, Any]]
) -> None:
    service = session_service(repository, clock, FakeSessionDependent("videos", log), FakeSessionDependent("chat", log))
    session, _ = await service.get_or_create(None)
    other, _ = await service.get_or_create(None)

    await service.delete(session.id)

    assert log == [("videos", [session.id]), ("chat", [session.id]), ("sessions", [session.id])]
    assert list(repository.rows) == [other.id]
    with pytest.raises(SessionInvalidError):
        await service.authorize(session.id)


async def test_expired_sessions_are_deleted_in_batches_with_their_dependents_then_garbage_is_collected(
    repository: FakeSessionRepository, clock: FakeClock, log: list[tuple[str, Any]]
) -> None:
    transaction = FakeTransaction()
    service = session_service(
        repository, clock, FakeSessionDependent("videos", log), FakeSessionDependent("chat", log),
        transaction=transaction, session_cleanup_batch_size=2,
    )  # fmt: skip
    expired = [(await service.get_or_create(None))[0].id for _ in range(5)]
    clock.advance(minutes=20)
    live, _ = await service.get_or_create(None)
    opened = transaction.opened

    deleted = await service.delete_expired()

    assert deleted == 5
    assert list(repository.rows) == [live.id]
    batches = [ids for name, ids in log if name == "videos"]
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert sorted(id_ for batch in batches for id_ in batch) == sorted(expired)
    assert [entry for entry in log if entry[0] == "chat"] == [("chat", batch) for batch in batches]
    assert log[-2:] == [("videos.collect_garbage", clock.now), ("chat.collect_garbage", clock.now)]
    assert transaction.opened - opened == 3 + 1  # one unit of work per batch, one for the garbage


async def test_a_last_full_batch_ends_the_cleanup_without_an_empty_delete(
    repository: FakeSessionRepository, clock: FakeClock, log: list[tuple[str, Any]]
) -> None:
    service = session_service(repository, clock, FakeSessionDependent("videos", log), session_cleanup_batch_size=2)
    for _ in range(4):
        await service.get_or_create(None)
    clock.advance(minutes=20)

    deleted = await service.delete_expired()

    assert deleted == 4 and repository.rows == {}
    assert [len(ids) for name, ids in log if name in ("videos", "sessions")] == [2, 2, 2, 2]


async def test_with_nothing_expired_garbage_is_still_collected(
    repository: FakeSessionRepository, clock: FakeClock, log: list[tuple[str, Any]]
) -> None:
    service = session_service(repository, clock, FakeSessionDependent("videos", log))
    await service.get_or_create(None)

    assert await service.delete_expired() == 0

    assert log == [("videos.collect_garbage", clock.now)]
    assert len(repository.rows) == 1
