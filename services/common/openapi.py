"""The OpenAPI 3.1 document of the HTTP API (`shared/API.md`), served by `GET /api/openapi.json`.

Request bodies come from the same pydantic models the handlers validate with, so the document
cannot drift from the code; a test checks that every registered route is described here.
"""

from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel

ERROR_CODES = {
    "400": ["invalid_request"],
    "401": ["session_required", "session_invalid", "session_expired"],
    "404": ["not_found"],
    "409": ["no_videos"],
    "413": ["payload_too_large"],
    "429": ["limit_exceeded"],
    "500": ["internal_error"],
    "503": ["service_unavailable"],
}

TIMESTAMP = {"type": "string", "format": "date-time"}
SESSION_SECURITY: list[dict[str, list[str]]] = [{"SessionHeader": []}, {"SessionQuery": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/Error{status}"} for status in statuses}


def _body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(model.__name__)}}}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    session: bool = True,
    body: dict[str, Any] | None = None,
    errors: tuple[str, ...] = (),
) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if body is not None:
        operation["requestBody"] = body
    all_errors = (*errors, "401") if session else errors
    operation["responses"] = {**responses, **_errors(*all_errors, "500", "503")}
    operation["security"] = SESSION_SECURITY if session else []
    return operation


def _schemas() -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema

    from services.sessions.schemas import SessionRequest
    from services.video_rag import schemas as videos

    requests: list[type[BaseModel]] = [
        SessionRequest,
        videos.AddVideosRequest,
        videos.UploadTranscriptRequest,
        videos.ChatRequest,
    ]
    responses: list[type[BaseModel]] = [
        videos.AddVideosResponse,
        videos.VideosResponse,
        videos.VideoResponse,
        videos.ChatResponse,
        videos.HistoryResponse,
    ]
    modes: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        *((model, "validation") for model in requests),
        *((model, "serialization") for model in responses),
    ]
    _, document = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = document["$defs"]
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                    "message": {"type": "string"},
                    "details": {},
                },
            }
        },
    }
    schemas["Session"] = {
        "type": "object",
        "required": ["session_id", "created_at", "expires_at", "created"],
        "additionalProperties": False,
        "properties": {
            "session_id": {"type": "string", "format": "uuid"},
            "created_at": TIMESTAMP,
            "expires_at": TIMESTAMP,
            "created": {"type": "boolean"},
        },
    }
    schemas["Health"] = {
        "type": "object",
        "required": ["status", "database"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "database": {"type": "string", "enum": ["ok", "unavailable"]},
        },
    }
    return schemas


def _paths() -> dict[str, Any]:
    from services.sessions.schemas import SessionRequest
    from services.video_rag import schemas as videos

    return {
        "/api/sessions": {
            "post": _operation(
                "GetOrCreateSession",
                "Resume a live session, or create a new one with a server-generated id",
                {
                    "200": _json(_ref("Session"), "The live session given, renewed"),
                    "201": _json(_ref("Session"), "A new session"),
                },
                session=False,
                body=_body(SessionRequest, required=False),
                errors=("400", "413"),
            )
        },
        "/api/sessions/current": {
            "delete": _operation(
                "DeleteSession",
                "Delete this session and everything that hangs off it",
                {"204": {"description": "Deleted"}},
            )
        },
        "/api/health": {
            "get": {
                "operationId": "Health",
                "summary": "Liveness of the app and its database",
                "security": [],
                "responses": {
                    "200": _json(_ref("Health"), "Healthy"),
                    "503": _json(_ref("Health"), "The database is unavailable"),
                    **_errors("500"),
                },
            }
        },
        "/api/videos": {
            "post": _operation(
                "SaveVideoTranscript",
                "Add YouTube videos to this session: one result per URL, in order",
                {"200": _json(_ref("AddVideosResponse"), "One result per input")},
                body=_body(videos.AddVideosRequest),
                errors=("400", "413"),
            ),
            "get": _operation(
                "GetVideos",
                "This session's videos, oldest first",
                {"200": _json(_ref("VideosResponse"), "The videos")},
            ),
        },
        "/api/videos/{video_id}": {
            "delete": _operation(
                "RemoveVideo",
                "Remove a video from this session",
                {"204": {"description": "Removed"}},
                errors=("404",),
            )
            | {"parameters": [{"name": "video_id", "in": "path", "required": True, "schema": {"type": "string"}}]},
        },
        "/api/transcripts": {
            "post": _operation(
                "SaveTranscript",
                "Add a video from captions the client has (WebVTT, SRT or plain text)",
                {"201": _json(_ref("VideoResponse"), "The stored video")},
                body=_body(videos.UploadTranscriptRequest),
                errors=("400", "413", "429"),
            )
        },
        "/api/chat": {
            "post": _operation(
                "GetInference",
                "Ask a question; the answer cites passages of the session's videos",
                {"200": _json(_ref("ChatResponse"), "The answer and its sources")},
                body=_body(videos.ChatRequest),
                errors=("400", "409", "413"),
            )
        },
        "/api/chat/history": {
            "get": _operation(
                "GetChatMessageHistory",
                "This session's conversation, oldest first",
                {"200": _json(_ref("HistoryResponse"), "The messages")},
            ),
            "delete": _operation(
                "ClearChatMessageHistory",
                "Forget this session's conversation",
                {"204": {"description": "Cleared"}},
            ),
        },
        "/api/app": {
            "get": {
                "operationId": "ChatPage",
                "summary": "The reference web page that uses this API",
                "security": [],
                "responses": {
                    "200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}},
                    **_errors("500"),
                },
            }
        },
        "/api/openapi.json": {
            "get": _operation(
                "OpenApi",
                "This document",
                {"200": _json({"type": "object"}, "The OpenAPI 3.1 document")},
                session=False,
            )
        },
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    responses = {
        f"Error{status}": _json(_ref("Error"), "Error codes: " + ", ".join(codes))
        for status, codes in ERROR_CODES.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Chat with YouTube videos",
            "version": "1.0.0",
            "description": "Anonymous sessions, YouTube transcripts in pgvector, grounded answers with "
            "timestamped citations. Contract: shared/API.md.",
        },
        "servers": [{"url": "/"}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": responses,
            "securitySchemes": {
                "SessionHeader": {"type": "apiKey", "in": "header", "name": "X-Session-Id"},
                "SessionQuery": {"type": "apiKey", "in": "query", "name": "session_id"},
            },
        },
    }
