"""Routes that need no session: the health probe and the reference chat page."""

from functools import cache
from pathlib import Path
from typing import Literal

import azure.functions as func
from pydantic import BaseModel

from services.common.http import endpoint, json_response

bp = func.Blueprint()


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]


@bp.function_name("Health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
async def health(req: func.HttpRequest) -> func.HttpResponse:
    from services.common import database

    try:
        await database.ping()
    except Exception:  # noqa: BLE001 - any failure to reach the database is "unavailable"
        return json_response(HealthResponse(status="unavailable", database="unavailable"), 503)
    return json_response(HealthResponse(status="ok", database="ok"))


PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
        "frame-src https://www.youtube-nocookie.com; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@cache
def chat_page() -> bytes:
    return (Path(__file__).parent / "static" / "app.html").read_bytes()


@bp.function_name("ChatPage")
@bp.route(route="app", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
async def app_page(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(chat_page(), status_code=200, mimetype="text/html", charset="utf-8", headers=PAGE_HEADERS)
