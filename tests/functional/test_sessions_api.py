"""The session routes and the authorizer, through the registered functions (API.md, "Sessions")."""

import uuid
from datetime import datetime

import httpx
import pytest

from services.common.settings import get_settings
from tests.conftest import expire_session

pytestmark = pytest.mark.asyncio


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


async def test_new_session_is_created_with_a_server_generated_uuid(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/sessions")

    assert response.status_code == 201
    body = response.json()
    assert uuid.UUID(body["session_id"]).version == 4
    assert body["created"] is True
    created_at = datetime.fromisoformat(body["created_at"])
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert created_at.utcoffset() is not None
    assert (expires_at - created_at).total_seconds() == pytest.approx(get_settings().session_expire_minutes * 60, abs=1)


async def test_live_session_is_returned_with_200_and_the_same_id(client: httpx.AsyncClient, session_id: str) -> None:
    by_body = await client.post("/api/sessions", json={"session_id": session_id})
    by_header = await client.post("/api/sessions", headers={"X-Session-Id": session_id})

    for response in (by_body, by_header):
        assert response.status_code == 200
        assert response.json()["session_id"] == session_id
        assert response.json()["created"] is False


@pytest.mark.parametrize("given", [str(uuid.uuid4()), "not-a-uuid", "' OR 1=1 --", "0" * 100])
async def test_unknown_or_malformed_id_gets_a_new_session_never_the_given_one(
    client: httpx.AsyncClient, given: str
) -> None:
    response = await client.post("/api/sessions", json={"session_id": given})

    assert response.status_code == 201
    assert response.json()["session_id"] != given


async def test_expired_id_gets_a_new_session(client: httpx.AsyncClient, session_id: str) -> None:
    await expire_session(session_id)

    response = await client.post("/api/sessions", json={"session_id": session_id})

    assert response.status_code == 201
    assert response.json()["session_id"] != session_id


async def test_routes_behind_the_authorizer_need_a_session(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/api/sessions/current"), 401, "session_required")
    assert_error(await client.delete("/api/sessions/current", headers={"X-Session-Id": "  "}), 401, "session_required")


@pytest.mark.parametrize("given", [str(uuid.uuid4()), "not-a-uuid", "x" * 5000, "1; DROP TABLE session"])
async def test_unknown_or_malformed_session_is_401_session_invalid(client: httpx.AsyncClient, given: str) -> None:
    response = await client.delete("/api/sessions/current", headers={"X-Session-Id": given})

    assert_error(response, 401, "session_invalid")


async def test_expired_session_is_refused_before_the_timer_ran(client: httpx.AsyncClient, session_id: str) -> None:
    await expire_session(session_id)

    response = await client.delete("/api/sessions/current", headers={"X-Session-Id": session_id})

    assert_error(response, 401, "session_expired")


async def test_session_id_is_also_accepted_as_query_parameter(client: httpx.AsyncClient, session_id: str) -> None:
    response = await client.delete("/api/sessions/current", params={"session_id": session_id})

    assert response.status_code == 204


async def test_deleted_session_is_gone(client: httpx.AsyncClient, session_id: str) -> None:
    headers = {"X-Session-Id": session_id}

    assert (await client.delete("/api/sessions/current", headers=headers)).status_code == 204

    assert_error(await client.delete("/api/sessions/current", headers=headers), 401, "session_invalid")
    assert (await client.post("/api/sessions", headers=headers)).json()["session_id"] != session_id


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"session_id": 5}', "application/json"),
        (b'{"session_id": "a", "admin": true}', "application/json"),
        (b"[]", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b'{"session_id": null}', "text/plain"),
    ],
)
async def test_bad_body_is_400_invalid_request(client: httpx.AsyncClient, body: bytes, content_type: str) -> None:
    response = await client.post("/api/sessions", content=body, headers={"content-type": content_type})

    assert_error(response, 400, "invalid_request")


async def test_huge_body_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"session_id": "' + b"a" * (get_settings().max_request_body_bytes + 1) + b'"}'

    response = await client.post("/api/sessions", content=body, headers={"content-type": "application/json"})

    assert_error(response, 413, "payload_too_large")


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/nothing-here"), 404, "not_found")
    assert_error(await client.get("/api/sessions"), 404, "not_found")
