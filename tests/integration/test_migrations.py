"""Alembic: every revision upgrades, downgrades and upgrades again; the models match the schema."""

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, make_url, text

from services.common.database import PROJECT_ROOT


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    """A new empty database on the same server, dropped afterwards."""
    name = f"migrations_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    return config


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_every_revision_upgrades_downgrades_and_upgrades_again(empty_database: str) -> None:
    config = alembic_config(empty_database)
    revisions = list(reversed(list(ScriptDirectory.from_config(config).walk_revisions())))
    assert revisions, "no revision found"

    for revision in revisions:
        command.upgrade(config, revision.revision)
        command.downgrade(config, str(revision.down_revision or "base"))
        command.upgrade(config, revision.revision)

    assert "session" in tables(empty_database)
    command.downgrade(config, "base")
    assert tables(empty_database) <= {"alembic_version"}


def test_models_and_migrations_have_no_drift(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "head")

    command.check(config)  # raises when autogenerate would produce operations
