"""`python -m devhost` as a user runs it: a real HTTP server in its own process."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, text

from services.common.database import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_devhost(**settings: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, **settings}
    with tempfile.TemporaryFile() as log:  # a pipe nobody reads would block the server once full
        process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--port", str(port), "--settings", "/nonexistent"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise AssertionError(log.read().decode(errors="replace")[-3000:])
                try:
                    httpx.get(f"{base_url}/api/openapi.json", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "devhost did not start"
                    time.sleep(0.1)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=10)


def wait_until(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_real_http_request_reaches_a_registered_function_and_timers_run_on_startup(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    expired_id = uuid.uuid4()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO session (id, created_at, last_seen_at, expires_at) VALUES (:id, :t, :t, :t)"),
            {"id": expired_id, "t": an_hour_ago},
        )

    def expired_session_gone() -> bool:
        with engine.connect() as connection:
            return connection.execute(text("SELECT 1 FROM session WHERE id = :id"), {"id": expired_id}).first() is None

    try:
        with running_devhost(PG_CONNECTION_STRING=database_url, SESSION_CLEANUP_RUN_ON_STARTUP="true") as url:
            created = httpx.post(f"{url}/api/sessions", timeout=10)
            deleted = httpx.delete(
                f"{url}/api/sessions/current",
                headers={"X-Session-Id": created.json()["session_id"]},
                timeout=10,
            )
            assert wait_until(expired_session_gone)
    finally:
        engine.dispose()

    assert created.status_code == 201
    assert created.headers["content-type"] == "application/json; charset=utf-8"
    assert deleted.status_code == 204


def test_database_down_gives_503_and_health_says_so() -> None:
    unreachable = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"

    with running_devhost(PG_CONNECTION_STRING=unreachable, DB_CONNECT_TIMEOUT_SECONDS="2") as url:
        health = httpx.get(f"{url}/api/health", timeout=30)
        session = httpx.post(f"{url}/api/sessions", timeout=30)

    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "database": "unavailable"}
    assert session.status_code == 503
    assert session.json()["error"]["code"] == "service_unavailable"
    assert "nobody" not in session.text


@pytest.mark.parametrize("setting", ["PG_CONNECTION_STRING=mysql://root:hunter2@db/x", "SESSION_EXPIRE_MINUTES=soon"])
def test_a_wrong_setting_fails_fast_naming_the_setting_and_not_its_value(setting: str) -> None:
    name, value = setting.split("=", 1)

    result = subprocess.run(
        [sys.executable, "-c", "import function_app"],
        cwd=PROJECT_ROOT,
        env={**os.environ, name: value},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert name in result.stderr
    assert value not in result.stderr
    assert "hunter2" not in result.stderr
