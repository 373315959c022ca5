"""The session authorizer: every route that needs a session is wrapped in `require_session`."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import Request, Response

from services.common.errors import SessionRequiredError
from services.common.telemetry import set_session

if TYPE_CHECKING:  # the service (and SQLAlchemy) load on the first request, not at import
    from services.sessions.service import ActiveSession

SESSION_HEADER = "X-Session-Id"
SESSION_QUERY_PARAMETER = "session_id"

SessionHandler = Callable[[Request, "ActiveSession"], Awaitable[Response]]


def session_id_from(req: Request) -> str | None:
    """The session id a request carries: the X-Session-Id header, else the session_id query parameter."""
    raw = req.headers.get(SESSION_HEADER) or req.query_params.get(SESSION_QUERY_PARAMETER)
    return raw.strip() if raw and raw.strip() else None


def require_session(handler: SessionHandler) -> Callable[[Request], Awaitable[Response]]:
    """Runs `handler(req, session)` for a live session (renewing it), or raises the 401 of docs/API.md."""

    async def authorized(req: Request) -> Response:
        from services.sessions.functions import sessions
        from services.sessions.service import parse_session_id

        raw_id = session_id_from(req)
        if raw_id is None:
            raise SessionRequiredError()
        session = await sessions().authorize(parse_session_id(raw_id))
        set_session(session.id)
        return await handler(req, session)

    authorized.__name__ = handler.__name__
    authorized.__qualname__ = handler.__qualname__
    authorized.__module__ = handler.__module__
    return authorized
