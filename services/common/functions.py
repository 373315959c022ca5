"""Routes that need no session: health probe and the OpenAPI document."""

import azure.functions as func

from services.common.http import endpoint, json_response

bp = func.Blueprint()


@bp.function_name("Health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
async def health(req: func.HttpRequest) -> func.HttpResponse:
    from services.common import database

    try:
        await database.ping()
    except Exception:  # noqa: BLE001 - any failure to reach the database is "unavailable"
        return json_response({"status": "unavailable", "database": "unavailable"}, 503)
    return json_response({"status": "ok", "database": "ok"})


@bp.function_name("OpenApi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    from services.common.openapi import openapi_document

    return json_response(openapi_document())
