"""Routes that need no session: the health probe and the reference chat page."""

import base64
import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Literal

import azure.functions as func
from fastapi import Request, Response
from pydantic import BaseModel

from services.common.http import endpoint, json_response

bp = func.Blueprint()


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]


@bp.function_name("Health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
async def health(req: Request) -> Response:
    from services.common import database

    try:
        await database.ping()
    except Exception:  # noqa: BLE001 - any failure to reach the database is "unavailable"
        return json_response(HealthResponse(status="unavailable", database="unavailable"), 503)
    return json_response(HealthResponse(status="ok", database="ok"))


YOUTUBE_API_SCRIPTS = "https://www.youtube.com/iframe_api https://www.youtube.com/s/player/"


@cache
def chat_page() -> tuple[bytes, dict[str, str]]:
    """The page and its headers. Its one inline script may run, by its hash, and so may YouTube's IFrame
    Player API (the script the page loads when a moment is played, and the one that script loads); nothing else."""
    page = (Path(__file__).parent / "static" / "app.html").read_bytes()
    scripts = re.findall(rb"<script>(.*?)</script>", page, re.S)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" for s in scripts)
    headers = {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {hashes} {YOUTUBE_API_SCRIPTS}; style-src 'unsafe-inline'; "
            "connect-src 'self'; "
            "frame-src https://www.youtube-nocookie.com; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "Cache-Control": "no-cache",
    }
    return page, headers


@bp.function_name("ChatPage")
@bp.route(route="app", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
async def app_page(req: Request) -> Response:
    page, headers = chat_page()
    return Response(page, status_code=200, media_type="text/html; charset=utf-8", headers=headers)
