"""A PostgreSQL 16 + pgvector of a test's own (pgserver's binaries, in a temporary directory), for
what the shared test database must not change: a small `max_connections`, password authentication."""

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Server:
    superuser_url: str  # postgresql+psycopg://postgres@/postgres?host=<socket dir>
    socket_dir: str
    log: Path

    def url(self, database: str, user: str = "postgres", password: str | None = None) -> str:
        return (
            make_url(self.superuser_url)
            .set(username=user, password=password, database=database)
            .render_as_string(hide_password=False)
        )

    def execute(self, *statements: str, database: str = "postgres") -> None:
        """Runs statements as the superuser, outside a transaction (CREATE DATABASE, ALTER SYSTEM)."""
        engine = create_engine(self.url(database), isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        try:
            with engine.connect() as connection:
                for statement in statements:
                    connection.execute(text(statement))
        finally:
            engine.dispose()


def _null_pool() -> type:
    from sqlalchemy.pool import NullPool

    return NullPool


@contextmanager
def dedicated_postgres(settings: dict[str, str] | None = None, hba_lines: tuple[str, ...] = ()) -> Iterator[Server]:
    """Starts a new server; `settings` (postgresql.conf, e.g. max_connections) and `hba_lines` (put
    first in pg_hba.conf, e.g. a role that must give a password) take effect by a restart. Stopped
    and deleted at the end."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    directory = Path(tempfile.mkdtemp(prefix="pg-"))
    pgdata = directory / "data"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        if settings or hba_lines:
            for name, value in (settings or {}).items():
                server.psql(f"ALTER SYSTEM SET {name} = '{value}';")
            hba = pgdata / "pg_hba.conf"
            hba.write_text("".join(f"{line}\n" for line in hba_lines) + hba.read_text())
            server.cleanup()  # stops it (this process holds its only handle) ...
            server = pgserver.get_server(pgdata, cleanup_mode="stop")  # ... and starts it with the new settings
        uri = server.get_uri()
        yield Server(
            superuser_url=uri.replace("postgresql://", "postgresql+psycopg://", 1),
            socket_dir=uri.split("host=", 1)[1],
            log=pgdata / "log",
        )
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)
