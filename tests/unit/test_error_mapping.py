"""The database out of connections, down or restarting is 503 with Retry-After, never 500, whichever
layer reports it: SQLAlchemy's pool, PostgreSQL through SQLAlchemy, or the raw psycopg connection
of the chunk COPY."""

import psycopg
import pytest
import sqlalchemy.exc
from fastapi import Request, Response
from psycopg import errors as pg

from devhost.host import Context
from services.common.http import _is_database_unavailable, endpoint


def wrapped(orig: Exception) -> sqlalchemy.exc.StatementError:
    return sqlalchemy.exc.DBAPIError.instance("SELECT 1", {}, orig, psycopg.Error)  # as SQLAlchemy raises it


@pytest.mark.parametrize(
    "exc",
    [
        sqlalchemy.exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached"),
        pg.TooManyConnections("sorry, too many clients already"),
        wrapped(
            pg.TooManyConnections("remaining connection slots are reserved for roles with the SUPERUSER attribute")
        ),
        wrapped(psycopg.OperationalError("connection failed: FATAL:  sorry, too many clients already")),
        psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
        pg.AdminShutdown("terminating connection due to administrator command"),
        wrapped(pg.CannotConnectNow("the database system is starting up")),
        ConnectionResetError(),
    ],
)
async def test_database_unavailable_is_503_with_retry_after(exc: Exception) -> None:
    async def handler(req: Request) -> Response:
        raise exc

    request = Request({"type": "http", "method": "GET", "path": "/api/x", "headers": [], "query_string": b""})
    response = await endpoint(handler)(request, Context("Test", "."))

    assert response.status_code == 503
    assert b"service_unavailable" in bytes(response.body)
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "exc",
    [
        wrapped(pg.UniqueViolation("duplicate key value")),
        pg.UndefinedTable("relation does not exist"),
        ValueError("too many connections in this list"),  # not the database's
    ],
)
def test_other_errors_are_not_mistaken_for_an_unavailable_database(exc: Exception) -> None:
    assert not _is_database_unavailable(exc)
