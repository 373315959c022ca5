"""What the app logs: one JSON line per request, with a session hash, never a secret or a raw id."""

import json
import logging

import httpx
import pytest

from services.common.settings import get_settings
from services.common.telemetry import hash_session_id

pytestmark = pytest.mark.asyncio


async def test_each_request_logs_one_json_line_without_raw_ids_or_secrets(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, database_url: str
) -> None:
    caplog.set_level(logging.INFO)
    created = (await client.post("/api/sessions")).json()["session_id"]
    headers = {"X-Session-Id": created}
    await client.get("/api/videos", headers=headers)
    await client.post("/api/chat", json={"question": "anything"}, headers=headers)
    await client.delete("/api/videos/not-there", headers=headers)
    await client.get("/api/videos", headers={"X-Session-Id": "not-a-session"})

    lines = [r.getMessage() for r in caplog.records if r.name == "services.requests"]
    requests = [json.loads(line) for line in lines]
    assert [(r["function"], r["status"]) for r in requests] == [
        ("GetOrCreateSession", 201),
        ("GetVideos", 200),
        ("GetInference", 409),
        ("RemoveVideo", 404),
        ("GetVideos", 401),
    ]
    assert all(r["invocation_id"] and r["duration_ms"] >= 0 for r in requests)
    assert {r["session"] for r in requests[:4]} == {hash_session_id(created)}
    assert requests[4]["session"] is None
    everything = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    secret = get_settings().openai_key
    assert secret is not None and secret.get_secret_value() not in everything
    assert created not in everything
    assert "Traceback" not in everything
