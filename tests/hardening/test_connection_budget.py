"""The connection budget: every app instance holds at most DB_POOL_SIZE + DB_MAX_OVERFLOW
connections; a request that finds none free waits DB_CONNECT_TIMEOUT_SECONDS, then answers 503 with
Retry-After, never 500; so does a request PostgreSQL turns away ("too many clients", 53300). Several
app processes (instances) share one PostgreSQL of small max_connections under concurrent load."""

import asyncio
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from services.common.database import dispose_engines, get_engine, migrate
from tests.functional.test_devhost import free_port, running_devhost
from tests.postgres_server import Server, dedicated_postgres

MAX_CONNECTIONS = 20
RESERVED = 3  # superuser_reserved_connections: the app's role may use the other 17
INSTANCES = 3
POOL, OVERFLOW = 3, 2  # 3 instances x 5 = 15 <= 17
OVER_POOL = 8  # a 4th instance: 15 + 8 > 17
IN_FLIGHT = 24  # users at once, across the instances
USERS = 24  # each: a session, an upload, 3 questions, a search, the history
OVER_USERS = 16

dedicated = pytest.mark.skipif(
    bool(os.environ.get("PG_CONNECTION_STRING")), reason="starts a PostgreSQL of its own (pgserver)"
)


async def test_a_request_that_finds_every_connection_busy_waits_then_answers_503_with_retry_after(
    client: httpx.AsyncClient, settings
) -> None:
    settings(DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_CONNECT_TIMEOUT_SECONDS=1)
    await dispose_engines()  # an engine of this budget
    try:
        async with get_engine().connect():  # the one connection, busy
            response = await client.post("/api/sessions")
        after = await client.post("/api/sessions")
    finally:
        settings()
        await dispose_engines()

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert after.status_code == 201


# --- several instances, one small server ---------------------------------------------------------

SRT = "".join(
    f"{n}\n00:00:{2 * n:02d},000 --> 00:00:{2 * n + 1:02d},500\nThe {{word}} crossed glacier number {n} today\n\n"
    for n in range(1, 20)
)


@contextmanager
def connections_watched(server: Server, database: str, user: str) -> Iterator[list[int]]:
    """Samples the role's connections to `database` (pg_stat_activity) from a superuser connection,
    in a thread, every 20 ms while the block runs."""
    samples: list[int] = []
    stop = threading.Event()
    engine = create_engine(server.url("postgres"))

    def watch() -> None:
        with engine.connect() as connection:
            while not stop.is_set():
                samples.append(
                    connection.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND usename = :u"),
                        {"d": database, "u": user},
                    ).scalar_one()
                )
                connection.rollback()  # a new snapshot each time
                stop.wait(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join(timeout=10)
        engine.dispose()


async def drive(bases: list[str], users: int, in_flight: int) -> tuple[Counter[int], list[httpx.Response]]:
    """`users` anonymous users, `in_flight` at once, each request on the next instance in turn: a
    session, an upload, three questions, a search, the history. Returns the statuses and the answers
    that were not 2xx."""
    statuses: Counter[int] = Counter()
    failed: list[httpx.Response] = []
    instance = itertools.cycle(bases)
    gate = asyncio.Semaphore(in_flight)

    async with httpx.AsyncClient(timeout=60) as http:

        async def call(method: str, path: str, **kwargs: object) -> httpx.Response:
            response = await http.request(method, f"{next(instance)}{path}", **kwargs)  # type: ignore[arg-type]
            statuses[response.status_code] += 1
            if not response.is_success:
                failed.append(response)
            return response

        async def user() -> None:
            async with gate:
                created = await call("POST", "/api/sessions")
                if created.status_code != 201:
                    return
                headers = {"X-Session-Id": created.json()["session_id"]}
                word = secrets.token_hex(4)
                upload = {"title": f"glaciers {word}", "format": "srt", "content": SRT.format(word=word)}
                if (await call("POST", "/api/transcripts", json=upload, headers=headers)).status_code != 201:
                    return  # no video: nothing to ask about
                for question in (f"where is the {word}?", "which glacier?", "what crossed it?"):
                    await call("POST", "/api/chat", json={"question": question}, headers=headers)
                await call("POST", "/api/search", json={"query": "glacier"}, headers=headers)
                await call("GET", "/api/chat/history", headers=headers)

        await asyncio.wait_for(asyncio.gather(*(user() for _ in range(users))), timeout=240)
    return statuses, failed


def instance_settings(url: str, pool: int, overflow: int, timer: str = "*/2 * * * * *") -> dict[str, str]:
    return {
        "PG_CONNECTION_STRING": url,
        "DB_POOL_SIZE": str(pool),
        "DB_MAX_OVERFLOW": str(overflow),
        "EMBEDDING_PROVIDER": "none",  # full text and extractive answers: the database does the work
        "CHAT_PROVIDER": "none",
        "SESSION_CLEANUP_SCHEDULE": timer,  # every 2 s: the cleanup runs during the load
    }


def running_devhosts(stack: ExitStack, *settings: dict[str, str]) -> list[str]:
    """`python -m devhost` processes started at once (each with its settings), stopped with `stack`."""
    managers = [running_devhost(**one) for one in settings]
    with ThreadPoolExecutor(len(managers)) as pool:
        futures = [pool.submit(manager.__enter__) for manager in managers]
        wait(futures)
    for manager, future in zip(managers, futures, strict=True):
        if future.exception() is None:
            stack.push(manager.__exit__)
    return [future.result() for future in futures]


@dedicated
def test_instances_within_the_budget_never_exceed_it_and_never_answer_500() -> None:
    with dedicated_postgres({"max_connections": str(MAX_CONNECTIONS)}) as server:
        server.execute("CREATE ROLE app LOGIN", "CREATE DATABASE scale OWNER app")
        server.execute("CREATE EXTENSION vector", database="scale")  # a superuser's; the rest as the app
        url = server.url("scale", user="app")
        migrate(url)
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        expired = create_engine(server.url("scale"))
        with expired.begin() as connection:  # work for the cleanup timers
            connection.execute(
                text(
                    "INSERT INTO session (id, created_at, last_seen_at, expires_at)"
                    " SELECT gen_random_uuid(), :t, :t, :t FROM generate_series(1, 300)"
                ),
                {"t": an_hour_ago},
            )

        with ExitStack() as stack:
            *bases, over = running_devhosts(
                stack,
                *[instance_settings(url, POOL, OVERFLOW)] * INSTANCES,
                instance_settings(url, OVER_POOL, 0, timer="0 0 0 1 1 *"),  # idle (no connection) until phase 2
            )
            with connections_watched(server, "scale", "app") as samples:
                statuses, failed = asyncio.run(drive(bases, USERS, IN_FLIGHT))
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and _count(expired, "SELECT count(*) FROM session") > USERS:
                    time.sleep(0.2)  # the timers delete the expired sessions, under the load or right after it
            left = _count(expired, "SELECT count(*) FROM session WHERE expires_at < now()")

            # The 4th instance joins, whose budget does not fit: PostgreSQL turns connections away.
            with connections_watched(server, "scale", "app") as over_samples:
                over_statuses, over_failed = asyncio.run(drive([*bases, over], OVER_USERS, IN_FLIGHT))
        turned_away = server.log.read_text(errors="replace").count("remaining connection slots are reserved")
        expired.dispose()

    print(
        f"\n{INSTANCES} instances x ({POOL}+{OVERFLOW}), max_connections {MAX_CONNECTIONS}: "
        f"{sum(statuses.values())} requests {dict(statuses)}, peak {max(samples)} connections; "
        f"with a 4th instance ({OVER_POOL}+0): {sum(over_statuses.values())} requests {dict(over_statuses)}, "
        f"peak {max(over_samples)}, {turned_away} connections turned away by PostgreSQL"
    )
    assert statuses[201] > 0 and statuses[200] > 0
    assert max(samples) <= INSTANCES * (POOL + OVERFLOW)
    assert left == 0
    for answers, counted in ((failed, statuses), (over_failed, over_statuses)):
        assert counted[500] == 0
        assert set(counted) <= {200, 201, 503}, counted
        for response in answers:
            assert response.json()["error"]["code"] == "service_unavailable"
            assert int(response.headers["Retry-After"]) > 0
    assert max(over_samples) <= MAX_CONNECTIONS - RESERVED


def _count(engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


# --- through PgBouncer ---------------------------------------------------------------------------


@contextmanager
def pgbouncer(server: Server, database: str, user: str) -> Iterator[str]:
    """PgBouncer (Debian's package) in transaction pooling mode in front of `database`: two server
    connections taken in turn by the transactions of every client; yields its address as host:port."""
    directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    directory.chmod(0o777)  # for PgBouncer's user
    port = free_port()
    config = directory / "pgbouncer.ini"
    config.write_text(
        f"[databases]\n{database} = host={server.socket_dir} dbname={database} user={user}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 100\n"
        "server_lifetime = 1\nserver_round_robin = 1\n"  # server connections replaced every second
        f"logfile = {directory}/pgbouncer.log\nignore_startup_parameters = extra_float_digits\n"
    )
    as_user = ["-u", "pgserver"] if os.geteuid() == 0 else []  # it will not run as root; pgserver's user
    process = subprocess.Popen(["pgbouncer", *as_user, str(config)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "pgbouncer did not start"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


CHATS = 10


@dedicated
@pytest.mark.skipif(shutil.which("pgbouncer") is None, reason="needs PgBouncer (apt-get install pgbouncer)")
def test_through_pgbouncer_in_transaction_mode_uploads_chats_and_searches_work(fake_openai) -> None:
    fake_openai.chat_answer = lambda body: "Here [1]."
    with dedicated_postgres() as server:
        server.execute("CREATE ROLE app LOGIN", "CREATE DATABASE scale OWNER app")
        server.execute("CREATE EXTENSION vector", database="scale")
        migrate(server.url("scale", user="app"))
        with pgbouncer(server, "scale", "app") as address:
            settings = {"PG_CONNECTION_STRING": f"postgresql://app@{address}/scale", "PG_PGBOUNCER": "true"}
            with running_devhost(**settings, DB_POOL_SIZE="1") as base, httpx.Client(base_url=base, timeout=60) as http:
                headers = {"X-Session-Id": http.post("/api/sessions").json()["session_id"]}
                word = secrets.token_hex(4)
                upload = {"title": "glaciers", "format": "srt", "content": SRT.format(word=word)}
                uploaded = http.post("/api/transcripts", json=upload, headers=headers)  # COPY, embeddings
                # More than psycopg's prepare_threshold (5) of the same statements on one connection,
                # whose transactions PgBouncer gives to one server connection, then another.
                chats = []
                for _ in range(CHATS):
                    chats.append(http.post("/api/chat", json={"question": f"where is the {word}?"}, headers=headers))
                    time.sleep(0.3)  # PgBouncer replaces server connections older than a second meanwhile
                searched = http.post("/api/search", json={"query": "glacier"}, headers=headers)  # PGVectorStore
                history = http.get("/api/chat/history", headers=headers)
                removed = http.delete(f"/api/videos/{uploaded.json()['video']['video_id']}", headers=headers)

    assert uploaded.status_code == 201, uploaded.text
    assert [chat.status_code for chat in chats] == [200] * CHATS
    assert chats[0].json()["sources"]
    assert searched.status_code == 200 and searched.json()["results"]
    assert len(history.json()["messages"]) == 2 * CHATS
    assert removed.status_code == 204
