"""Streamed answers (`POST /api/chat` with `Accept: text/event-stream`) over real HTTP through devhost
(uvicorn), with the real langchain-openai client streaming from the local OpenAI-compatible server,
retrieval and history in the real PostgreSQL."""

import asyncio
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from services.video_rag.schemas import ChatResponse
from tests.fakes.openai_server import FakeOpenAI
from tests.functional.test_chat_api import ask, passages_in, srt

pytestmark = pytest.mark.asyncio

STREAM = {"Accept": "text/event-stream"}
SUGGESTED = (
    "\n<suggestions>\n- What erupted in 1918?\n2. Where is Katla? [1]\n\n- What erupted in 1918?\n</suggestions>"
)


@asynccontextmanager
async def http(served: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        yield client


async def new_session(client: httpx.AsyncClient) -> str:
    return str((await client.post("/api/sessions")).json()["session_id"])


async def upload(client: httpx.AsyncClient, session_id: str, video_id: str, *texts: str) -> None:
    body = {"title": "Katla", "format": "srt", "content": srt(*texts), "source_url": f"https://youtu.be/{video_id}"}
    response = await client.post("/api/transcripts", json=body, headers={"X-Session-Id": session_id})
    assert response.status_code == 201, response.text


async def events_of(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The Server-Sent Events of a response, as (event, data) in order."""
    name, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data += line.removeprefix("data: ")
        elif line == "" and data:
            yield name, json.loads(data)
            name, data = "message", ""


async def streamed(client: httpx.AsyncClient, session_id: str, question: str) -> list[tuple[str, dict[str, Any]]]:
    headers = {**STREAM, "X-Session-Id": session_id}
    async with client.stream("POST", "/api/chat", json={"question": question}, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        return [event async for event in events_of(response)]


async def until(condition: Callable[[], bool], seconds: float) -> bool:
    """Whether `condition` holds within `seconds` (checked every 50 ms)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def history(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    response = await client.get("/api/chat/history", headers={"X-Session-Id": session_id})
    return list(response.json()["messages"])


def katla_answer(body: dict[str, Any]) -> str:
    cited = [n for n, text in passages_in(body).items() if "1918" in text]
    return "Katla erupted in 1918 " + "".join(f"[{n}]" for n in cited) + ", with floods after it." + SUGGESTED


async def test_a_streamed_answer_is_sources_then_tokens_then_done_holding_the_json_answer(
    served: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.chat_answer = katla_answer
    video_id = secrets.token_urlsafe(8)[:11]
    lines = ("ash clouds ground planes", "Katla erupted in 1918", "after the eruption the floods came")
    async with http(served) as client:
        streaming, plain = await new_session(client), await new_session(client)
        for session in (streaming, plain):
            await upload(client, session, video_id, *lines)

        events = await streamed(client, streaming, "When did Katla erupt?")
        answer = (await ask(client, plain, "When did Katla erupt?")).json()
        remembered = await history(client, streaming)

    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done"
    assert set(names[1:-1]) == {"token"} and len(names) > 4  # word by word
    sources = events[0][1]["sources"]
    assert [s["index"] for s in sources] == list(range(1, len(sources) + 1)) and len(sources) == 3
    tokens = "".join(data["text"] for name, data in events if name == "token")
    cited = next(s["index"] for s in sources if "1918" in s["text"])
    assert tokens == f"Katla erupted in 1918 [{cited}], with floods after it.\n"  # no suggestions block
    done = events[-1][1]
    assert done == answer  # exactly the JSON answer
    ChatResponse.model_validate(done)
    assert done["answer"] == "Katla erupted in 1918 [1], with floods after it."
    assert done["suggestions"] == ["What erupted in 1918?", "Where is Katla?"]
    assert [m["content"] for m in remembered] == ["When did Katla erupt?", done["answer"]]
    assert remembered[1]["sources"] == done["sources"]


async def test_an_extractive_answer_streams_in_one_token_without_suggestions(
    served: str, fake_openai: FakeOpenAI, settings
) -> None:
    settings(chat_provider="none")
    async with http(served) as client:
        session = await new_session(client)
        await upload(client, session, secrets.token_urlsafe(8)[:11], "geysers erupt hot water", "mud pots bubble")

        events = await streamed(client, session, "What do geysers erupt?")
        answer = (await ask(client, session, "What do geysers erupt?")).json()

    assert [name for name, _ in events] == ["sources", "token", "done"]
    done = events[-1][1]
    assert done["mode"] == "extractive" and done["suggestions"] == [] and answer["suggestions"] == []
    assert events[1][1]["text"] == done["answer"] and "geysers erupt hot water" in done["answer"]
    assert events[0][1]["sources"] == done["sources"]
    assert fake_openai.calls("/v1/chat/completions") == []


async def test_a_model_failing_mid_stream_ends_it_with_an_error_event_and_stores_no_turn(
    served: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.chat_answer = katla_answer
    fake_openai.stream_error_after = 3
    async with http(served) as client:
        session = await new_session(client)
        await upload(client, session, secrets.token_urlsafe(8)[:11], "Katla erupted in 1918")

        events = await streamed(client, session, "When did Katla erupt?")
        remembered = await history(client, session)

    assert [name for name, _ in events] == ["sources", "token", "token", "token", "error"]
    assert events[-1][1] == {"code": "service_unavailable", "message": events[-1][1]["message"]}
    assert "Retry later" in events[-1][1]["message"]
    assert remembered == []


async def test_a_client_that_leaves_mid_stream_stops_the_model_and_leaves_no_turn(
    served: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.chat_answer = lambda body: "one two three four five six seven eight nine ten [1]."
    fake_openai.stream_hold = hold = threading.Event()
    async with http(served) as client:
        session = await new_session(client)
        await upload(client, session, secrets.token_urlsafe(8)[:11], "counting numbers aloud")
        headers = {**STREAM, "X-Session-Id": session}
        async with client.stream("POST", "/api/chat", json={"question": "count"}, headers=headers) as response:
            async for name, _ in events_of(response):
                if name == "token":
                    break  # the client leaves after the first token
        # The model's stream is held after its first token: the app closes it, or the wait times out.
        dropped = await until(lambda: fake_openai.streams[0]["end"] == "dropped", seconds=15)
        hold.set()
        await asyncio.sleep(0.5)  # time enough for a turn to be written, were it to be
        remembered = await history(client, session)
        fake_openai.stream_hold = None
        again = await streamed(client, session, "count again")
        remembered_after = await history(client, session)

    assert dropped
    assert remembered == []
    assert again[-1][0] == "done"
    assert [m["content"] for m in remembered_after] == ["count again", again[-1][1]["answer"]]


async def test_errors_before_the_stream_begins_are_json_error_answers(served: str, fake_openai: FakeOpenAI) -> None:
    async with http(served) as client:
        session = await new_session(client)
        no_videos = await client.post("/api/chat", json={"question": "q"}, headers={**STREAM, "X-Session-Id": session})
        invalid = await client.post("/api/chat", json={"question": ""}, headers={**STREAM, "X-Session-Id": session})
        unauthorized = await client.post("/api/chat", json={"question": "q"}, headers=STREAM)

    assert (no_videos.status_code, no_videos.json()["error"]["code"]) == (409, "no_videos")
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (400, "invalid_request")
    assert (unauthorized.status_code, unauthorized.json()["error"]["code"]) == (401, "session_required")


@pytest.mark.parametrize(
    ("accept", "streams"),
    [("application/json", False), ("*/*", False), ("text/event-stream;q=0, application/json", False),
     ("application/json, text/event-stream", True), ("Text/Event-Stream; q=0.5", True)],
)  # fmt: skip
async def test_only_an_accept_naming_event_stream_gets_one(
    served: str, fake_openai: FakeOpenAI, accept: str, streams: bool
) -> None:
    fake_openai.chat_answer = katla_answer
    async with http(served) as client:
        session = await new_session(client)
        await upload(client, session, secrets.token_urlsafe(8)[:11], "Katla erupted in 1918")
        response = await client.post(
            "/api/chat", json={"question": "Katla?"}, headers={"Accept": accept, "X-Session-Id": session}
        )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream" if streams else "application/json")
    if not streams:
        assert set(response.json()) == {"answer", "mode", "sources", "suggestions"}


async def test_the_openapi_document_describes_the_events(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()

    stream = document["paths"]["/api/chat"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    events = {name: ref["$ref"].rsplit("/", 1)[1] for name, ref in stream["x-events"].items()}
    assert events == {"sources": "ChatSourcesEvent", "token": "ChatTokenEvent", "done": "ChatResponse",
                      "error": "StreamError"}  # fmt: skip
    assert document["components"]["schemas"]["ChatResponse"]["required"] == ["answer", "mode", "sources", "suggestions"]
