"""Chat through HTTP: hybrid retrieval in the real PostgreSQL through LangChain's PGVectorStore,
the real langchain-openai chat client against the local OpenAI-compatible server, memory in
LangChain's PostgresChatMessageHistory."""

import re
import secrets
from typing import Any

import httpx
import pytest

from services.common.settings import Settings
from tests.conftest import expire_session, scalar
from tests.fakes.openai_server import FakeOpenAI, fake_embedding

pytestmark = pytest.mark.asyncio

PASSAGE = re.compile(r'<passage number="(\d+)"[^>]*>\n(.*?)\n</passage>', re.S)


def srt(*texts: str, seconds: int = 65) -> str:
    """One caption per text, each long enough to make a passage of its own."""
    blocks = []
    for i, text in enumerate(texts):
        start, end = i * seconds, i * seconds + seconds - 1
        blocks.append(
            f"{i + 1}\n00:{start // 60:02d}:{start % 60:02d},000 --> 00:{end // 60:02d}:{end % 60:02d},000\n{text}"
        )
    return "\n\n".join(blocks) + "\n"


async def upload(client: httpx.AsyncClient, session_id: str, title: str, *texts: str) -> dict[str, Any]:
    video_id = secrets.token_urlsafe(8)[:11]
    response = await client.post(
        "/api/transcripts",
        json={"title": title, "format": "srt", "content": srt(*texts), "source_url": f"https://youtu.be/{video_id}"},
        headers={"X-Session-Id": session_id},
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["video"])


async def ask(client: httpx.AsyncClient, session_id: str, question: str, **extra: object) -> httpx.Response:
    return await client.post("/api/chat", json={"question": question, **extra}, headers={"X-Session-Id": session_id})


def passages_in(body: dict[str, Any]) -> dict[int, str]:
    prompt = body["messages"][-1]["content"]
    return {int(n): text for n, text in PASSAGE.findall(prompt)}


def answer_citing(word: str, extra: str = "") -> Any:
    """A fake model that cites the passages holding `word` (and whatever `extra` adds)."""

    def answer(body: dict[str, Any]) -> str:
        if "Rewrite" in body["messages"][0]["content"]:
            return str(body["messages"][-1]["content"]).rsplit("Last question:", 1)[1].strip()
        cited = [n for n, text in passages_in(body).items() if word in text]
        return "Here it is " + "".join(f"[{n}]" for n in cited) + extra

    return answer


async def test_the_passage_holding_the_answer_is_retrieved_and_cited_with_its_deep_link(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI
) -> None:
    volcano_lines = ["lava flows downhill slowly", "ash clouds ground planes",
                     "the magma chamber under Katla holds zircon crystals", "geologists measure tremors"]  # fmt: skip
    volcano = await upload(client, session_id, "Volcanoes", *volcano_lines)
    await upload(client, session_id, "Rivers", "rivers carve canyons", "deltas form at river mouths", "salmon swim")
    await upload(client, session_id, "Glaciers", "glaciers move slowly", "ice cores record climate", "crevasses")
    fake_openai.chat_answer = answer_citing("zircon", extra=" and also [42].")

    response = await ask(client, session_id, "Which crystals does the magma chamber hold?")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "generative"
    assert body["answer"] == "Here it is [1] and also."
    (source,) = body["sources"]
    assert source["index"] == 1 and source["video_id"] == volcano["video_id"] and source["title"] == "Volcanoes"
    assert "zircon" in source["text"]
    assert (source["start_seconds"], source["end_seconds"]) == (130.0, 194.0)
    assert source["url"] == f"https://www.youtube.com/watch?v={volcano['video_id']}&t=130s"
    prompt = fake_openai.calls("/v1/chat/completions")[-1]
    numbered = passages_in(prompt)
    assert "zircon" in numbered[1]  # retrieved first
    assert "Question: Which crystals does the magma chamber hold?" in prompt["messages"][-1]["content"]


async def test_sources_map_one_to_one_to_citations_in_order_of_first_citation(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI
) -> None:
    await upload(client, session_id, "Mixed", "alpha topic one", "beta topic two", "gamma topic three")

    def answer(body: dict[str, Any]) -> str:
        numbers = sorted(passages_in(body))
        return f"B [{numbers[1]}], A [{numbers[0]}][{numbers[1]}], none [0] [77]."

    fake_openai.chat_answer = answer

    body = (await ask(client, session_id, "topic")).json()

    assert body["answer"] == "B [1], A [2][1], none."
    assert [s["index"] for s in body["sources"]] == [1, 2]
    cited = set(re.findall(r"\[(\d+)\]", body["answer"]))
    assert cited == {str(s["index"]) for s in body["sources"]}


async def test_hybrid_ranks_a_passage_found_by_both_retrievers_above_one_found_by_one(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI
) -> None:
    both = "it was all about quantum zebra migration seen with other filler words around today"
    dense_only = "what was it all about"  # stop words only: nothing for full text
    # One video each: a window is read with the windows after it, and these have none.
    await upload(client, session_id, "Zebras", dense_only)
    await upload(client, session_id, "More zebras", both)
    for topic in ("penguins waddle on ice", "volcanoes erupt lava", "bees make honey", "owls hunt at night"):
        await upload(client, session_id, "Other", topic)
    question = "what was it all about, the quantum zebra migration?"
    q = fake_embedding(question, 1536)
    assert float(q @ fake_embedding(dense_only, 1536)) > float(q @ fake_embedding(both, 1536))  # dense prefers it
    fake_openai.chat_answer = lambda body: " ".join(f"[{n}]" for n in sorted(passages_in(body)))

    body = (await ask(client, session_id, question)).json()

    texts = [s["text"] for s in body["sources"]]
    assert texts.index(both) < texts.index(dense_only)


async def test_a_session_never_gets_another_sessions_passages(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    a, b = [(await client.post("/api/sessions")).json()["session_id"] for _ in range(2)]
    secret = "secretword" + secrets.token_hex(3)
    mine = await upload(client, a, "Secret", f"the {secret} is hidden here", "nothing else")
    await upload(client, b, "Public", "public knowledge only", "weather report")
    fake_openai.chat_answer = lambda body: " ".join(f"[{n}]" for n in sorted(passages_in(body)))

    answer = (await ask(client, b, f"what is the {secret}?")).json()
    via_ids = await ask(client, b, f"what is the {secret}?", video_ids=[mine["video_id"]])

    assert all(s["video_id"] != mine["video_id"] for s in answer["sources"])
    assert secret not in str(answer)
    assert via_ids.status_code == 400 and via_ids.json()["error"]["code"] == "invalid_request"


async def test_video_ids_restrict_retrieval_to_those_videos(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI
) -> None:
    first = await upload(client, session_id, "One", "cats purr loudly", "cats sleep")
    await upload(client, session_id, "Two", "cats hunt mice", "cats climb")
    fake_openai.chat_answer = lambda body: " ".join(f"[{n}]" for n in sorted(passages_in(body)))

    body = (await ask(client, session_id, "cats", video_ids=[first["video_id"]])).json()

    assert body["sources"] and {s["video_id"] for s in body["sources"]} == {first["video_id"]}


async def test_a_follow_up_is_rewritten_before_retrieval(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI
) -> None:
    await upload(client, session_id, "Katla", "Katla erupted in 1918", "after the eruption the floods came")

    def answer(body: dict[str, Any]) -> str:
        if "Rewrite" in body["messages"][0]["content"]:
            return "What happened after the eruption of Katla?"
        return "See " + "".join(f"[{n}]" for n in passages_in(body))

    fake_openai.chat_answer = answer
    await ask(client, session_id, "When did Katla erupt?")

    await ask(client, session_id, "and what came after that?")

    rewrite, final = fake_openai.calls("/v1/chat/completions")[-2:]
    assert "When did Katla erupt?" in rewrite["messages"][-1]["content"]
    assert "Last question: and what came after that?" in rewrite["messages"][-1]["content"]
    assert "Question: What happened after the eruption of Katla?" in final["messages"][-1]["content"]


async def test_history_keeps_order_roles_and_sources_and_is_cleared(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI
) -> None:
    await upload(client, session_id, "Birds", "owls hunt at night", "eagles soar high")
    fake_openai.chat_answer = answer_citing("owls")
    headers = {"X-Session-Id": session_id}
    await ask(client, session_id, "Who hunts at night?")
    await ask(client, session_id, "And who soars?")

    messages = (await client.get("/api/chat/history", headers=headers)).json()["messages"]
    cleared = await client.delete("/api/chat/history", headers=headers)
    after = (await client.get("/api/chat/history", headers=headers)).json()["messages"]

    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in messages[::2]] == ["Who hunts at night?", "And who soars?"]
    assert messages[1]["sources"][0]["text"] == "owls hunt at night" and messages[0]["sources"] is None
    assert all(m["created_at"].endswith("+00:00") for m in messages)
    assert cleared.status_code == 204 and after == []


async def test_history_goes_with_the_session_deleted_or_expired(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    a, b = [(await client.post("/api/sessions")).json()["session_id"] for _ in range(2)]
    for session in (a, b):
        await upload(client, session, "Trees", "oaks grow slowly")
        await ask(client, session, "oaks?")
    table = Settings().langchain_chat_message_table_name
    count = f'SELECT count(*) FROM "{table}" WHERE session_id = :s'
    assert await scalar(count, s=a) == 2

    await client.delete("/api/sessions/current", headers={"X-Session-Id": a})
    await expire_session(b)
    from devhost.host import DevHost
    from function_app import app

    host = DevHost(app, timers=False)
    await host.run_timer(host.timer_functions[0])

    assert await scalar(count, s=a) == 0
    assert await scalar(count, s=b) == 0


async def test_chat_without_videos_is_409_no_videos(client: httpx.AsyncClient, session_id: str) -> None:
    response = await ask(client, session_id, "anything?")

    assert response.status_code == 409 and response.json()["error"]["code"] == "no_videos"


@pytest.mark.parametrize("body", [{}, {"question": ""}, {"question": "   "}, {"question": "x" * 2001}, {"question": 5},
                                  {"question": "q", "video_ids": "abc"}, {"question": "q", "video_ids": []},
                                  {"question": "q", "extra": True}])  # fmt: skip
async def test_malformed_question_is_400(client: httpx.AsyncClient, session_id: str, body: dict[str, Any]) -> None:
    response = await client.post("/api/chat", json=body, headers={"X-Session-Id": session_id})

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("status", [429, 500])
async def test_chat_model_failing_after_retries_is_503_and_stores_no_turn(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI, status: int
) -> None:
    await upload(client, session_id, "Stars", "stars shine at night")
    fake_openai.failures.extend([(status, {"Retry-After": "0"})] * 2)  # two failures: retried, then fine
    fake_openai.chat_answer = answer_citing("stars")
    recovered = await ask(client, session_id, "stars?")
    chat_calls = len(fake_openai.calls("/v1/chat/completions"))
    fake_openai.always_fail = status

    failed = await ask(client, session_id, "stars again?")

    assert recovered.status_code == 200 and recovered.json()["sources"]
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "service_unavailable"
    assert len(fake_openai.calls("/v1/chat/completions")) - chat_calls == 3  # one try and two retries
    history = (await client.get("/api/chat/history", headers={"X-Session-Id": session_id})).json()["messages"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["stars?"]


async def test_embedding_server_down_at_question_time_is_503(
    client: httpx.AsyncClient, session_id: str, fake_openai: FakeOpenAI
) -> None:
    await upload(client, session_id, "Moons", "moons orbit planets")
    fake_openai.always_fail = 500

    response = await ask(client, session_id, "moons?")

    assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"
