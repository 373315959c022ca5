"""Health probe and OpenAPI document."""

import httpx
import pytest

from devhost.host import functions_of
from function_app import app

pytestmark = pytest.mark.asyncio


async def test_health_reports_the_database_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_openapi_describes_every_registered_route_and_nothing_else(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    registered = {
        (f"/api/{f.get_trigger().route}", str(method.value).lower(), f.get_function_name())
        for f in functions_of(app)
        if f.get_trigger().get_binding_name() == "httpTrigger"
        for method in f.get_trigger().methods
    }
    described = {
        (path, method, operation["operationId"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert described == registered


async def test_openapi_references_resolve(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for ref in refs(document):
        target: object = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, ref
            target = target[part]
