"""Video ingestion through HTTP: the real youtube-transcript-api over recorded YouTube responses,
the real langchain-openai client against a local OpenAI-compatible server, real PostgreSQL."""

import asyncio
import json
import secrets
from typing import Any

import httpx
import numpy as np
import pytest

from services.video_rag.chunking import Chunk, window_sentences
from tests.conftest import add_videos, expire_session, scalar
from tests.fakes.openai_server import FakeOpenAI, fake_embedding
from tests.fakes.youtube import FakeYouTube, hour_of_captions

pytestmark = pytest.mark.asyncio


class FreshIds(dict[str, str]):
    """A new random video id per name, per test: the database outlives a test run."""

    def __missing__(self, name: str) -> str:
        self[name] = secrets.token_urlsafe(8)[:11]
        return self[name]


V = FreshIds()


@pytest.fixture(autouse=True)
def fresh_ids() -> None:
    V.clear()


async def chunks_of(video_id: str) -> int:
    return int(await scalar("SELECT count(*) FROM video_chunk WHERE video_id = :v", v=video_id) or 0)


async def videos_stored(video_id: str) -> int:
    return int(await scalar("SELECT count(*) FROM video WHERE video_id = :v", v=video_id) or 0)


async def test_added_video_is_chunked_embedded_and_stored(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI
) -> None:
    fake_youtube.add(V["video"], captions={("en", "manual"): hour_of_captions("volcano", seconds=600)},
                     title="Volcanoes", channel="Geo")  # fmt: skip

    (result,) = await add_videos(client, session_id, f"https://www.youtube.com/watch?v={V['video']}&t=42s")

    assert result["status"] == "added" and result["error"] is None
    video = result["video"]
    assert video["video_id"] == V["video"] and video["title"] == "Volcanoes" and video["channel"] == "Geo"
    assert video["url"] == f"https://www.youtube.com/watch?v={V['video']}"
    assert video["language_code"] == "en" and video["is_generated"] is False
    assert video["duration_seconds"] == pytest.approx(600)
    assert video["chunk_count"] == await chunks_of(V["video"]) >= 10
    # Each window's span words: its own and those of the two windows after it (what it is embedded as).
    rows = await rows_of(
        "SELECT content, span_words FROM video_chunk WHERE video_id = :v ORDER BY start_seconds", v=V["video"]
    )
    own = [len(set(row[0].lower().split())) for row in rows]  # distinct words
    assert [row[1] for row in rows] == [sum(own[i : i + 3]) for i in range(len(own))]
    assert await scalar("SELECT span_words FROM video WHERE video_id = :v", v=V["video"]) == sum(row[1] for row in rows)
    assert await scalar("SELECT count(*) FROM video_chunk WHERE video_id = :v AND embedding IS NULL", v=V["video"]) == 0
    assert (
        await scalar("SELECT vector_dims(embedding) FROM video_chunk WHERE video_id = :v LIMIT 1", v=V["video"]) == 1536
    )
    assert (
        await scalar(
            "SELECT count(*) FROM video_chunk"
            " WHERE video_id = :v AND content_tsv @@ to_tsquery('english', 'volcanoes')",
            v=V["video"],
        )
        == video["chunk_count"]
    )
    last = "FROM video_chunk WHERE video_id = :v ORDER BY start_seconds DESC LIMIT 1"  # each vector is its text's
    content = await scalar(f"SELECT content {last}", v=V["video"])
    stored = json.loads(await scalar(f"SELECT embedding::text {last}", v=V["video"]))
    np.testing.assert_allclose(stored, fake_embedding(content, 1536), rtol=1e-6)
    # And a vector per sentence of each window, its own text's, under the window's place.
    sentences = window_sentences([Chunk(row[0], 0, 0) for row in rows])
    stored_sentences = await rows_of(
        "SELECT s.chunk_seq, s.seq, s.embedding::text FROM video_sentence s JOIN video v ON v.id = s.video_key"
        " WHERE v.video_id = :v ORDER BY s.chunk_seq, s.seq",
        v=V["video"],
    )
    assert len(sentences) == len(rows)  # one a window: these captions have no punctuation, as automatic ones
    windows = [window for window, _ in sentences]
    assert [(row[0], row[1]) for row in stored_sentences] == [(w, windows[:n].count(w)) for n, w in enumerate(windows)]
    for (_, sentence), row in zip(sentences, stored_sentences, strict=True):
        np.testing.assert_allclose(json.loads(row[2]), fake_embedding(sentence, 1536), rtol=1e-6)
    embedded = sum(len(call["input"]) for call in fake_openai.calls("/v1/embeddings"))
    assert embedded == video["chunk_count"] + len(sentences)


async def test_nul_characters_in_youtubes_names_are_dropped_not_fatal(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube
) -> None:
    """PostgreSQL cannot store NUL: a title or channel (oEmbed's JSON) that holds one is stored without
    it. (Captions can't: they come as XML, which has no NUL.)"""
    fake_youtube.add(V["video"], title="Katla\x00 erupts", channel="Geo\x00")

    (result,) = await add_videos(client, session_id, V["video"])

    assert result["status"] == "added"
    assert result["video"]["title"] == "Katla erupts" and result["video"]["channel"] == "Geo"


async def rows_of(sql: str, **params: object) -> list[Any]:
    from sqlalchemy import text

    from services.common.database import transaction

    async with transaction() as db:
        return list((await db.execute(text(sql), params)).all())


async def toast_rows() -> int:
    toast = await scalar("SELECT reltoastrelid::regclass::text FROM pg_class WHERE relname = 'video_chunk'")
    return int(await scalar(f"SELECT count(*) FROM {toast}"))


async def test_chunk_rows_are_stored_whole_with_their_vectors(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube
) -> None:
    """A 1536-dimension vector (6 KB) stays in its row's heap page: nothing goes to the TOAST table,
    which every exact vector scan would otherwise read back through its index."""
    fake_youtube.add(V["video"], captions={("en", "manual"): hour_of_captions("glacier", seconds=600)})
    before = await toast_rows()

    (result,) = await add_videos(client, session_id, V["video"])

    assert result["status"] == "added" and result["video"]["chunk_count"] >= 10
    assert await toast_rows() == before


async def test_each_input_gets_its_own_result_and_one_failure_never_fails_the_others(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI
) -> None:
    fake_youtube.add(V["a"])
    fake_youtube.add(V["b"], mode="transcripts_disabled")
    fake_youtube.add(V["c"], mode="age_restricted")
    fake_youtube.add(V["d"], mode="request_blocked")
    fake_youtube.add(V["e"], watch_status=503)
    fake_youtube.add(V["f"], captions={("de", "manual"): [(0, 2, "hallo welt")]})
    fake_youtube.add(V["g"])
    inputs = ["youtu.be/" + V["a"], "https://example.com/watch?v=" + V["a"], V["b"], V["c"],
              V["d"], V["e"], V["f"], V["z"], V["g"]]  # fmt: skip

    results = await add_videos(client, session_id, *inputs, languages=["tlh"])
    results_en = await add_videos(client, session_id, V["g"], "https://m.youtube.com/watch?v=" + V["g"])

    assert [r["input"] for r in results] == inputs
    codes = [r["error"]["code"] if r["error"] else r["status"] for r in results]
    assert codes == ["no_transcript", "invalid_url", "transcripts_disabled", "age_restricted", "request_blocked",
                     "upstream_error", "no_transcript", "video_unavailable", "no_transcript"]  # fmt: skip
    assert [r["status"] for r in results_en] == ["added", "already_added"]
    assert results_en[0]["video"] == results_en[1]["video"]
    assert await videos_stored(V["b"]) == 0


async def test_missing_language_is_translated_and_manual_captions_beat_generated_ones(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube
) -> None:
    fake_youtube.add(V["h"], captions={("es", "manual"): [(0, 2, "hola")]})
    fake_youtube.add(V["i"], captions={("en", "asr"): [(0, 2, "generated")], ("en", "manual"): [(0, 2, "manual")]})

    translated, manual = await add_videos(client, session_id, V["h"], V["i"])

    assert translated["video"]["language_code"] == "en" and translated["video"]["is_generated"] is True
    assert manual["video"]["is_generated"] is False
    assert await scalar("SELECT content FROM video_chunk WHERE video_id = :v", v=V["i"]) == "manual"


async def test_a_second_session_reuses_the_stored_video_without_fetching_or_embedding(
    client: httpx.AsyncClient, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI
) -> None:
    fake_youtube.add(V["other"], captions={("en", "manual"): hour_of_captions("river", seconds=300)})
    first = (await client.post("/api/sessions")).json()["session_id"]
    second = (await client.post("/api/sessions")).json()["session_id"]
    await add_videos(client, first, V["other"])
    youtube_calls, embedding_calls = len(fake_youtube.requests), len(fake_openai.calls("/v1/embeddings"))

    (result,) = await add_videos(client, second, V["other"])

    assert result["status"] == "added"
    assert len(fake_youtube.requests) == youtube_calls
    assert len(fake_openai.calls("/v1/embeddings")) == embedding_calls
    assert await videos_stored(V["other"]) == 1


async def test_stored_copies_are_reused_in_the_order_of_the_requested_languages(
    client: httpx.AsyncClient, fake_youtube: FakeYouTube
) -> None:
    captions = {("en", "manual"): hour_of_captions("river", seconds=120),
                ("de", "manual"): hour_of_captions("fluss", seconds=120)}  # fmt: skip
    fake_youtube.add(V["both"], captions=captions)
    fake_youtube.add(V["english"], captions={("en", "manual"): hour_of_captions("lake", seconds=120)})
    sessions = [(await client.post("/api/sessions")).json()["session_id"] for _ in range(4)]
    await add_videos(client, sessions[0], V["both"], V["english"], languages=["en"])
    await add_videos(client, sessions[1], V["both"], languages=["de"])
    youtube_calls = len(fake_youtube.requests)

    german_first = await add_videos(client, sessions[2], V["both"], V["english"], languages=["de", "en"])
    english_first = await add_videos(client, sessions[3], V["english"], V["both"], languages=["en", "de"])

    assert [r["video"]["language_code"] for r in german_first] == ["de", "en"]
    assert [r["video"]["language_code"] for r in english_first] == ["en", "en"]
    assert len(fake_youtube.requests) == youtube_calls  # all four were stored copies
    assert await videos_stored(V["both"]) == 2


async def test_two_sessions_adding_the_same_video_at_once_end_with_one_copy(
    client: httpx.AsyncClient, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI
) -> None:
    fake_youtube.add(V["j"], captions={("en", "manual"): hour_of_captions("glacier", seconds=300)})
    sessions = [(await client.post("/api/sessions")).json()["session_id"] for _ in range(4)]

    results = await asyncio.gather(*(add_videos(client, s, V["j"]) for s in sessions))

    assert all(r[0]["status"] == "added" for r in results)
    assert await videos_stored(V["j"]) == 1
    assert await chunks_of(V["j"]) == results[0][0]["video"]["chunk_count"]
    assert await scalar("SELECT count(*) FROM session_video WHERE video_id = :v", v=V["j"]) == 4


async def test_embedding_server_failing_after_retries_stores_nothing(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI
) -> None:
    fake_youtube.add(V["k"])
    fake_openai.always_fail = 500

    (result,) = await add_videos(client, session_id, V["k"])

    assert result["status"] == "failed" and result["error"]["code"] == "upstream_error"
    assert len(fake_openai.calls("/v1/embeddings")) == 3  # the first try and OPENAI_MAX_RETRIES=2 retries
    assert await videos_stored(V["k"]) == 0
    assert await chunks_of(V["k"]) == 0
    (listed,) = (await client.get("/api/videos", headers={"X-Session-Id": session_id})).json()["videos"]
    assert listed["status"] == "failed" and listed["error"]["code"] == "upstream_error"
    assert listed["chunk_count"] is None and listed["progress"] is None


async def test_a_rate_limited_embedding_request_is_retried(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI
) -> None:
    fake_youtube.add(V["l"])
    fake_openai.failures.append((429, {"Retry-After": "0"}))

    (result,) = await add_videos(client, session_id, V["l"])

    assert result["status"] == "added"
    assert len(fake_openai.calls("/v1/embeddings")) == 2


async def test_wrong_embedding_dimension_is_an_upstream_error(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI
) -> None:
    fake_youtube.add(V["m"])
    fake_openai.wrong_dimension = True

    (result,) = await add_videos(client, session_id, V["m"])

    assert result["error"]["code"] == "upstream_error"
    assert await videos_stored(V["m"]) == 0


async def test_limits_per_request_per_session_and_per_video_length(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube, settings
) -> None:
    settings(MAX_URLS_PER_REQUEST=3, MAX_VIDEOS_PER_SESSION=2, MAX_TRANSCRIPT_SECONDS=600)
    for video_id in (V["n"], V["o"], V["p"]):
        fake_youtube.add(video_id)
    fake_youtube.add(V["q"], captions={("en", "manual"): hour_of_captions("long", seconds=900)})
    headers = {"X-Session-Id": session_id}

    too_many = await client.post("/api/videos", json={"urls": ["a", "b", "c", "d"]}, headers=headers)
    long = await add_videos(client, session_id, V["q"])
    listed = (await client.get("/api/videos", headers=headers)).json()["videos"]
    await client.delete("/api/videos/" + V["q"], headers=headers)  # a failed video counts until removed
    results = await add_videos(client, session_id, V["n"], V["o"], V["p"])

    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "invalid_request"
    assert long[0]["error"]["code"] == "limit_exceeded"
    assert [(v["video_id"], v["status"], v["error"]["code"]) for v in listed] == [(V["q"], "failed", "limit_exceeded")]
    assert [r["status"] for r in results] == ["added", "added", "failed"]
    assert results[2]["error"]["code"] == "limit_exceeded"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"urls": []},
        {"urls": "dQw4w9WgXcQ"},
        {"urls": [5]},
        {"urls": ["x"], "languages": ["english!"]},
        {"urls": ["x"], "languages": []},
        {"urls": ["x"], "extra": 1},
    ],
)
async def test_malformed_request_is_400_and_stores_nothing(
    client: httpx.AsyncClient, session_id: str, body: dict[str, object]
) -> None:
    response = await client.post("/api/videos", json=body, headers={"X-Session-Id": session_id})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


async def test_videos_need_a_session(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/videos", json={"urls": [V["video"]]})).status_code == 401
    assert (await client.get("/api/videos")).json()["error"]["code"] == "session_required"
    assert (await client.delete(f"/api/videos/{V['video']}")).status_code == 401


async def test_list_is_oldest_first_and_remove_deletes_the_link(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube
) -> None:
    for video_id in (V["r"], V["s"]):
        fake_youtube.add(video_id)
    headers = {"X-Session-Id": session_id}
    await add_videos(client, session_id, V["r"])
    await add_videos(client, session_id, V["s"])

    listed = (await client.get("/api/videos", headers=headers)).json()["videos"]
    removed = await client.delete("/api/videos/" + V["r"], headers=headers)
    again = await client.delete("/api/videos/" + V["r"], headers=headers)
    after = (await client.get("/api/videos", headers=headers)).json()["videos"]

    assert [v["video_id"] for v in listed] == [V["r"], V["s"]]
    assert removed.status_code == 204
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert [v["video_id"] for v in after] == [V["s"]]


async def test_chunks_go_with_the_last_reference_and_a_shared_video_survives_while_referenced(
    client: httpx.AsyncClient, fake_youtube: FakeYouTube
) -> None:
    fake_youtube.add(V["t"])
    fake_youtube.add(V["u"])
    fake_youtube.add(V["v"])
    a, b, c = [(await client.post("/api/sessions")).json()["session_id"] for _ in range(3)]
    await add_videos(client, a, V["t"], V["u"], V["v"])
    await add_videos(client, b, V["t"])
    await add_videos(client, c, V["u"])

    await client.delete("/api/videos/" + V["t"], headers={"X-Session-Id": a})
    assert await chunks_of(V["t"]) > 0  # b still has it
    await client.delete("/api/videos/" + V["t"], headers={"X-Session-Id": b})
    assert await chunks_of(V["t"]) == 0 and await videos_stored(V["t"]) == 0

    await client.delete("/api/sessions/current", headers={"X-Session-Id": a})
    assert await videos_stored(V["v"]) == 0 and await chunks_of(V["v"]) == 0
    assert await chunks_of(V["u"]) > 0  # c still has it

    await expire_session(c)
    from devhost.host import DevHost, functions_of
    from function_app import app

    host = DevHost(app, timers=False)
    await host.run_timer(host.timer_functions[0])
    assert await videos_stored(V["u"]) == 0 and await chunks_of(V["u"]) == 0
    assert await scalar("SELECT count(*) FROM session_video WHERE session_id = :s", s=c) == 0
    assert functions_of(app)


async def test_videos_added_in_one_request_are_listed_in_input_order(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube
) -> None:
    ids = sorted((secrets.token_urlsafe(8)[:11] for _ in range(3)), reverse=True)
    for video_id in ids:
        fake_youtube.add(video_id)

    await add_videos(client, session_id, *ids)

    listed = (await client.get("/api/videos", headers={"X-Session-Id": session_id})).json()["videos"]
    assert [v["video_id"] for v in listed] == ids
