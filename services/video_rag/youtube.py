"""YouTube: video ids from URLs, and transcripts (youtube-transcript-api) with title and channel
(YouTube's oEmbed endpoint). The server only ever talks to YouTube's own hosts: a client's URL is
reduced to a video id, never fetched as given."""

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from services.common.errors import ItemError
from services.common.settings import Settings
from services.video_rag.chunking import Snippet

logger = logging.getLogger(__name__)

VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
_SHORT_HOSTS = {"youtu.be", "www.youtu.be"}
_PATH_PREFIXES = ("shorts", "embed", "live")
MAX_URL_LENGTH = 2048
OEMBED_URL = "https://www.youtube.com/oembed"


def parse_video_id(value: str) -> str | None:
    """The 11-character id of a YouTube URL of a form API.md accepts (or of a bare id), else None."""
    value = value.strip()
    if not value or len(value) > MAX_URL_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in value):
        return None
    if VIDEO_ID.match(value):
        return value
    if "://" not in value:
        value = "https://" + value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or parts.username or parts.password or port:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    candidate: str | None = None
    if host in _SHORT_HOSTS and len(segments) == 1:
        candidate = segments[0]
    elif host in _HOSTS and segments == ["watch"]:
        ids = parse_qs(parts.query).get("v", [])
        candidate = ids[0] if len(ids) == 1 else None
    elif host in _HOSTS and len(segments) == 2 and segments[0] in _PATH_PREFIXES:
        candidate = segments[1]
    return candidate if candidate and VIDEO_ID.match(candidate) else None


def watch_url(video_id: str, start_seconds: float | None = None) -> str:
    url = f"https://www.youtube.com/watch?v={video_id}"
    return f"{url}&t={int(start_seconds)}s" if start_seconds is not None else url


UPLOAD_PREFIX = "upload-"


def upload_video_id(content: str) -> str:
    """The id of uploaded captions that name no YouTube video: `upload-` and a hash of the content."""
    return UPLOAD_PREFIX + hashlib.sha256(content.encode()).hexdigest()[:16]


def video_url(video_id: str, start_seconds: float | None = None) -> str | None:
    """The YouTube link of a video (at a moment), None for uploads that name no YouTube video."""
    return None if video_id.startswith(UPLOAD_PREFIX) else watch_url(video_id, start_seconds)


@dataclass(frozen=True)
class Transcript:
    video_id: str
    language_code: str
    is_generated: bool
    snippets: list[Snippet]


HttpClientFactory = Callable[[Settings], Any]


def new_http_client(settings: Settings) -> Any:
    """The requests.Session every YouTube call goes through: one per fetch (sessions are not
    thread-safe), each request with a timeout."""
    import requests

    class TimeoutSession(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", settings.youtube_timeout_seconds)
            return super().request(*args, **kwargs)

    return TimeoutSession()


class YouTubeTranscriptSource:
    """Fetches transcripts with youtube-transcript-api 1.2 (instance API). Blocking: call it from a
    worker thread."""

    def __init__(self, settings: Settings, http_client_factory: HttpClientFactory | None = None) -> None:
        self._settings = settings
        self._http_client_factory = http_client_factory or new_http_client

    def _proxy_config(self) -> Any:
        from youtube_transcript_api.proxies import GenericProxyConfig, WebshareProxyConfig

        s = self._settings
        if s.webshare_proxy_username and s.webshare_proxy_password:
            return WebshareProxyConfig(
                proxy_username=s.webshare_proxy_username,
                proxy_password=s.webshare_proxy_password.get_secret_value(),
            )
        if s.youtube_proxy_http_url or s.youtube_proxy_https_url:
            return GenericProxyConfig(
                http_url=s.youtube_proxy_http_url.get_secret_value() if s.youtube_proxy_http_url else None,
                https_url=s.youtube_proxy_https_url.get_secret_value() if s.youtube_proxy_https_url else None,
            )
        return None

    def fetch(self, video_id: str, languages: Sequence[str]) -> Transcript:
        """The transcript in the first of `languages` available (manual captions before generated
        ones), else one translated to the first language."""
        from youtube_transcript_api import YouTubeTranscriptApi

        http_client = self._http_client_factory(self._settings)
        api = YouTubeTranscriptApi(proxy_config=self._proxy_config(), http_client=http_client)
        try:
            transcripts = api.list(video_id)
            transcript = _choose(transcripts, languages)
            fetched = transcript.fetch()
        except Exception as exc:  # noqa: BLE001 - every library and network failure has an item code
            raise _to_item_error(exc) from None
        return Transcript(
            video_id=video_id,
            language_code=transcript.language_code,
            is_generated=transcript.is_generated,
            snippets=[Snippet(s.text, float(s.start), float(s.duration)) for s in fetched.snippets],
        )

    def metadata(self, video_id: str) -> tuple[str | None, str | None]:
        """Title and channel from YouTube's oEmbed endpoint, through the same kind of session and
        proxy; (None, None) when that fails: it never fails the video."""
        http_client = self._http_client_factory(self._settings)
        if (proxies := self._proxy_config()) is not None:
            http_client.proxies = proxies.to_requests_dict()
        try:
            response = http_client.get(OEMBED_URL, params={"url": watch_url(video_id), "format": "json"})
            response.raise_for_status()
            data = response.json()
            title, channel = data.get("title"), data.get("author_name")
            return _name(title), _name(channel)
        except Exception as exc:  # noqa: BLE001 - metadata is optional
            logger.info("oEmbed failed for a video: %s", type(exc).__name__)
            return None, None


def _name(value: object) -> str | None:
    """A title or channel as it can be stored: text, without NUL characters (PostgreSQL refuses
    them), at most 500 characters."""
    return value.replace("\x00", "")[:500] if isinstance(value, str) else None


def _choose(transcripts: Any, languages: Sequence[str]) -> Any:
    from youtube_transcript_api import NoTranscriptFound

    try:
        return transcripts.find_transcript(languages)
    except NoTranscriptFound:
        pass
    for transcript in transcripts:
        if transcript.is_translatable and any(
            t.language_code == languages[0] for t in transcript.translation_languages
        ):
            return transcript.translate(languages[0])
    raise NoTranscriptFound(transcripts.video_id, languages, transcripts)


def _to_item_error(exc: Exception) -> ItemError:
    import requests
    import youtube_transcript_api as yt

    mapping: list[tuple[type[Exception], str, str]] = [
        (yt.AgeRestricted, "age_restricted", "This video is age-restricted."),
        (
            yt.RequestBlocked,
            "request_blocked",
            "YouTube is blocking requests from this server: configure a proxy.",
        ),
        (yt.TranscriptsDisabled, "transcripts_disabled", "Subtitles are disabled for this video."),
        (yt.NoTranscriptFound, "no_transcript", "This video has no transcript in the requested languages."),
        (yt.NotTranslatable, "no_transcript", "This video has no transcript in the requested languages."),
        (yt.TranslationLanguageNotAvailable, "no_transcript", "No transcript in the requested languages."),
        (yt.VideoUnavailable, "video_unavailable", "This video is unavailable."),
        (yt.InvalidVideoId, "video_unavailable", "This video is unavailable."),
        (yt.VideoUnplayable, "video_unavailable", "This video cannot be played."),
    ]
    for error_type, code, message in mapping:
        if isinstance(exc, error_type):
            return ItemError(code, message)
    if isinstance(exc, requests.ConnectionError | requests.Timeout):  # a proxy's failure is a ConnectionError
        logger.warning("YouTube could not be reached while fetching a transcript: %s", type(exc).__name__)
        return ItemError("upstream_error", "YouTube could not be reached (network, DNS or proxy). Retry later.")
    if isinstance(exc, yt.YouTubeTranscriptApiException | requests.RequestException):
        logger.warning("YouTube failed while fetching a transcript: %s", type(exc).__name__)
    else:
        logger.error("unexpected %s while fetching a transcript", type(exc).__name__)
    return ItemError("upstream_error", "YouTube did not answer as expected. Retry later.")
