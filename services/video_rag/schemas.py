"""Request and response bodies of the video routes."""

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from services.common.http import RequestModel, Timestamp
from services.video_rag.youtube import parse_video_id, video_url

if TYPE_CHECKING:
    from services.video_rag.chat import Answer
    from services.video_rag.rag import Passage
    from services.video_rag.repository import SessionVideoView
    from services.video_rag.service import ItemResult, Upload

LanguageCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=20)]
MAX_CAPTION_CHARS = 5_000_000


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must contain something other than spaces")
    return text


NotBlank = AfterValidator(_not_blank)


class AddVideosRequest(RequestModel):
    urls: Annotated[list[Annotated[str, Field(max_length=2048)]], Field(min_length=1)]
    languages: Annotated[list[LanguageCode], Field(min_length=1, max_length=10)] | None = None


class UploadTranscriptRequest(RequestModel):
    title: Annotated[str, Field(min_length=1, max_length=500, json_schema_extra={"pattern": r"\S"}), NotBlank]
    format: Literal["vtt", "srt", "text"]
    content: Annotated[str, Field(min_length=1, max_length=MAX_CAPTION_CHARS)]
    language_code: LanguageCode = "en"
    source_url: Annotated[str, Field(max_length=2048)] | None = None

    @field_validator("source_url")
    @classmethod
    def _youtube_url(cls, value: str | None) -> str | None:
        if value and parse_video_id(value) is None:
            raise ValueError("not a YouTube video URL")
        return value or None

    def upload(self) -> "Upload":
        from services.video_rag.service import Upload

        return Upload(
            title=self.title,
            format=self.format,
            content=self.content,
            language_code=self.language_code,
            source_url=self.source_url,
            youtube_id=parse_video_id(self.source_url) if self.source_url else None,
        )


class ProgressOut(BaseModel):
    """How far a pending video is: its stage, and the fraction of the whole work done (0 to 1)."""

    stage: Literal["queued", "fetching", "embedding", "storing"]
    fraction: Annotated[float, Field(ge=0, le=1)]


class ItemErrorOut(BaseModel):
    code: str
    message: str


class VideoOut(BaseModel):
    """A video of the session: `ready` (stored: chat and search use it), `pending` (being fetched and
    embedded: `progress`), or `failed` (`error`; add it again to retry, or remove it). What is not
    known yet of a pending or failed video is null."""

    video_id: str
    status: Literal["ready", "pending", "failed"]
    title: str | None
    channel: str | None
    url: str | None
    language_code: str | None
    is_generated: bool | None
    duration_seconds: float | None
    chunk_count: int | None
    added_at: Timestamp
    progress: ProgressOut | None = None
    error: ItemErrorOut | None = None

    @classmethod
    def of(cls, view: "SessionVideoView") -> "VideoOut":
        video, job = view.video, view.job
        if video is None:
            assert job is not None
            failed = job.status == "failed"
            return cls(
                video_id=job.video_id,
                status="failed" if failed else "pending",
                title=None,
                channel=None,
                url=video_url(job.video_id),
                language_code=None,
                is_generated=None,
                duration_seconds=None,
                chunk_count=None,
                added_at=view.added_at,
                progress=None if failed else ProgressOut(stage=job.stage, fraction=round(job.progress, 3)),
                error=ItemErrorOut(code=job.error_code or "upstream_error", message=job.error_message or "")
                if failed
                else None,
            )
        return cls(
            video_id=video.video_id,
            status="ready",
            title=video.title,
            channel=video.channel,
            url=video_url(video.video_id),
            language_code=video.language_code,
            is_generated=video.is_generated,
            duration_seconds=round(video.duration_seconds, 3),
            chunk_count=video.chunk_count,
            added_at=view.added_at,
        )


class VideoResultOut(BaseModel):
    input: str
    video_id: str | None
    status: Literal["added", "already_added", "pending", "failed"]
    video: VideoOut | None
    error: ItemErrorOut | None

    @classmethod
    def of(cls, result: "ItemResult") -> "VideoResultOut":
        return cls(
            input=result.input,
            video_id=result.video_id,
            status=result.status,
            video=VideoOut.of(result.video) if result.video else None,
            error=ItemErrorOut(code=result.error.code, message=result.error.message) if result.error else None,
        )


class AddVideosResponse(BaseModel):
    videos: list[VideoResultOut]


class VideosResponse(BaseModel):
    videos: list[VideoOut]


class VideoResponse(BaseModel):
    video: VideoOut


# When given, at least one: an empty list would mean "all" to some readers and "none" to others.
VideoIds = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(min_length=1, max_length=100)]


# A question or a search: something to look for (the pattern says so in the OpenAPI document).
Question = Annotated[str, Field(min_length=1, max_length=2000, json_schema_extra={"pattern": r"\S"}), NotBlank]


class ChatRequest(RequestModel):
    question: Question
    video_ids: VideoIds | None = None


class SearchRequest(RequestModel):
    query: Question
    video_ids: VideoIds | None = None
    k: Annotated[int, Field(ge=1, le=20)] = 10


class MomentOut(BaseModel):
    """A moment of a video: `start_seconds` is where the answer starts (a citation opens the video
    there), `text` what is said from there on, up to `end_seconds`."""

    video_id: str
    title: str | None
    start_seconds: float
    end_seconds: float
    url: str | None
    text: str


class SourceOut(MomentOut):
    index: int


class SearchResultOut(MomentOut):
    rank: int
    score: float

    @classmethod
    def of(cls, passage: "Passage") -> "SearchResultOut":
        return cls(rank=passage.index, **passage.source(), score=round(passage.score, 6))


class SearchResponse(BaseModel):
    results: list[SearchResultOut]


class ChatResponse(BaseModel):
    """The answer (and the `done` event of a streamed one)."""

    answer: str
    mode: Literal["generative", "extractive"]
    sources: list[SourceOut]
    # Up to 3 follow-up questions the sources can answer, in the question's language; [] when extractive.
    suggestions: list[str]

    @classmethod
    def of(cls, answer: "Answer") -> "ChatResponse":
        sources = [SourceOut.model_validate(source, from_attributes=True) for source in answer.sources]
        return cls(answer=answer.answer, mode=answer.mode, sources=sources, suggestions=answer.suggestions)


class ChatSourcesEvent(BaseModel):
    """The first event of a streamed answer: the passages its `[n]` refer to while it streams."""

    sources: list[SourceOut]


class ChatTokenEvent(BaseModel):
    """A piece of a streamed answer, as the model writes it (plain text)."""

    text: str


class MessageOut(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    created_at: Timestamp
    sources: list[SourceOut] | None = None


class HistoryQuery(BaseModel):
    """The query of GET /api/chat/history (other query parameters, such as `code`, are not ours)."""

    model_config = ConfigDict(extra="ignore")

    limit: Annotated[int, Field(ge=1, le=200)] = 50
    before: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None  # a message id (PostgreSQL integer)


class HistoryResponse(BaseModel):
    messages: list[MessageOut]
    # Pass as `before` for the older messages; null when there are none.
    next_before: str | None = None
