"""Observability: one JSON log line per request, and OpenTelemetry spans around the slow steps
(transcript fetch, embedding, retrieval, model calls). Nothing here exports them: on Azure the Functions
Python worker configures the Azure Monitor distro before it imports the app
(PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true), so the spans of the global tracer provider and the
records of the `services` loggers (PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME) go to Application Insights,
as children of the host's request; elsewhere the tracer is OpenTelemetry's no-op one."""

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

request_logger = logging.getLogger("services.requests")

# The session of the current request, as a hash: logs never carry a raw session id.
session_hash: ContextVar[str | None] = ContextVar("session_hash", default=None)


def hash_session_id(session_id: object) -> str:
    return hashlib.sha256(str(session_id).encode()).hexdigest()[:16]


def set_session(session_id: object) -> None:
    session_hash.set(hash_session_id(session_id))


def log_request(
    *, function: str, invocation_id: str, method: str, status: int, duration_ms: float, session: str | None = None
) -> None:
    """One line per request; `session`: its hash, when the line is written outside the request's context."""
    request_logger.info(
        json.dumps(
            {
                "event": "request",
                "function": function,
                "invocation_id": invocation_id,
                "session": session or session_hash.get(),
                "method": method,
                "status": status,
                "duration_ms": round(duration_ms, 1),
            }
        )
    )


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    """Times a step as a span of the global tracer provider (the worker's, on Azure; a no-op elsewhere)."""
    from opentelemetry import trace

    with trace.get_tracer("chat-with-videos").start_as_current_span(name, attributes=attributes):
        yield
