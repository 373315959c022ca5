"""HTTP and timer functions of anonymous sessions."""

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import azure.functions as func
from fastapi import Request, Response

from services.common.http import endpoint, json_response, no_content, parse_body
from services.common.limits import client_key, get_limits
from services.common.settings import get_settings
from services.common.telemetry import set_session
from services.sessions.authorizer import require_session, session_id_from
from services.sessions.schemas import SessionRequest, SessionResponse

if TYPE_CHECKING:  # the service (and SQLAlchemy) load on the first request, not at import
    from services.sessions.service import ActiveSession, SessionDependent, SessionService

bp = func.Blueprint()
logger = logging.getLogger(__name__)

_session_data: list[Callable[[], Sequence["SessionDependent"]]] = []


def delete_with_sessions(data: Callable[[], Sequence["SessionDependent"]]) -> None:
    """Registers what another service hangs off sessions (made on first use, not at import): it is
    deleted with them by DeleteSession and the expiry timer. `function_app.py` wires it."""
    _session_data.append(data)


def sessions() -> "SessionService":
    from services.common import database
    from services.sessions.repository import SessionRepository
    from services.sessions.service import SessionService

    dependents = [dependent for data in _session_data for dependent in data()]
    return SessionService(
        SessionRepository(), database.transaction, get_settings(), dependents=dependents, limits=get_limits()
    )


@bp.function_name("GetOrCreateSession")
@bp.route(route="sessions", methods=["POST"])
@endpoint
async def get_or_create_session(req: Request) -> Response:
    body = await parse_body(req, SessionRequest, optional=True)
    session, created = await sessions().get_or_create(body.session_id or session_id_from(req), client_key(req))
    set_session(session.id)
    return json_response(SessionResponse.of(session, created), 201 if created else 200)


@bp.function_name("DeleteSession")
@bp.route(route="sessions/current", methods=["DELETE"])
@endpoint
@require_session
async def delete_session(req: Request, session: "ActiveSession") -> Response:
    await sessions().delete(session.id)
    return no_content()


@bp.function_name("session_expire_timer")
@bp.timer_trigger(
    arg_name="timer",
    schedule="%SESSION_CLEANUP_SCHEDULE%",
    run_on_startup=get_settings().session_cleanup_run_on_startup,
    use_monitor=True,
)
async def session_expire_timer(timer: func.TimerRequest) -> None:
    deleted = await sessions().delete_expired()
    counters = await get_limits().delete_ended()  # not sessions' own, but this is the app's cleanup
    logger.info(
        "session_expire_timer deleted %d expired sessions and %d ended rate counters (past due: %s)",
        deleted,
        counters,
        timer.past_due,
    )
