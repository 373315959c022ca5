"""Rate limits per client and spending limits of the service, through HTTP (docs/API.md, "Limits"):
over a limit, 429 `rate_limited` with Retry-After, and the request does nothing; other clients go on;
entries a client adds to X-Forwarded-For do not make it another client.

Each test's clients are new random addresses (the database outlives a run), and the limits' clock is
frozen in the middle of a minute and of an hour, so no window ends during a test."""

import ipaddress
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import delete, insert, not_

from services.common import database, limits
from services.common.models import RateCounter
from tests.conftest import scalar
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.youtube import FakeYouTube, hour_of_captions

pytestmark = pytest.mark.asyncio

NOW = datetime.now(UTC).replace(minute=30, second=30, microsecond=0)
HOUR_END = NOW.replace(minute=0, second=0) + timedelta(hours=1)  # 1,770 s after NOW
DAY_END = NOW.replace(hour=0, minute=0, second=0) + timedelta(days=1)
Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
GLACIER = "the glacier moves a metre a day"
QUESTION = "How fast does the glacier move?"


def new_address() -> str:
    """An address of the benchmarking range 198.18.0.0/15, new to the database most likely."""
    return str(ipaddress.IPv4Address("198.18.0.0") + secrets.randbits(17))


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "utcnow", lambda: NOW)


@pytest.fixture
def from_address(devhost, ingest_queue: str) -> Client:
    """An HTTP client whose requests come from `address` (devhost appends it to X-Forwarded-For, as
    Azure's front end does)."""

    @asynccontextmanager
    async def client(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=devhost, client=(address, 50123))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost:7071") as http:
            yield http

    return client


@pytest.fixture
async def spending_counters(database_url: str) -> AsyncIterator[None]:
    """No spending counted yet in this window (the service's counters are shared by every test)."""

    async def clear() -> None:
        async with database.transaction() as db:
            await db.execute(delete(RateCounter).where(not_(RateCounter.bucket.contains(":"))))

    await clear()
    yield
    await clear()


@pytest.fixture
def youtube_video(fake_youtube: FakeYouTube) -> Iterator[Callable[[], str]]:
    def add() -> str:
        video_id = secrets.token_urlsafe(8)[:11]
        fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions("glacier", seconds=300)})
        return video_id

    yield add


def assert_rate_limited(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert response.headers["Retry-After"] == str(retry_after)
    assert error["details"] == {"retry_after_seconds": retry_after}


async def new_session(http: httpx.AsyncClient) -> str:
    response = await http.post("/api/sessions")
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


async def upload(http: httpx.AsyncClient, session_id: str, content: str) -> httpx.Response:
    body = {"title": "Glaciers", "format": "text", "content": content}
    return await http.post("/api/transcripts", json=body, headers={"X-Session-Id": session_id})


async def ask(http: httpx.AsyncClient, session_id: str, question: str) -> httpx.Response:
    return await http.post("/api/chat", json={"question": question}, headers={"X-Session-Id": session_id})


async def search(http: httpx.AsyncClient, session_id: str, query: str) -> httpx.Response:
    return await http.post("/api/search", json={"query": query}, headers={"X-Session-Id": session_id})


async def test_a_client_over_its_session_limit_gets_429_and_no_session(
    from_address: Client, settings: Callable[..., None]
) -> None:
    settings(RATE_LIMIT_SESSIONS_PER_HOUR=2)
    async with from_address(new_address()) as first, from_address(new_address()) as other:
        kept = await new_session(first)
        await new_session(first)
        sessions = await scalar("SELECT count(*) FROM session")

        refused = await first.post("/api/sessions")

        assert_rate_limited(refused, retry_after=1770)
        assert await scalar("SELECT count(*) FROM session") == sessions
        resumed = await first.post("/api/sessions", json={"session_id": kept})  # resuming is not creating
        assert resumed.status_code == 200 and resumed.json()["session_id"] == kept
        assert (await other.post("/api/sessions")).status_code == 201


async def test_entries_a_client_adds_to_x_forwarded_for_do_not_make_it_another_client(
    from_address: Client, settings: Callable[..., None]
) -> None:
    settings(RATE_LIMIT_SESSIONS_PER_HOUR=1)
    async with from_address(new_address()) as http:
        await new_session(http)

        for spoofed in (new_address(), f"{new_address()}, {new_address()}", "unknown", f"[{new_address()}]:80"):
            response = await http.post("/api/sessions", headers={"X-Forwarded-For": spoofed})
            assert response.status_code == 429, spoofed


async def test_behind_a_trusted_proxy_the_address_it_appends_is_the_client(
    from_address: Client, settings: Callable[..., None]
) -> None:
    settings(RATE_LIMIT_SESSIONS_PER_HOUR=1, TRUSTED_PROXY_COUNT=2)
    first, second = new_address(), new_address()
    async with from_address(new_address()) as proxy:  # every request comes from the proxy (Front Door)

        async def create(forwarded_for: str) -> int:
            return (await proxy.post("/api/sessions", headers={"X-Forwarded-For": forwarded_for})).status_code

        assert await create(first) == 201
        assert await create(f"{first}:61000") == 429
        assert await create(f"{second}, {first}") == 429  # the client's own entry, left of the proxy's
        assert await create(second) == 201


async def test_videos_over_the_clients_limit_are_refused_before_anything_is_fetched(
    from_address: Client,
    settings: Callable[..., None],
    fake_youtube: FakeYouTube,
    youtube_video: Callable[[], str],
) -> None:
    settings(RATE_LIMIT_VIDEOS_PER_HOUR=2)
    a, b, c = youtube_video(), youtube_video(), youtube_video()
    async with from_address(new_address()) as http, from_address(new_address()) as other:
        session_id = await new_session(http)
        headers = {"X-Session-Id": session_id}

        refused = await http.post("/api/videos", json={"urls": [a, b, c]}, headers=headers)

        assert_rate_limited(refused, retry_after=1770)
        assert fake_youtube.requests == []
        assert (await http.get("/api/videos", headers=headers)).json()["videos"] == []

        added = (await http.post("/api/videos", json={"urls": [a, b, "not a url"]}, headers=headers)).json()
        assert [item["status"] for item in added["videos"]] == ["added", "added", "failed"]
        again = (await http.post("/api/videos", json={"urls": [a]}, headers=headers)).json()
        assert again["videos"][0]["status"] == "already_added"  # nothing new: nothing counted
        assert_rate_limited(await upload(http, session_id, "the glacier moves"), retry_after=1770)
        assert (await http.post("/api/videos", json={"urls": [c]}, headers=headers)).status_code == 429
        assert len((await http.get("/api/videos", headers=headers)).json()["videos"]) == 2
        # The same session from another address: limits are per client, not per session.
        assert (await other.post("/api/videos", json={"urls": [c]}, headers=headers)).status_code == 200


async def test_questions_and_searches_share_the_clients_limit_and_a_refused_one_leaves_no_trace(
    from_address: Client, settings: Callable[..., None], fake_openai: FakeOpenAI
) -> None:
    fake_openai.chat_answer = lambda body: "The glacier moves [1]."
    settings(RATE_LIMIT_QUESTIONS_PER_MINUTE=2)
    async with from_address(new_address()) as http, from_address(new_address()) as other:
        session_id = await new_session(http)
        assert (await upload(http, session_id, GLACIER)).status_code == 201
        assert (await ask(http, session_id, QUESTION)).status_code == 200
        assert (await search(http, session_id, "glacier")).status_code == 200
        model_calls = len(fake_openai.requests)

        refused = await ask(http, session_id, "And then?")

        assert_rate_limited(refused, retry_after=30)
        assert_rate_limited(await search(http, session_id, "glacier"), retry_after=30)
        assert len(fake_openai.requests) == model_calls
        history = (await http.get("/api/chat/history", headers={"X-Session-Id": session_id})).json()["messages"]
        assert [m["content"] for m in history if m["role"] == "user"] == [QUESTION]
        assert (await ask(other, session_id, "And then?")).status_code == 200  # per client, not per session


async def test_a_spent_chat_budget_refuses_every_client_before_the_model_is_called(
    from_address: Client, settings: Callable[..., None], fake_openai: FakeOpenAI, spending_counters: None
) -> None:
    fake_openai.chat_answer = lambda body: "The glacier moves [1]."
    settings(CHAT_CALLS_PER_HOUR=2)
    async with from_address(new_address()) as http, from_address(new_address()) as other:
        session_id, other_session = await new_session(http), await new_session(other)
        assert (await upload(http, session_id, GLACIER)).status_code == 201
        assert (await upload(other, other_session, GLACIER)).status_code == 201
        assert (await ask(http, session_id, QUESTION)).status_code == 200
        assert len(fake_openai.calls("/v1/chat/completions")) == 1

        # A follow-up needs two calls (its rewrite, the answer) and one is left: refused before either.
        refused = await ask(http, session_id, "And then?")

        assert_rate_limited(refused, retry_after=1770)
        assert "CHAT_CALLS_PER_HOUR" in refused.json()["error"]["message"]
        assert len(fake_openai.calls("/v1/chat/completions")) == 1
        assert len((await http.get("/api/chat/history", headers={"X-Session-Id": session_id})).json()["messages"]) == 2
        assert (await ask(other, other_session, QUESTION)).status_code == 200  # the hour's last call
        assert (await search(other, other_session, "glacier")).status_code == 200  # a search calls no chat model
        assert_rate_limited(await ask(other, other_session, QUESTION), retry_after=1770)
        assert len(fake_openai.calls("/v1/chat/completions")) == 2


async def test_an_upload_over_the_embedding_budget_is_refused_before_it_is_embedded(
    from_address: Client, settings: Callable[..., None], fake_openai: FakeOpenAI, spending_counters: None
) -> None:
    settings(EMBEDDING_TOKENS_PER_DAY=100)
    async with from_address(new_address()) as http:
        session_id = await new_session(http)

        unique = secrets.token_hex(4)  # a transcript not stored by an earlier run: it must be embedded

        refused = await upload(http, session_id, f"{GLACIER} {unique} " * 20)  # ~200 tokens

        assert_rate_limited(refused, retry_after=int((DAY_END - NOW).total_seconds()))
        assert "EMBEDDING_TOKENS_PER_DAY" in refused.json()["error"]["message"]
        assert fake_openai.calls("/v1/embeddings") == []
        assert (await http.get("/api/videos", headers={"X-Session-Id": session_id})).json()["videos"] == []
        assert (await upload(http, session_id, f"{GLACIER} {unique}")).status_code == 201
        assert len(fake_openai.calls("/v1/embeddings")) == 1


async def test_a_spent_embedding_budget_refuses_new_videos_before_fetching_and_one_that_does_not_fit_fails_alone(
    from_address: Client,
    settings: Callable[..., None],
    fake_youtube: FakeYouTube,
    fake_openai: FakeOpenAI,
    youtube_video: Callable[[], str],
    spending_counters: None,
) -> None:
    settings(EMBEDDING_TOKENS_PER_HOUR=1000)
    video = youtube_video()  # five minutes of captions: far more than one token
    async with database.transaction() as db:
        await db.execute(
            insert(RateCounter).values(bucket="embedding_tokens_per_hour", window_end=HOUR_END, count=1000)
        )
    async with from_address(new_address()) as http:
        session_id = await new_session(http)
        headers = {"X-Session-Id": session_id}

        refused = await http.post("/api/videos", json={"urls": [video]}, headers=headers)

        assert_rate_limited(refused, retry_after=1770)
        assert fake_youtube.requests == []
        async with database.transaction() as db:
            await db.execute(delete(RateCounter).where(RateCounter.bucket == "embedding_tokens_per_hour"))
            await db.execute(
                insert(RateCounter).values(bucket="embedding_tokens_per_hour", window_end=HOUR_END, count=999)
            )

        (result,) = (await http.post("/api/videos", json={"urls": [video]}, headers=headers)).json()["videos"]

        assert result["status"] == "failed" and result["error"]["code"] == "rate_limited"
        assert fake_openai.calls("/v1/embeddings") == []
        assert await scalar("SELECT count(*) FROM video WHERE video_id = :v", v=video) == 0


async def test_the_openapi_document_declares_429_with_retry_after_where_limits_apply(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()

    limited = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "429" in operation["responses"]
    }
    assert {("/api/sessions", "post"), ("/api/videos", "post"), ("/api/transcripts", "post"),
            ("/api/chat", "post"), ("/api/search", "post")} <= limited  # fmt: skip
    error = document["components"]["responses"]["Error429"]
    assert "rate_limited" in error["description"] and "Retry-After" in error["headers"]
