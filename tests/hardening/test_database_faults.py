"""The database restarted under the app: 503 while it is down, recovery without restarting the app,
and every write acknowledged before the outage still there."""

import os
import time
from pathlib import Path

import httpx
import pytest

from services.common.database import migrate
from tests.functional.test_devhost import running_devhost

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("PG_CONNECTION_STRING")), reason="stops and starts an embedded PostgreSQL of its own"
)


def test_requests_during_an_outage_get_503_and_the_app_recovers_on_its_own(tmp_path: Path) -> None:
    import pgserver
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="delete")
    url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    migrate(url)

    with running_devhost(PG_CONNECTION_STRING=url, DB_CONNECT_TIMEOUT_SECONDS="2") as base:
        session_id = httpx.post(f"{base}/api/sessions", timeout=30).json()["session_id"]
        headers = {"X-Session-Id": session_id}
        upload = {"title": "Before the outage", "format": "text", "content": "written before the database went away"}
        stored = httpx.post(f"{base}/api/transcripts", json=upload, headers=headers, timeout=30)
        assert stored.status_code == 201

        pg_ctl(["-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        during = [
            httpx.get(f"{base}/api/videos", headers=headers, timeout=30),
            httpx.post(f"{base}/api/sessions", timeout=30),
            httpx.post(f"{base}/api/chat", json={"question": "still there?"}, headers=headers, timeout=30),
        ]
        health_down = httpx.get(f"{base}/api/health", timeout=30)

        server.ensure_postgres_running()
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/api/health", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "the app did not recover"
            time.sleep(0.2)
        after = httpx.get(f"{base}/api/videos", headers=headers, timeout=30)

    assert [r.status_code for r in during] == [503, 503, 503]
    assert all(r.json()["error"]["code"] == "service_unavailable" for r in during)
    assert health_down.status_code == 503 and health_down.json()["database"] == "unavailable"
    assert after.status_code == 200
    assert [v["title"] for v in after.json()["videos"]] == ["Before the outage"]
