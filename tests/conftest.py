"""Shared fixtures: a real PostgreSQL + pgvector with the migrations applied (the embedded one unless
PG_CONNECTION_STRING is set), and an HTTP client that goes through the registered functions."""

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

# Before the app reads its settings. The test database is kept apart from `make dev`'s.
os.environ.setdefault("PG_EMBEDDED_DATA_DIR", ".data/test-pgdata")
os.environ.setdefault("SESSION_CLEANUP_SCHEDULE", "0 0 0 * * *")


@pytest.fixture(scope="session")
def database_url() -> str:
    from services.common import database
    from services.common.settings import get_settings

    url = database.database_url()  # the embedded database arrives migrated
    if get_settings().database_url is not None:
        database.migrate(url)
    return url


@pytest.fixture(scope="session")
def devhost(database_url: str):
    from devhost.host import DevHost
    from function_app import app

    return DevHost(app, timers=False)


@pytest.fixture
async def client(devhost) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=devhost)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:7071") as http:
        yield http


@pytest.fixture
async def session_id(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/sessions")
    assert response.status_code == 201
    return str(response.json()["session_id"])


async def expire_session(session_id: str) -> None:
    """Moves a session's expiry into the past, as time would."""
    from sqlalchemy import text

    from services.common.database import transaction

    async with transaction() as db:
        await db.execute(
            text("UPDATE session SET expires_at = now() - interval '1 minute' WHERE id = :id"),
            {"id": uuid.UUID(session_id)},
        )
