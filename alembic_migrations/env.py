"""Alembic environment: runs migrations with a synchronous psycopg 3 engine.

The URL is, in order: `config.attributes["database_url"]` (set by the app and the tests), else the
app's `PG_CONNECTION_STRING`, else the embedded PostgreSQL (started on demand).
"""

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from alembic_migrations.config.autogenerate_base_metadatas import BASE_METADATAS
from alembic_migrations.config.autogenerate_excluded_tables import excluded_tables

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    from services.common.database import start_embedded_database
    from services.common.settings import get_settings

    return get_settings().database_url or start_embedded_database()


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return not (table is not None and table.name in excluded_tables())


def run_migrations() -> None:
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=BASE_METADATAS,
            include_object=include_object,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
