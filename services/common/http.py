"""HTTP helpers: JSON responses, request body parsing, and the one place where errors become the
JSON error body of `docs/API.md`.

Handlers take and return FastAPI's `Request`/`Response` (the types the extension re-exports): importing
`azurefunctions.extensions.http.fastapi` (here, so by `function_app.py`) together with the app setting
`PYTHON_ENABLE_INIT_INDEXING=1` makes the Functions Python worker serve every HTTP function through
them ("HTTP streams"), which is what lets a response be a stream (`StreamingResponse`)."""

import json
import logging
import re
import time
import traceback
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Annotated, Any, TypeVar

import azure.functions as func
import azurefunctions.extensions.http.fastapi  # noqa: F401 - its import is what turns HTTP streams on
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError, WithJsonSchema, field_validator

from services.common.errors import (
    AppError,
    InvalidRequestError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from services.common.settings import get_settings
from services.common.telemetry import log_request, session_hash

logger = logging.getLogger("services.http")

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]

invocation_id: ContextVar[str] = ContextVar("invocation_id", default="-")

# On every answer (a route may set its own, e.g. the page's Cache-Control): no content sniffing, and
# nothing a session sees is kept by a browser or a shared cache.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}

# When a 503 (database busy or down, a model provider down) is worth retrying.
RETRY_AFTER_SECONDS = 5

# ISO 8601 with an explicit UTC offset ("+00:00"), as docs/API.md promises.
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields and type coercions are errors, not guesses, and no
    text may hold what PostgreSQL cannot store (NUL characters, lone surrogates)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and ("\x00" in text or not _encodable(text)):
                raise ValueError("text must not contain NUL characters or unpaired surrogates")
        return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


JSON = "application/json; charset=utf-8"


def json_response(body: Any, status: int = 200) -> Response:
    payload = body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body)
    return Response(payload, status_code=status, media_type=JSON)


def no_content() -> Response:
    return Response(status_code=204)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(pattern="^[a-z][a-z0-9_]*$")]
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The body of every error answer (docs/API.md, "Errors")."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


async def parse_body(req: Request, model: type[M], *, optional: bool = False) -> M:
    """The JSON body validated into `model`; an absent body is `model()` when `optional`. A body
    longer than MAX_REQUEST_BODY_BYTES is refused as it arrives, without reading the rest."""
    limit = get_settings().max_request_body_bytes
    chunks, size = [], 0
    async for chunk in req.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError()
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        if optional:
            return model()
        raise InvalidRequestError("A JSON request body is required.")
    content_type = req.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", ""):
        raise InvalidRequestError("The request body must be application/json.")
    return model.model_validate_json(body)


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Which fields are wrong and why, without echoing the values sent."""
    return [
        {"field": ".".join(str(part) for part in error["loc"]) or "body", "message": error["msg"]}
        for error in exc.errors(include_input=False, include_url=False, include_context=False)
    ]


def _is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot serve now, but may soon: unreachable, restarting, out of connections (the
    pool's wait timed out, or PostgreSQL's "too many clients", SQLSTATE 53300), or a lost connection
    (also on the raw psycopg connection of the chunk COPY)."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    module = type(exc).__module__
    if not module.startswith(("psycopg", "sqlalchemy")):
        return False
    sqlstate = str(getattr(getattr(exc, "orig", exc), "sqlstate", None) or "")
    if sqlstate.startswith(("08", "53", "57P")) or any(s in str(exc) for s in ("too many clients", "too many conn")):
        return True
    if module.startswith("psycopg"):
        import psycopg

        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    import sqlalchemy.exc

    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError | sqlalchemy.exc.TimeoutError,
    )


def _where(exc: BaseException) -> str:
    """`file:line` of the innermost frame: enough to find the bug, without a trace or a message."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def _error_to_response(exc: Exception, function: str) -> Response:
    status, error, headers = _error_of(exc, function)
    response = json_response(ErrorResponse(error=error).model_dump(exclude_none=True), status)
    response.headers.update(headers)
    return response


def _error_of(exc: Exception, function: str) -> tuple[int, ErrorDetail, dict[str, str]]:
    """What a client is told of an exception: status, error, headers; unexpected ones are logged."""
    if isinstance(exc, AppError):
        return exc.status, ErrorDetail(code=exc.code, message=exc.message, details=exc.details), exc.headers
    if isinstance(exc, ValidationError):
        details = validation_details(exc)
        return 400, ErrorDetail(code="invalid_request", message="The request is invalid.", details=details), {}
    if _is_database_unavailable(exc):
        logger.warning(
            "database unavailable in %s (invocation %s): %s",
            function,
            invocation_id.get(),
            type(exc).__name__,
        )
        unavailable = ServiceUnavailableError("The database is unavailable. Retry later.")
        return unavailable.status, ErrorDetail(code=unavailable.code, message=unavailable.message), {}
    logger.error(
        "unhandled %s in %s at %s (invocation %s)",
        type(exc).__name__,
        function,
        _where(exc),
        invocation_id.get(),
    )
    return 500, ErrorDetail(code="internal_error", message=f"Internal error. Invocation id: {invocation_id.get()}."), {}


class StreamError(BaseModel):
    """The `error` event that ends a stream which failed after it began (its status was sent)."""

    code: str
    message: str


EVENT_STREAM = "text/event-stream"


def wants_event_stream(req: Request) -> bool:
    """The request's Accept names `text/event-stream` (and does not refuse it with q=0)."""
    for item in req.headers.get("accept", "").split(","):
        media_type, _, parameters = item.partition(";")
        quality = _QUALITY.search(parameters)
        if media_type.strip().lower() == EVENT_STREAM and not (quality and float(quality.group(1)) == 0):
            return True
    return False


_QUALITY = re.compile(r"\bq\s*=\s*(\d+(?:\.\d*)?)", re.I)


def event_stream(events: AsyncIterator[tuple[str, BaseModel]], function: str) -> StreamingResponse:
    """Server-Sent Events, one per (name, data) of `events`, each sent as soon as it comes; an error
    of `events` ends the stream with an `error` event (mapped and logged as `endpoint` does)."""
    headers = {"X-Accel-Buffering": "no"}  # no proxy may hold events back
    return StreamingResponse(_server_sent(events, function), media_type=EVENT_STREAM, headers=headers)


async def _server_sent(events: AsyncIterator[tuple[str, BaseModel]], function: str) -> AsyncIterator[str]:
    try:
        async for name, data in events:
            yield f"event: {name}\ndata: {data.model_dump_json()}\n\n"
    except Exception as exc:  # noqa: BLE001 - after the status went out, an error is the stream's last event
        _, error, _ = _error_of(exc, function)
        yield f"event: error\ndata: {StreamError(code=error.code, message=error.message).model_dump_json()}\n\n"


def endpoint(handler: Handler) -> Callable[[Request, func.Context], Awaitable[Response]]:
    """Wraps an HTTP handler `(req) -> Response`: errors become JSON error bodies, and one log line
    is written per request (for a stream, when it ends: its duration is the whole stream's). The
    wrapper's own signature `(req, context)` is what the Functions worker binds, so handlers stay free
    of binding plumbing."""

    async def wrapper(req: Request, context: func.Context) -> Response:
        function = context.function_name or handler.__name__
        token = invocation_id.set(context.invocation_id)
        session_token = session_hash.set(None)
        started = time.perf_counter()
        try:
            response = await handler(req)
        except Exception as exc:  # noqa: BLE001 - this is the one place errors are mapped
            response = _error_to_response(exc, function)
            if response.status_code == 503:
                response.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)

        def log() -> None:
            log_request(
                function=function,
                invocation_id=context.invocation_id,
                method=req.method,
                status=response.status_code,
                duration_ms=(time.perf_counter() - started) * 1000,
                session=session,
            )

        session = session_hash.get()
        if isinstance(response, StreamingResponse):
            response.body_iterator = _logged(response.body_iterator, log, context.invocation_id, session)
        else:
            log()
        invocation_id.reset(token)
        session_hash.reset(session_token)
        return response

    wrapper.__name__ = handler.__name__
    wrapper.__qualname__ = handler.__qualname__
    wrapper.__doc__ = handler.__doc__
    wrapper.__module__ = handler.__module__
    return wrapper


async def _logged(
    stream: AsyncIterable[Any], log: Callable[[], None], invocation: str, session: str | None
) -> AsyncIterator[Any]:
    """`stream` with the request's invocation id and session in the context of its logs (the worker
    sends a stream from a task of its own, after the handler returned), then the request's log line,
    however it ends (done, failed, or the client gone). Not reset: the task that sends a response
    ends with it."""
    invocation_id.set(invocation)
    session_hash.set(session)
    try:
        async for chunk in stream:
            yield chunk
    finally:
        log()
