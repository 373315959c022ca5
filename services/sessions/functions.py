"""HTTP and timer functions of anonymous sessions."""

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from services.common.http import endpoint, json_response, no_content, parse_body
from services.common.settings import get_settings
from services.common.telemetry import set_session
from services.sessions.authorizer import require_session, session_id_from
from services.sessions.schemas import SessionRequest, SessionResponse

if TYPE_CHECKING:  # the service (and SQLAlchemy) load on the first request, not at import
    from services.sessions.service import ActiveSession, SessionService

bp = func.Blueprint()
logger = logging.getLogger(__name__)


def sessions() -> "SessionService":
    from services.sessions.service import SessionService

    return SessionService.default()


@bp.function_name("GetOrCreateSession")
@bp.route(route="sessions", methods=["POST"])
@endpoint
async def get_or_create_session(req: func.HttpRequest) -> func.HttpResponse:
    body = parse_body(req, SessionRequest, optional=True)
    session, created = await sessions().get_or_create(body.session_id or session_id_from(req))
    set_session(session.id)
    response = SessionResponse(
        session_id=str(session.id),
        created_at=session.created_at,
        expires_at=session.expires_at,
        created=created,
    )
    return json_response(response, 201 if created else 200)


@bp.function_name("DeleteSession")
@bp.route(route="sessions/current", methods=["DELETE"])
@endpoint
@require_session
async def delete_session(req: func.HttpRequest, session: "ActiveSession") -> func.HttpResponse:
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
    logger.info("session_expire_timer deleted %d expired sessions (past due: %s)", deleted, timer.past_due)
