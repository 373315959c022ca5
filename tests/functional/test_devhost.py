"""devhost: `python -m devhost` as a user runs it (a real HTTP server in its own process), and the
requests it hands to the functions."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import azure.functions as func
import httpx
import pytest
from fastapi import Request, Response
from sqlalchemy import create_engine, make_url, text

from devhost.host import DevHost
from services.common.database import PROJECT_ROOT
from tests.fakes.youtube import FakeYouTube


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def devhost_command(port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "devhost", "--port", str(port), "--settings", "/nonexistent", *options]


@dataclass
class Devhost:
    process: subprocess.Popen[bytes]
    url: str
    log: IO[bytes]

    def output(self) -> str:
        """What it printed so far, on stdout and stderr."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@contextmanager
def devhost_process(*options: str, **settings: str) -> Iterator[Devhost]:
    """`python -m devhost` on a free port, once it answers; SIGTERM at the end if it still runs."""
    port = free_port()
    env = {**os.environ, **settings}
    with tempfile.TemporaryFile() as log:  # a pipe nobody reads would block the server once full
        process = subprocess.Popen(devhost_command(port, *options), cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
        devhost = Devhost(process, f"http://127.0.0.1:{port}", log)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise AssertionError(devhost.output()[-3000:])
                try:
                    httpx.get(f"{devhost.url}/api/openapi.json", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "devhost did not start"
                    time.sleep(0.1)
            yield devhost
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def running_devhost(**settings: str) -> Iterator[str]:
    with devhost_process(**settings) as devhost:
        yield devhost.url


def running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, which an init that reaps nothing may keep, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(") ", 1)[-1][:1] != "Z"


def embedded_database(data_dir: Path) -> dict[str, str]:
    """Settings for a devhost with its own embedded PostgreSQL in `data_dir`."""
    return {"PG_CONNECTION_STRING": "", "PG_EMBEDDED_DATA_DIR": str(data_dir)}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedded database's data for this module's devhosts, each of which starts and stops it."""
    return tmp_path_factory.mktemp("devhost") / "pgdata"


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


def test_migrate_applies_the_migrations_to_the_configured_database_before_it_serves(database_url: str) -> None:
    name = f"devhost_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        empty = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        with devhost_process("--migrate", PG_CONNECTION_STRING=empty) as devhost:
            created = httpx.post(f"{devhost.url}/api/sessions", timeout=10)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

    assert created.status_code == 201


def test_by_default_it_says_where_it_serves_how_to_stop_and_what_answers_and_nothing_more(data_dir: Path) -> None:
    models = {"EMBEDDING_PROVIDER": "none", "CHAT_PROVIDER": "none"}  # as with no OpenAI settings at all
    with devhost_process(**embedded_database(data_dir), **models) as devhost:
        health = httpx.get(f"{devhost.url}/api/health", timeout=10)
        output = devhost.output()

    port = devhost.url.rsplit(":", 1)[1]
    assert health.status_code == 200
    assert output.splitlines() == [
        f"devhost: serving function_app on 127.0.0.1:{port} (http://localhost:{port}/api)",
        f"chat page: http://localhost:{port}/api/app",
        "stop: Ctrl-C; more detail: --verbose",
        "search: full text alone (no embedding provider); answers: quotes of the transcripts (no chat model)",
    ]


def test_a_wrong_setting_stops_it_at_once_with_one_line_that_names_the_setting() -> None:
    env = {**os.environ, "SESSION_EXPIRE_MINUTES": "abc"}
    done = subprocess.run(devhost_command(free_port()), cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=60)

    output = (done.stdout + done.stderr).decode()
    assert done.returncode == 1
    assert output.startswith("devhost: Invalid app settings: SESSION_EXPIRE_MINUTES") and len(output.splitlines()) == 1


def test_a_busy_port_fails_at_once_in_one_line_before_the_database_starts(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]

        result = subprocess.run(
            devhost_command(port),
            cwd=PROJECT_ROOT,
            env={**os.environ, **embedded_database(tmp_path / "pgdata")},
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert result.returncode != 0
    assert result.stderr == f"port {port} is in use: stop the other devhost or pass --port\n"
    assert result.stdout == ""
    assert not (tmp_path / "pgdata").exists()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_stops_the_embedded_database_devhost_started(data_dir: Path, stop: signal.Signals) -> None:
    with devhost_process(**embedded_database(data_dir)) as devhost:
        health = httpx.get(f"{devhost.url}/api/health", timeout=10)
        postgres = int((data_dir / "postmaster.pid").read_text().split()[0])
        try:
            devhost.process.send_signal(stop)
            exit_code = devhost.process.wait(timeout=30)
        finally:
            if running(postgres):  # not left behind by a failing run
                os.kill(postgres, signal.SIGQUIT)

    assert health.status_code == 200
    assert exit_code == 128 + stop
    assert not running(postgres)
    assert not (data_dir / "postmaster.pid").exists()


def test_a_stop_signal_while_the_database_starts_waits_for_it_then_stops_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    process = subprocess.Popen(
        devhost_command(free_port()),
        cwd=PROJECT_ROOT,
        env={**os.environ, **embedded_database(data_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: data_dir.exists() and any(data_dir.iterdir()), 60)  # initdb at work
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=60)
    finally:
        process.kill()

    assert exit_code == 128 + signal.SIGTERM
    assert not (data_dir / "postmaster.pid").exists()
    with running_devhost(**embedded_database(data_dir)) as url:  # initdb was not cut short
        assert httpx.get(f"{url}/api/health", timeout=10).status_code == 200


async def test_a_route_parameter_is_the_path_decoded_once_like_the_functions_host() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="echo/{value}", methods=["GET"])
    def echo(req: Request) -> Response:
        return Response(req.path_params["value"])

    transport = httpx.ASGITransport(app=DevHost(app, timers=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        percent = await http.get("/api/echo/dQw4w9WgXc%2551")
        space = await http.get("/api/echo/a%20b")

    assert percent.text == "dQw4w9WgXc%51"
    assert space.text == "a b"


async def test_a_video_id_encoded_twice_names_no_video(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube
) -> None:
    from tests.conftest import add_videos  # here, not at the top: benchmarks import this module's hosts

    video_id = secrets.token_urlsafe(8)[:10] + "Q"
    fake_youtube.add(video_id)
    await add_videos(client, session_id, video_id)
    headers = {"X-Session-Id": session_id}

    removed = await client.delete(f"/api/videos/{video_id[:-1]}%2551", headers=headers)  # %25 is "%", %51 "Q"
    listed = (await client.get("/api/videos", headers=headers)).json()["videos"]

    assert removed.status_code == 404
    assert [video["video_id"] for video in listed] == [video_id]
