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


def test_revision_0006_counts_stored_spans_words_and_keeps_chunk_rows_whole(empty_database: str) -> None:
    """Revision 0006 fills the span word counts of the chunks already stored (each window with the two
    after it) and their videos' sums (full-text search reads them) from the chunks' text, and sets
    the chunk table's toast_tuple_target to a page; its downgrade resets it."""
    config = alembic_config(empty_database)
    command.upgrade(config, "0004")
    engine = create_engine(empty_database)
    key = uuid.uuid4()
    options = "SELECT reloptions FROM pg_class WHERE relname = 'video_chunk'"
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO video (id, video_id, language_code, embedding_model, source, is_generated, "
                    "duration_seconds, chunk_count, created_at) "
                    "VALUES (:key, 'v1', 'en', 'm', 'youtube', false, 20, 2, now())"
                ),
                {"key": key},
            )
            contents = ["rivers flow to the sea", " the sea, the sea and  the rivers ", "boats", "rain", "wind"]
            for seq, content in enumerate(contents):
                connection.execute(
                    text(
                        "INSERT INTO video_chunk (id, video_key, video_id, start_seconds, end_seconds, content, "
                        "fts_config) VALUES (:id, :key, 'v1', :start, :end, :content, 'english')"
                    ),
                    {"id": f"{key}:{seq}", "key": key, "start": seq * 10.0, "end": seq * 10.0 + 10, "content": content},
                )

        command.upgrade(config, "0006")

        with engine.connect() as connection:
            spans = connection.execute(
                text("SELECT span_words FROM video_chunk WHERE video_key = :key ORDER BY start_seconds"), {"key": key}
            )
            # Distinct words: rivers flow to the sea (5) / the, sea, and, rivers and "sea," (5) / one each
            assert spans.scalars().all() == [5 + 5 + 1, 5 + 1 + 1, 1 + 1 + 1, 1 + 1, 1]
            total = connection.execute(text("SELECT span_words FROM video WHERE id = :key"), {"key": key})
            assert total.scalar_one() == 11 + 7 + 3 + 2 + 1
            assert connection.execute(text(options)).scalar_one() == ["toast_tuple_target=8160"]
        command.downgrade(config, "0004")
        with engine.connect() as connection:
            assert connection.execute(text(options)).scalar_one() is None
    finally:
        engine.dispose()
