"""HTTP functions of videos, transcripts and chat."""

from typing import TYPE_CHECKING

import azure.functions as func

from services.common.errors import InvalidRequestError, NotFoundError
from services.common.http import endpoint, json_response, no_content, parse_body
from services.common.settings import get_settings
from services.sessions.authorizer import require_session
from services.video_rag.schemas import (
    AddVideosRequest,
    AddVideosResponse,
    ChatRequest,
    ChatResponse,
    HistoryResponse,
    MessageOut,
    SourceOut,
    UploadTranscriptRequest,
    VideoOut,
    VideoResponse,
    VideoResultOut,
    VideosResponse,
)

if TYPE_CHECKING:  # the services (SQLAlchemy, LangChain) load on the first request, not at import
    from services.sessions.service import ActiveSession
    from services.video_rag.chat import ChatService
    from services.video_rag.service import VideoService

bp = func.Blueprint()


def videos() -> "VideoService":
    from services.video_rag.service import VideoService

    return VideoService.default()


def chat() -> "ChatService":
    from services.video_rag.chat import ChatService

    return ChatService.default()


@bp.function_name("SaveVideoTranscript")
@bp.route(route="videos", methods=["POST"])
@endpoint
@require_session
async def save_video_transcript(req: func.HttpRequest, session: "ActiveSession") -> func.HttpResponse:
    body = parse_body(req, AddVideosRequest)
    settings = get_settings()
    if len(body.urls) > settings.max_urls_per_request:
        raise InvalidRequestError(
            f"At most {settings.max_urls_per_request} URLs per request.",
            details=[{"field": "urls", "message": f"at most {settings.max_urls_per_request} items"}],
        )
    results = await videos().add_videos(session.id, body.urls, body.languages or settings.default_languages)
    return json_response(AddVideosResponse(videos=[VideoResultOut.of(result) for result in results]))


@bp.function_name("SaveTranscript")
@bp.route(route="transcripts", methods=["POST"])
@endpoint
@require_session
async def save_transcript(req: func.HttpRequest, session: "ActiveSession") -> func.HttpResponse:
    body = parse_body(req, UploadTranscriptRequest)
    view = await videos().add_upload(session.id, **body.model_dump())
    return json_response(VideoResponse(video=VideoOut.of(view)), 201)


@bp.function_name("GetVideos")
@bp.route(route="videos", methods=["GET"])
@endpoint
@require_session
async def get_videos(req: func.HttpRequest, session: "ActiveSession") -> func.HttpResponse:
    views = await videos().list_videos(session.id)
    return json_response(VideosResponse(videos=[VideoOut.of(view) for view in views]))


@bp.function_name("RemoveVideo")
@bp.route(route="videos/{video_id}", methods=["DELETE"])
@endpoint
@require_session
async def remove_video(req: func.HttpRequest, session: "ActiveSession") -> func.HttpResponse:
    video_id = req.route_params.get("video_id", "")
    if not 0 < len(video_id) <= 100:
        raise NotFoundError("This session has no video with this id.")
    await videos().remove_video(session.id, video_id)
    return no_content()


@bp.function_name("GetInference")
@bp.route(route="chat", methods=["POST"])
@endpoint
@require_session
async def get_inference(req: func.HttpRequest, session: "ActiveSession") -> func.HttpResponse:
    body = parse_body(req, ChatRequest)
    answer = await chat().ask(session.id, body.question, body.video_ids)
    sources = [SourceOut.model_validate(source, from_attributes=True) for source in answer.sources]
    return json_response(ChatResponse(answer=answer.answer, mode=answer.mode, sources=sources))


@bp.function_name("GetChatMessageHistory")
@bp.route(route="chat/history", methods=["GET"])
@endpoint
@require_session
async def get_chat_message_history(req: func.HttpRequest, session: "ActiveSession") -> func.HttpResponse:
    turns = await chat().history(session.id)
    messages = [MessageOut.model_validate(turn, from_attributes=True) for turn in turns]
    return json_response(HistoryResponse(messages=messages))


@bp.function_name("ClearChatMessageHistory")
@bp.route(route="chat/history", methods=["DELETE"])
@endpoint
@require_session
async def clear_chat_message_history(req: func.HttpRequest, session: "ActiveSession") -> func.HttpResponse:
    await chat().clear_history(session.id)
    return no_content()
