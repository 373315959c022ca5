"""Shared fixtures: a real PostgreSQL + pgvector with the migrations applied (the embedded one unless
PG_CONNECTION_STRING is set), and an HTTP client that goes through the registered functions."""

import atexit
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from devhost import azurite
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.youtube import FakeYouTube

# The OpenAI-compatible server runs for the whole run: the app reads its URL from the settings.
FAKE_OPENAI = FakeOpenAI(dimensions=int(os.environ.get("EMBEDDING_DIMENSIONS", "1536"))).start()

# Azurite (the real storage emulator, installed by `make setup`) holds the ingestion queue for the whole
# run, in memory, on a port of its own; devhost processes started by the tests inherit its connection.
AZURITE_PORT = azurite.free_port()
AZURITE = azurite.start(AZURITE_PORT)
atexit.register(AZURITE.terminate)
os.environ[azurite.STORAGE_SETTING] = azurite.connection_string(AZURITE_PORT)
os.environ.setdefault("INGEST_QUEUE_NAME", "video-ingest")  # an app setting: the trigger reads %INGEST_QUEUE_NAME%

# Before the app reads its settings. The test database is kept apart from `make dev`'s.
os.environ.setdefault("PG_EMBEDDED_DATA_DIR", ".data/test-pgdata")
os.environ.setdefault("SESSION_CLEANUP_SCHEDULE", "0 0 0 * * *")
os.environ["OPENAI_BASE_URL"] = FAKE_OPENAI.base_url
FAKE_OPENAI_KEY = "sk-test-key-not-a-secret"
os.environ["OPENAI_KEY"] = FAKE_OPENAI_KEY
os.environ.setdefault("OPENAI_MAX_RETRIES", "2")
# Every test request comes from one address, and the database outlives a run: the rate and spending
# limits are off (0) but in the tests of the limits, which set their own through `settings`.
for name in (
    "RATE_LIMIT_SESSIONS_PER_HOUR",
    "RATE_LIMIT_VIDEOS_PER_HOUR",
    "RATE_LIMIT_QUESTIONS_PER_MINUTE",
    "RATE_LIMIT_QUESTIONS_PER_HOUR",
    "EMBEDDING_TOKENS_PER_HOUR",
    "EMBEDDING_TOKENS_PER_DAY",
    "CHAT_CALLS_PER_HOUR",
    "CHAT_CALLS_PER_DAY",
):
    os.environ.setdefault(name, "0")
for name in (
    "AZURE_OPENAI_ENDPOINT",
    "YOUTUBE_PROXY_HTTP_URL",
    "YOUTUBE_PROXY_HTTPS_URL",
    "WEBSHARE_PROXY_USERNAME",
):
    os.environ.pop(name, None)


PROJECT_ROOT = Path(__file__).resolve().parents[1]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
INVOCATION = re.compile(r'(invocation[_ ]id"?: "?|\(invocation |Invocation id: )' + UUID.pattern, re.I)


class LogAudit(logging.Handler):
    """Every log record of the whole run, checked at its end: no secret, no raw id, no stack trace."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.problems: list[str] = []
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        message = record.getMessage()
        where = f"{record.name}: {message[:200]}"
        if record.exc_info or record.exc_text or "Traceback (most recent call last)" in message:
            self.problems.append(f"stack trace in {where}")
        if FAKE_OPENAI_KEY in message or "hunter2" in message:
            self.problems.append(f"secret in {where}")
        if record.name.startswith(("services", "devhost")) and UUID.search(INVOCATION.sub("", message)):
            self.problems.append(f"raw id in {where}")


@pytest.fixture(scope="session", autouse=True)
def audit_logs() -> Iterator[LogAudit]:
    audit = LogAudit()
    root = logging.getLogger()
    level = root.level
    root.addHandler(audit)
    root.setLevel(logging.INFO)
    yield audit
    root.removeHandler(audit)
    root.setLevel(level)
    assert audit.problems == [], "\n".join(audit.problems[:20])


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    FAKE_OPENAI.reset()
    yield FAKE_OPENAI
    FAKE_OPENAI.reset()


@pytest.fixture
def fake_youtube(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYouTube]:
    """YouTube for this test: every requests.Session the app makes for YouTube is answered by it."""
    from services.video_rag import youtube

    fake = FakeYouTube()
    monkeypatch.setattr(youtube, "new_http_client", fake.http_client)
    yield fake
    fake.release()  # a test that blocked it leaves no request hanging


def test_host_json() -> dict[str, Any]:
    """host.json, but the queue is polled every 0.2 s at most when idle (2 s in host.json): the tests
    wait less for a message to be picked up; every other setting is the app's own."""
    host_json: dict[str, Any] = json.loads((PROJECT_ROOT / "host.json").read_text(encoding="utf-8"))
    host_json["extensions"]["queues"]["maxPollingInterval"] = 200
    return host_json


@pytest.fixture
async def ingest_queue(devhost, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A queue of this test's own (in Azurite) for the ingestion, and the app's queue trigger running on
    it in this process (the fakes of the test answer it), as devhost runs it."""
    from services.common.settings import get_settings

    name = f"ingest-{uuid.uuid4().hex[:16]}"
    monkeypatch.setenv("INGEST_QUEUE_NAME", name)
    get_settings.cache_clear()
    devhost.start_queues()
    yield name
    await devhost.stop_queues()
    get_settings.cache_clear()


@pytest.fixture
def served(database_url: str, fake_youtube: FakeYouTube, ingest_queue: str) -> Iterator[str]:
    """devhost (the real ASGI host of the app, its queue trigger included) on a free port, in a thread
    of this process."""
    from devhost.host import DevHost
    from function_app import app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            DevHost(app, timers=False, host_json=test_host_json()), host="127.0.0.1", port=port, log_level="warning"
        )
    )  # its lifespan starts the queue trigger, on this test's queue
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "devhost did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch):
    """Changes app settings for one test, as an operator would: environment, then a fresh read."""
    from services.common.settings import get_settings

    def change(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name.upper(), str(value))
        get_settings.cache_clear()

    yield change
    monkeypatch.undo()
    get_settings.cache_clear()


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

    return DevHost(app, timers=False, queues=False, host_json=test_host_json())


@pytest.fixture
async def client(devhost, ingest_queue: str) -> AsyncIterator[httpx.AsyncClient]:
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


async def add_videos(client: httpx.AsyncClient, session_id: str, *urls: str, **extra: object) -> list[dict[str, Any]]:
    """POST /api/videos, answered within INGEST_WAIT_SECONDS: here, with fast fakes, every video is
    done by then (200)."""
    response = await client.post(
        "/api/videos", json={"urls": list(urls), **extra}, headers={"X-Session-Id": session_id}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["videos"])


async def scalar(sql: str, **params: object) -> Any:
    """One value from the database, to check what was (not) stored."""
    from sqlalchemy import text

    from services.common.database import transaction

    async with transaction() as db:
        return (await db.execute(text(sql), params)).scalar()
