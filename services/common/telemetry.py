"""Observability: one JSON log line per request, and OpenTelemetry spans around the slow steps
(transcript fetch, embedding, retrieval, model calls), exported to Application Insights when
APPLICATIONINSIGHTS_CONNECTION_STRING is set (and nowhere when it is not)."""

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

_configured: dict[str, bool] = {}


def hash_session_id(session_id: object) -> str:
    return hashlib.sha256(str(session_id).encode()).hexdigest()[:16]


def set_session(session_id: object) -> None:
    session_hash.set(hash_session_id(session_id))


def log_request(*, function: str, invocation_id: str, method: str, status: int, duration_ms: float) -> None:
    request_logger.info(
        json.dumps(
            {
                "event": "request",
                "function": function,
                "invocation_id": invocation_id,
                "session": session_hash.get(),
                "method": method,
                "status": status,
                "duration_ms": round(duration_ms, 1),
            }
        )
    )


def configure_azure_monitor(connection_string: str | None) -> bool:
    """Sends traces and logs to Application Insights; a no-op without a connection string."""
    if not connection_string or _configured.get("azure_monitor"):
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor as configure

    configure(connection_string=connection_string, logger_name="services")
    _configured["azure_monitor"] = True
    return True


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    """Times a step as an OpenTelemetry span (a no-op tracer unless Azure Monitor is configured)."""
    from opentelemetry import trace

    with trace.get_tracer("chat-with-videos").start_as_current_span(name, attributes=attributes):
        yield
