"""HTTP functions of videos, transcripts and chat, and the services they call, wired with their
production collaborators."""

import logging
from collections.abc import AsyncIterator, Sequence
from functools import cache
from typing import TYPE_CHECKING

import azure.functions as func
from fastapi import Request, Response
from pydantic import BaseModel

from services.common.http import endpoint, event_stream, json_response, no_content, parse_body, wants_event_stream
from services.common.limits import client_key, get_limits
from services.common.settings import get_settings
from services.sessions.authorizer import require_session
from services.video_rag.schemas import (
    AddVideosRequest,
    AddVideosResponse,
    ChatRequest,
    ChatResponse,
    ChatSourcesEvent,
    ChatTokenEvent,
    HistoryQuery,
    HistoryResponse,
    MessageOut,
    SearchRequest,
    SearchResponse,
    SearchResultOut,
    SourceOut,
    UploadTranscriptRequest,
    VideoOut,
    VideoResponse,
    VideoResultOut,
    VideosResponse,
)

if TYPE_CHECKING:  # the services (SQLAlchemy, LangChain) load on the first request, not at import
    from services.sessions.service import ActiveSession, SessionDependent
    from services.video_rag.chat import ChatService, StreamedAnswer
    from services.video_rag.repository import VideoRepository
    from services.video_rag.service import VideoService

bp = func.Blueprint()
logger = logging.getLogger(__name__)


def videos() -> "VideoService":
    from services.common import database
    from services.common.queues import StorageQueue
    from services.video_rag.embeddings import get_embeddings
    from services.video_rag.service import VideoService
    from services.video_rag.youtube import YouTubeTranscriptSource

    settings = get_settings()
    return VideoService(
        video_repository(),
        YouTubeTranscriptSource(settings),
        get_embeddings(settings),
        database.transaction,
        settings,
        limits=get_limits(),
        queue=StorageQueue(settings, settings.ingest_queue_name),
    )


def video_repository() -> "VideoRepository":
    from datetime import timedelta

    from services.video_rag.repository import VideoRepository

    return VideoRepository(job_timeout=timedelta(minutes=get_settings().ingest_timeout_minutes))


def chat() -> "ChatService":
    from services.common import database
    from services.video_rag.chat import ChatService
    from services.video_rag.embeddings import get_embeddings
    from services.video_rag.history import ChatHistory
    from services.video_rag.llm import get_chat_model
    from services.video_rag.repository import VideoRepository
    from services.video_rag.retrieval import Retriever

    settings = get_settings()
    return ChatService(
        VideoRepository(),
        ChatHistory(settings.langchain_chat_message_table_name),
        Retriever(get_embeddings(settings), database.transaction, settings),
        get_chat_model(settings),
        database.transaction,
        settings,
        limits=get_limits(),
    )


def session_data() -> Sequence["SessionDependent"]:
    """What this service hangs off sessions, deleted with them: their videos and conversations."""
    from services.video_rag.history import ChatHistory

    return [video_repository(), ChatHistory(get_settings().langchain_chat_message_table_name)]


@bp.function_name("SaveVideoTranscript")
@bp.route(route="videos", methods=["POST"])
@endpoint
@require_session
async def save_video_transcript(req: Request, session: "ActiveSession") -> Response:
    body = await parse_body(req, AddVideosRequest)
    languages = body.languages or get_settings().default_languages
    results = await videos().add_videos(session.id, body.urls, languages, client_key(req))
    pending = any(result.status == "pending" for result in results)  # 202: some are still being added
    return json_response(
        AddVideosResponse(videos=[VideoResultOut.of(result) for result in results]), 202 if pending else 200
    )


@bp.function_name("SaveTranscript")
@bp.route(route="transcripts", methods=["POST"])
@endpoint
@require_session
async def save_transcript(req: Request, session: "ActiveSession") -> Response:
    body = await parse_body(req, UploadTranscriptRequest)
    view = await videos().add_upload(session.id, body.upload(), client_key(req))
    return json_response(VideoResponse(video=VideoOut.of(view)), 201)


@bp.function_name("GetVideos")
@bp.route(route="videos", methods=["GET"])
@endpoint
@require_session
async def get_videos(req: Request, session: "ActiveSession") -> Response:
    views = await videos().list_videos(session.id)
    return json_response(VideosResponse(videos=[VideoOut.of(view) for view in views]))


@bp.function_name("RemoveVideo")
@bp.route(route="videos/{video_id}", methods=["DELETE"])
@endpoint
@require_session
async def remove_video(req: Request, session: "ActiveSession") -> Response:
    await videos().remove_video(session.id, req.path_params.get("video_id", ""))
    return no_content()


@bp.function_name("GetInference")
@bp.route(route="chat", methods=["POST"])
@endpoint
@require_session
async def get_inference(req: Request, session: "ActiveSession") -> Response:
    body = await parse_body(req, ChatRequest)
    if wants_event_stream(req):  # Server-Sent Events (docs/API.md): sources, token*, then done or error
        streamed = await chat().ask_streaming(session.id, body.question, body.video_ids, client_key(req))
        return event_stream(chat_events(streamed), "GetInference")
    answer = await chat().ask(session.id, body.question, body.video_ids, client_key(req))
    return json_response(ChatResponse.of(answer))


async def chat_events(streamed: "StreamedAnswer") -> AsyncIterator[tuple[str, BaseModel]]:
    from services.video_rag.chat import Token

    sources = [SourceOut.model_validate(source, from_attributes=True) for source in streamed.sources]
    yield "sources", ChatSourcesEvent(sources=sources)
    async for event in streamed.events:
        if isinstance(event, Token):
            yield "token", ChatTokenEvent(text=event.text)
        else:
            yield "done", ChatResponse.of(event)


@bp.function_name("SearchVideos")
@bp.route(route="search", methods=["POST"])
@endpoint
@require_session
async def search_videos(req: Request, session: "ActiveSession") -> Response:
    body = await parse_body(req, SearchRequest)
    passages = await chat().search(session.id, body.query, body.video_ids, body.k, client_key(req))
    return json_response(SearchResponse(results=[SearchResultOut.of(passage) for passage in passages]))


@bp.function_name("GetChatMessageHistory")
@bp.route(route="chat/history", methods=["GET"])
@endpoint
@require_session
async def get_chat_message_history(req: Request, session: "ActiveSession") -> Response:
    query = HistoryQuery.model_validate(dict(req.query_params))
    turns = await chat().history(session.id, query.limit + 1, query.before)  # one more: are there older ones?
    older, page = turns[: -query.limit], turns[-query.limit :]
    messages = [MessageOut.model_validate(turn, from_attributes=True) for turn in page]
    return json_response(HistoryResponse(messages=messages, next_before=str(page[0].id) if older else None))


@bp.function_name("ClearChatMessageHistory")
@bp.route(route="chat/history", methods=["DELETE"])
@endpoint
@require_session
async def clear_chat_message_history(req: Request, session: "ActiveSession") -> Response:
    await chat().clear_history(session.id)
    return no_content()


@bp.function_name("IngestVideo")
@bp.queue_trigger(arg_name="msg", queue_name="%INGEST_QUEUE_NAME%", connection="AzureWebJobsStorage")
async def ingest_video(msg: func.QueueMessage) -> None:
    """Fetches, embeds and stores the video of one job (its message: `IngestMessage`). An unexpected
    error is raised: the host delivers the message again, up to host.json's maxDequeueCount, then
    moves it to the poison queue; the last delivery fails the video first (`ingest_failed`)."""
    from pydantic import ValidationError

    from services.video_rag.service import IngestMessage

    try:
        message = IngestMessage.model_validate_json(msg.get_body())
    except ValidationError:
        logger.warning("IngestVideo: a message that names no job was dropped")
        return
    last_attempt = (msg.dequeue_count or 1) >= max_dequeue_count()
    await videos().ingest(message.job_id, last_attempt=last_attempt, message_id=msg.id)


@cache
def max_dequeue_count() -> int:
    """host.json's `extensions.queues.maxDequeueCount` (the host's default: 5)."""
    import json
    from pathlib import Path

    host = json.loads((Path(__file__).resolve().parents[2] / "host.json").read_text(encoding="utf-8"))
    return int(host.get("extensions", {}).get("queues", {}).get("maxDequeueCount", 5))
