"""The OpenAPI 3.1 document of the HTTP API (`docs/API.md`), served by `GET /api/openapi.json`.

Assembled here, above the services: every schema is generated from the pydantic models the handlers
use, every error code from the `AppError` classes, and a test checks that the operations below are
exactly the registered routes.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import azure.functions as func
from fastapi import Request, Response
from pydantic import BaseModel

from services.common.http import endpoint, json_response

bp = func.Blueprint()

SESSION_SECURITY: list[dict[str, list[str]]] = [{"SessionHeader": []}, {"SessionQuery": []}]


@dataclass(frozen=True)
class Operation:
    path: str
    method: Literal["get", "post", "delete"]
    operation_id: str
    summary: str
    responses: dict[int, type[BaseModel] | str]  # status -> response body model, or a description
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None  # the query parameters' model
    errors: tuple[int, ...] = ()  # beyond 500 and 503 (and 401 for session routes)
    session: bool = True
    content_type: str = "application/json"
    # Server-Sent Events the first success status may answer instead (Accept: text/event-stream): name -> data
    events: tuple[tuple[str, type[BaseModel]], ...] = ()
    events_order: str = ""


@bp.function_name("OpenApi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
async def openapi(req: Request) -> Response:
    return json_response(openapi_document())


def operations() -> list[Operation]:
    from services.common.functions import HealthResponse
    from services.common.http import StreamError
    from services.sessions.schemas import SessionRequest, SessionResponse
    from services.video_rag import schemas as v

    return [
        Operation("/api/sessions", "post", "GetOrCreateSession",
                  "Resume a live session, or create a new one with a server-generated id",
                  {200: SessionResponse, 201: SessionResponse}, SessionRequest, body_required=False,
                  errors=(400, 413, 429), session=False),
        Operation("/api/sessions/current", "delete", "DeleteSession",
                  "Delete this session and everything that hangs off it", {204: "Deleted"}),
        Operation("/api/health", "get", "Health", "Liveness of the app and its database",
                  {200: HealthResponse, 503: HealthResponse}, session=False),
        Operation("/api/videos", "post", "SaveVideoTranscript",
                  "Add YouTube videos to this session: one result per URL, in order; 202 when some are "
                  "still pending after INGEST_WAIT_SECONDS (they go on in the background)",
                  {200: v.AddVideosResponse, 202: v.AddVideosResponse}, v.AddVideosRequest, errors=(400, 413, 429)),
        Operation("/api/videos", "get", "GetVideos",
                  "This session's videos, oldest first: ready, pending (with their progress) or failed (with "
                  "their error)", {200: v.VideosResponse}),
        Operation("/api/videos/{video_id}", "delete", "RemoveVideo", "Remove a video from this session",
                  {204: "Removed"}, errors=(404,)),
        Operation("/api/transcripts", "post", "SaveTranscript",
                  "Add a video from captions the client has (WebVTT, SRT or plain text)",
                  {201: v.VideoResponse}, v.UploadTranscriptRequest, errors=(400, 413, 429)),
        Operation("/api/chat", "post", "GetInference",
                  "Ask a question; the answer cites passages of the session's videos (streamed as Server-Sent "
                  "Events with Accept: text/event-stream)",
                  {200: v.ChatResponse}, v.ChatRequest, errors=(400, 409, 413, 429),
                  events=(("sources", v.ChatSourcesEvent), ("token", v.ChatTokenEvent), ("done", v.ChatResponse),
                          ("error", StreamError)),
                  events_order="sources, any number of token, then done or error"),
        Operation("/api/search", "post", "SearchVideos",
                  "Find the moments of this session's videos that match a query (the retrieval chat uses)",
                  {200: v.SearchResponse}, v.SearchRequest, errors=(400, 409, 413, 429)),
        Operation("/api/chat/history", "get", "GetChatMessageHistory",
                  "This session's conversation, a page of its latest messages, oldest first",
                  {200: v.HistoryResponse}, query=v.HistoryQuery, errors=(400,)),
        Operation("/api/chat/history", "delete", "ClearChatMessageHistory", "Forget this session's conversation",
                  {204: "Cleared"}),
        Operation("/api/app", "get", "ChatPage", "The reference web page that uses this API",
                  {200: "The page"}, session=False, content_type="text/html"),
        Operation("/api/openapi.json", "get", "OpenApi", "This document", {200: "The OpenAPI 3.1 document"},
                  session=False),
    ]  # fmt: skip


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _response(status: int, answer: type[BaseModel] | str, content_type: str) -> dict[str, Any]:
    if not isinstance(answer, str):
        return {"description": answer.__name__, "content": {"application/json": {"schema": _ref(answer.__name__)}}}
    if status == 204:
        return {"description": answer}
    schema = {"type": "object"} if content_type == "application/json" else {"type": "string"}
    return {"description": answer, "content": {content_type: {"schema": schema}}}


def _operation(op: Operation) -> dict[str, Any]:
    errors = [e for e in (*op.errors, *((401,) if op.session else ()), 500, 503) if e not in op.responses]
    responses = {str(status): _response(status, answer, op.content_type) for status, answer in op.responses.items()}
    document: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "security": SESSION_SECURITY if op.session else [],
        "responses": responses | {str(e): {"$ref": f"#/components/responses/Error{e}"} for e in errors},
    }
    if op.events:
        success = responses[str(min(op.responses))]
        success["content"]["text/event-stream"] = {
            "schema": {
                "type": "string",
                "description": "Server-Sent Events (docs/API.md), each `data` one line of JSON: " + op.events_order,
            },
            "x-events": {name: _ref(model.__name__) for name, model in op.events},
        }
    if op.body is not None:
        content = {"application/json": {"schema": _ref(op.body.__name__)}}
        document["requestBody"] = {"required": op.body_required, "content": content}
    names = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
    parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
    if op.query is not None:
        fields = op.query.model_json_schema()["properties"]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": _not_null(fields[name])} for name in fields
        ]
    if parameters:
        document["parameters"] = parameters
    return document


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: absent, rather than null, when it is not given."""
    options = [option for option in schema.get("anyOf", [schema]) if option.get("type") != "null"]
    return {**options[0], **({"default": schema["default"]} if schema.get("default") is not None else {})}


def _schemas(ops: list[Operation]) -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema

    from services.common.http import ErrorResponse

    requests = {op.body for op in ops if op.body is not None}
    responses = {answer for op in ops for answer in op.responses.values() if not isinstance(answer, str)}
    responses |= {model for op in ops for _, model in op.events}
    modes: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        *((model, "validation") for model in sorted(requests, key=lambda m: m.__name__)),
        *((model, "serialization") for model in sorted(responses | {ErrorResponse}, key=lambda m: m.__name__)),
    ]
    _, document = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    return dict(document["$defs"])


def error_codes() -> dict[int, list[str]]:
    """The error codes of each HTTP status, from every `AppError` class of the app."""
    from services.common.errors import AppError
    from services.video_rag import errors  # noqa: F401 - its classes join AppError's subclasses

    codes: dict[int, set[str]] = {}
    pending: list[type[AppError]] = [AppError]
    while pending:
        error = pending.pop()
        codes.setdefault(error.status, set()).add(error.code)
        pending.extend(error.__subclasses__())
    return {status: sorted(codes[status]) for status in sorted(codes)}


@cache
def openapi_document() -> dict[str, Any]:
    ops = operations()
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    error_responses = {
        f"Error{status}": {
            "description": "Error codes: " + ", ".join(codes),
            "content": {"application/json": {"schema": _ref("ErrorResponse")}},
        }
        for status, codes in error_codes().items()
    }
    error_responses["Error429"]["headers"] = {
        "Retry-After": {
            "description": "rate_limited: seconds until the window of the limit reached ends",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Chat with YouTube videos",
            "version": "1.0.0",
            "description": "Anonymous sessions, YouTube transcripts in pgvector, grounded answers with "
            "timestamped citations. Contract: docs/API.md.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(ops),
            "responses": error_responses,
            "securitySchemes": {
                "SessionHeader": {"type": "apiKey", "in": "header", "name": "X-Session-Id"},
                "SessionQuery": {"type": "apiKey", "in": "query", "name": "session_id"},
            },
        },
    }
