"""Uploaded captions (SaveTranscript)."""

import secrets

import httpx
import pytest

from tests.conftest import add_videos, scalar
from tests.fakes.youtube import FakeYouTube, hour_of_captions
from tests.real_data import CAPTIONS, EVAL_DEV, without_real_captions

pytestmark = pytest.mark.asyncio


SRT = "1\n00:00:01,000 --> 00:00:04,000\nThe {word} is here\n\n2\n00:01:05,000 --> 00:01:08,000\nAnd more\n"


def unique_srt() -> tuple[str, str]:
    word = "w" + secrets.token_hex(6)
    return word, SRT.format(word=word)


async def upload(client: httpx.AsyncClient, session_id: str, **body: object) -> httpx.Response:
    return await client.post("/api/transcripts", json=body, headers={"X-Session-Id": session_id})


async def test_uploaded_srt_becomes_a_video_with_chunks(client: httpx.AsyncClient, session_id: str) -> None:
    word, content = unique_srt()

    response = await upload(client, session_id, title="My talk", format="srt", content=content, language_code="en")

    assert response.status_code == 201, response.text
    video = response.json()["video"]
    assert video["video_id"].startswith("upload-") and video["url"] is None
    assert video["title"] == "My talk" and video["duration_seconds"] == 68.0 and video["chunk_count"] == 1
    assert await scalar("SELECT count(*) FROM video_chunk WHERE content LIKE :w", w=f"%{word}%") == 1
    listed = (await client.get("/api/videos", headers={"X-Session-Id": session_id})).json()["videos"]
    assert [v["video_id"] for v in listed] == [video["video_id"]]


async def test_upload_with_a_youtube_source_takes_its_id_and_deep_links(
    client: httpx.AsyncClient, session_id: str
) -> None:
    video_id = secrets.token_urlsafe(8)[:11]
    content = "WEBVTT\n\n00:00:10.000 --> 00:00:12.000\nhello there\n"

    response = await upload(
        client, session_id, title="t", format="vtt", content=content, source_url=f"https://youtu.be/{video_id}"
    )

    assert response.status_code == 201
    assert response.json()["video"]["video_id"] == video_id
    assert response.json()["video"]["url"] == f"https://www.youtube.com/watch?v={video_id}"


async def test_uploaded_captions_never_stand_in_for_youtubes_in_another_session(
    client: httpx.AsyncClient, session_id: str, fake_youtube: FakeYouTube
) -> None:
    video_id, (word, content) = secrets.token_urlsafe(8)[:11], unique_srt()
    await upload(
        client, session_id, title="t", format="srt", content=content, source_url=f"https://youtu.be/{video_id}"
    )
    fake_youtube.add(video_id, captions={("en", "manual"): hour_of_captions("river", seconds=120)})
    other = (await client.post("/api/sessions")).json()["session_id"]

    (result,) = await add_videos(client, other, video_id)

    assert result["status"] == "added" and fake_youtube.requests_for(video_id)  # fetched from YouTube

    async def found(session: str) -> list[str]:
        response = await client.post("/api/search", json={"query": word}, headers={"X-Session-Id": session})
        return [result["text"] for result in response.json()["results"]]

    theirs = await found(other)
    assert theirs and not any(word in text for text in theirs)  # YouTube's captions
    assert any(word in text for text in await found(session_id))  # the upload stays the uploader's


@without_real_captions
@pytest.mark.parametrize(
    ("video_id", "duration"),
    [("aircAruvnKk", 1105.64), ("IHZwWFHWa-w", 1207.46)],  # a cue in the middle, the last cue, ends before it starts
)
async def test_a_real_caption_file_is_stored_with_its_duration(
    client: httpx.AsyncClient, session_id: str, video_id: str, duration: float
) -> None:
    content = (CAPTIONS / f"{video_id}.srt").read_text(encoding="utf-8")
    listed = (EVAL_DEV / "videos.txt").read_text(encoding="utf-8").splitlines()
    title, published_duration = next(
        (row[3], row[2]) for row in (line.split("\t") for line in listed) if row[1:2] == [video_id]
    )

    response = await upload(
        client, session_id, title=title, format="srt", content=content, source_url=f"https://youtu.be/{video_id}"
    )

    assert response.status_code == 201, response.text
    video = response.json()["video"]
    assert video["video_id"] == video_id and video["chunk_count"] >= duration // 60
    assert video["duration_seconds"] == pytest.approx(duration)  # the end of its last cue
    assert round(video["duration_seconds"]) == int(published_duration)


@pytest.mark.parametrize(
    "body",
    [
        {"title": "t", "format": "srt", "content": "1\nnot a timing\ntext"},
        {"title": "t", "format": "vtt", "content": "no header\n"},
        {"title": "t", "format": "doc", "content": "x"},
        {"title": "", "format": "text", "content": "x"},
        {"title": "   ", "format": "text", "content": "x"},
        {"title": "t", "format": "text", "content": " \n\t "},
        {"title": "t", "format": "srt", "content": "1\n00:00:01,000 --> 00:00:02,000\n   \n"},
        {"title": "t", "format": "text", "content": "x", "source_url": "https://example.com/v"},
        {"title": "t", "format": "text"},
    ],
)
async def test_malformed_upload_is_400_and_stores_nothing(
    client: httpx.AsyncClient, session_id: str, body: dict[str, object]
) -> None:
    response = await upload(client, session_id, **body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert (await client.get("/api/videos", headers={"X-Session-Id": session_id})).json()["videos"] == []


async def test_a_transcript_too_long_is_refused_in_words_about_transcripts(
    client: httpx.AsyncClient, session_id: str, settings
) -> None:
    settings(max_transcript_seconds=60)  # SRT's second caption ends at 68 s

    response = await upload(client, session_id, title="t", format="srt", content=unique_srt()[1])

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"].startswith("This transcript runs longer than 1 minutes")
