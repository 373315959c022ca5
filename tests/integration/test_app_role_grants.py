"""DeployResources/hooks/grant_app_role.py: after the migrations, the app's own PostgreSQL role (its
managed identity on Azure) can use every table they made, and those of later revisions, while the
migrations' role keeps owning them."""

import importlib.util
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, make_url, text

from services.common.database import PROJECT_ROOT, migrate

_spec = importlib.util.spec_from_file_location(
    "grant_app_role", PROJECT_ROOT / "DeployResources/hooks/grant_app_role.py"
)
assert _spec and _spec.loader
grant_app_role = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grant_app_role)


@pytest.fixture
def migrated_database(database_url: str) -> Iterator[str]:
    """A new database on the same server with the migrations applied, dropped afterwards."""
    name = f"grants_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def app_role(migrated_database: str) -> Iterator[str]:
    """A role named like a Function App (with dashes), dropped with its privileges afterwards."""
    role = f"func-test-{uuid.uuid4().hex[:8]}"
    identifier = sql.Identifier(role)
    with psycopg.connect(grant_app_role.libpq_url(migrated_database), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(identifier))
    try:
        yield role
    finally:
        with psycopg.connect(grant_app_role.libpq_url(migrated_database), autocommit=True) as connection:
            connection.execute(sql.SQL("DROP OWNED BY {}").format(identifier))
            connection.execute(sql.SQL("DROP ROLE {}").format(identifier))


def as_role(url: str, role: str, statement: str) -> None:
    with psycopg.connect(grant_app_role.libpq_url(url)) as connection:
        connection.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        connection.execute(statement)


def test_the_app_role_uses_the_migrated_tables_after_the_grant(migrated_database: str, app_role: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_role(migrated_database, app_role, "SELECT count(*) FROM session")

    assert grant_app_role.grant(migrated_database, app_role) is True
    assert grant_app_role.grant(migrated_database, app_role) is True  # again: nothing changes

    as_role(migrated_database, app_role, "SELECT count(*) FROM session")
    as_role(migrated_database, app_role, "SELECT count(*) FROM video_chunk")
    as_role(migrated_database, app_role, "DELETE FROM video_sentence")
    as_role(migrated_database, app_role, "DELETE FROM langchain_chat_message")
    as_role(migrated_database, app_role, "CREATE TEMP TABLE scratch (x int)")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_role(migrated_database, app_role, "DROP TABLE session")  # the tables stay the migrations'


def test_tables_of_later_revisions_are_granted_by_default(migrated_database: str, app_role: str) -> None:
    grant_app_role.grant(migrated_database, app_role)
    with psycopg.connect(grant_app_role.libpq_url(migrated_database), autocommit=True) as connection:
        connection.execute("CREATE TABLE later_revision (id bigserial PRIMARY KEY, x int)")

    as_role(migrated_database, app_role, "INSERT INTO later_revision (x) VALUES (1)")


def test_without_the_role_nothing_is_granted(migrated_database: str) -> None:
    assert grant_app_role.grant(migrated_database, "func-without-a-role") is False
