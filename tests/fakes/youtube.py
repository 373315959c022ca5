"""YouTube at the network edge: recorded responses (the ones youtube-transcript-api ships in its
wheel under test/assets) served to the REAL youtube-transcript-api through the requests.Session
it accepts (`http_client=`). Nothing leaves the machine."""

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import requests
import youtube_transcript_api
from requests.adapters import BaseAdapter

ASSETS = Path(youtube_transcript_api.__file__).parent / "test" / "assets"

# innertube recordings by failure mode; "ok" is a video with captions in many languages.
INNERTUBE = {
    "ok": "youtube.innertube.json.static",
    "video_unavailable": "youtube_video_unavailable.innertube.json.static",
    "transcripts_disabled": "youtube_transcripts_disabled.innertube.json.static",
    "age_restricted": "youtube_age_restricted.innertube.json.static",
    "request_blocked": "youtube_request_blocked.innertube.json.static",
    "unplayable": "youtube_unplayable.innertube.json.static",
}


# The lines of the recorded transcript.xml.static, HTML and all.
RECORDED_CAPTIONS = [
    (0.0, 1.54, "Hey, this is just a test"),
    (1.54, 4.16, "this is <i>not</i> the original transcript"),
    (5.7, 3.239, "just something shorter, I made up for testing"),
]


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


@dataclass
class FakeVideo:
    """A video as the fake YouTube knows it. `captions` maps (language, kind) to caption lines
    `(start, duration, text)`; kind is "manual" or "asr"."""

    mode: str = "ok"
    captions: dict[tuple[str, str], list[tuple[float, float, str]]] = field(default_factory=dict)
    title: str | None = "A recorded video"
    channel: str | None = "A channel"
    watch_status: int = 200  # 429: YouTube blocks this IP; 5xx: YouTube fails
    fault: str | None = None  # "timeout", "unparsable" (a page without its data), "truncated" (cut JSON)


def hour_of_captions(topic: str, seconds: int = 3600, step: float = 3.0) -> list[tuple[float, float, str]]:
    """Deterministic captions for a long video: one line every `step` seconds."""
    return [
        (i * step, step, f"{topic} sentence {i} about part {i // 20} of the {topic} story")
        for i in range(int(seconds / step))
    ]


class FakeYouTube:
    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.videos: dict[str, FakeVideo] = {}
        self.latency_seconds = latency_seconds
        # Cleared by `block()`: every request then waits (up to 300 s) until `release()`.
        self.open = threading.Event()
        self.open.set()
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._watch_html = _asset("youtube.html.static")
        self._watch_html_bytes = self._watch_html.encode("utf-8")
        self._innertube = {mode: json.loads(_asset(name)) for mode, name in INNERTUBE.items()}
        self._unknown = json.dumps(self._innertube["video_unavailable"])
        self._rendered: dict[object, str] = {}

    def add(self, video_id: str, **kwargs: Any) -> FakeVideo:
        video = FakeVideo(**kwargs)
        if video.mode == "ok" and not video.captions:
            video.captions = {("en", "manual"): RECORDED_CAPTIONS}
        self.videos[video_id] = video
        # Rendered now, so that serving them costs the fake (and a benchmark) next to nothing.
        self._rendered[video_id] = json.dumps(self._player(video_id, video))
        for language, kind in video.captions:
            self._rendered[(video_id, language, kind)] = _transcript_xml(video.captions[(language, kind)])
        return video

    def encoded(self, body: str) -> bytes:
        """UTF-8 bytes of a response body; the large recorded pages are encoded once."""
        if body is self._watch_html:
            return self._watch_html_bytes
        return body.encode("utf-8")

    def block(self) -> None:
        """From now on every request waits, up to 300 s, for `release()`: a YouTube that hangs."""
        self.open.clear()

    def release(self) -> None:
        self.open.set()

    def requests_for(self, video_id: str) -> list[tuple[str, str]]:
        return [r for r in self.requests if video_id in r[1]]

    def http_client(self, settings: object = None) -> requests.Session:
        """A requests.Session whose YouTube traffic this fake answers (the app's http client factory)."""
        session = requests.Session()
        adapter = _Adapter(self)
        session.mount("https://www.youtube.com", adapter)
        session.mount("https://", _Refuse())
        session.mount("http://", _Refuse())
        return session

    # --- responses ------------------------------------------------------------------------

    def answer(self, request: requests.PreparedRequest) -> tuple[int, str, str]:
        url = urlsplit(request.url or "")
        query = parse_qs(url.query)
        with self._lock:
            self.requests.append((request.method or "GET", request.url or ""))
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        self.open.wait(timeout=300)
        video_id = query.get("v", [""])[0] or json.loads(cast(bytes, request.body or b"{}")).get("videoId", "")
        fault = self.videos[video_id].fault if video_id in self.videos else None
        if fault == "timeout":
            raise requests.Timeout("the fake YouTube did not answer in time")
        if fault == "unreachable":
            raise requests.ConnectionError("the fake YouTube's name did not resolve")
        if fault == "unparsable" and url.path == "/watch":
            return 200, "text/html", "<html><body>a page without the player's data</body></html>"
        if fault == "truncated" and url.path == "/youtubei/v1/player":
            return 200, "application/json", str(self._rendered[video_id])[:5000]
        if url.path == "/watch":
            video = self.videos.get(query.get("v", [""])[0], FakeVideo(mode="video_unavailable"))
            if video.watch_status == 429:
                return 429, "text/html", _asset("youtube_too_many_requests.html.static")
            if video.watch_status != 200:
                return video.watch_status, "text/html", "<html>error</html>"
            return 200, "text/html", self._watch_html
        if url.path == "/youtubei/v1/player":
            video_id = json.loads(cast(bytes, request.body or b"{}"))["videoId"]
            return 200, "application/json", str(self._rendered.get(video_id, self._unknown))
        if url.path == "/api/timedtext":
            video_id, language, kind = query["v"][0], query["lang"][0], query["kind"][0]
            if "tlang" in query:
                lines = self.videos[video_id].captions[(language, kind)]
                return 200, "text/xml", _transcript_xml([(a, b, f"[{query['tlang'][0]}] {t}") for a, b, t in lines])
            return 200, "text/xml", self._rendered[(video_id, language, kind)]
        if url.path == "/oembed":
            watch = parse_qs(urlsplit(query["url"][0]).query)["v"][0]
            known = self.videos.get(watch)
            if known is None or known.title is None:
                return 404, "text/html", "Not Found"
            return 200, "application/json", json.dumps({"title": known.title, "author_name": known.channel})
        return 404, "text/html", "Not Found"

    def _player(self, video_id: str, video: FakeVideo) -> dict[str, Any]:
        data: dict[str, Any] = copy.deepcopy(self._innertube[video.mode])
        if video.mode != "ok":
            return data
        renderer = data["captions"]["playerCaptionsTracklistRenderer"]
        template = renderer["captionTracks"][0]
        renderer["captionTracks"] = [
            {
                **template,
                "baseUrl": f"https://www.youtube.com/api/timedtext?v={video_id}&lang={language}&kind={kind}",
                "languageCode": language,
                "name": {"runs": [{"text": language}]},
                "kind": "asr" if kind == "asr" else "",
                "isTranslatable": True,
            }
            for language, kind in video.captions
        ]
        data["videoDetails"]["videoId"] = video_id
        return data


def _transcript_xml(lines: list[tuple[float, float, str]]) -> str:
    body = "".join(f'<text start="{start}" dur="{dur}">{escape(text)}</text>' for start, dur, text in lines)
    return f'<?xml version="1.0" encoding="utf-8" ?><transcript>{body}</transcript>'


class _Adapter(BaseAdapter):
    def __init__(self, fake: FakeYouTube) -> None:
        super().__init__()
        self.fake = fake

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        status, content_type, body = self.fake.answer(request)
        response = requests.Response()
        response.status_code = status
        response.headers["Content-Type"] = f"{content_type}; charset=utf-8"
        response._content = self.fake.encoded(body)
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


class _Refuse(BaseAdapter):
    """Any host but YouTube's: the app must never fetch a client's URL."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        raise requests.ConnectionError(f"the fake network refuses {urlsplit(request.url or '').hostname}")

    def close(self) -> None:
        pass
