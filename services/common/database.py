"""The database: one lazily created async engine per process (per event loop), reused by every
invocation, and the embedded PostgreSQL used when no connection string is configured."""

import asyncio
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.common.per_loop import forget, of_this_loop
from services.common.settings import ConfigurationError, Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# How services open a unit of work: `transaction()` below, or a test's stand-in.
Transaction = Callable[[], AbstractAsyncContextManager["AsyncSession"]]

_embedded_lock = threading.RLock()
_embedded: dict[str, Any] = {}


def database_url() -> str:
    """The configured database, or the embedded one (started and migrated on first use)."""
    url = get_settings().database_url
    return url if url is not None else embedded_database_url()


def embedded_database_url() -> str:
    """The embedded database, started and migrated to the latest revision once per process."""
    with _embedded_lock:
        if "migrated" not in _embedded:
            migrate(start_embedded_database())
            _embedded["migrated"] = True
    return start_embedded_database()


def start_embedded_database() -> str:
    """Starts the embedded PostgreSQL + pgvector (package `pgserver`, data under
    PG_EMBEDDED_DATA_DIR) once per process and returns its SQLAlchemy URL."""
    with _embedded_lock:
        if "url" not in _embedded:
            data_dir = Path(get_settings().pg_embedded_data_dir)
            if not data_dir.is_absolute():
                data_dir = PROJECT_ROOT / data_dir
            data_dir.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR in containers
                warnings.simplefilter("ignore")
                try:
                    import pgserver
                except ImportError:
                    raise ConfigurationError(
                        "PG_CONNECTION_STRING is not set and the embedded database (package pgserver, "
                        "in requirements-local.txt) is not installed"
                    ) from None
                server = pgserver.get_server(data_dir, cleanup_mode="stop")
            _embedded.update(server=server, url=server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1))
            logger.info("embedded PostgreSQL running in %s", data_dir)
        return str(_embedded["url"])


def migrate(url: str, revision: str = "head") -> None:
    """`alembic upgrade <revision>` against `url`, in-process."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic_migrations"))
    config.attributes["database_url"] = url
    command.upgrade(config, revision)


def get_engine() -> "AsyncEngine":
    """The engine of the running event loop (async connections cannot cross loops)."""
    return of_this_loop("engine", _new_engine)


def _new_engine() -> "AsyncEngine":
    """The process's connection budget is DB_POOL_SIZE + DB_MAX_OVERFLOW: a request that finds them
    all busy waits DB_CONNECT_TIMEOUT_SECONDS for one, then fails (503, Retry-After)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    settings = get_settings()
    connect_args: dict[str, Any] = {"connect_timeout": settings.db_connect_timeout_seconds}
    if settings.pg_pgbouncer:  # transaction pooling: a prepared statement would outlive its server connection
        connect_args["prepare_threshold"] = None
    engine = create_async_engine(
        database_url(),
        pool_pre_ping=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_connect_timeout_seconds,
        connect_args=connect_args,
    )
    if settings.pg_entra_auth:
        from services.common import entra

        entra.use_as_password(engine, entra.EntraPassword(entra.default_credential()))
    return engine


def bulk_writers(settings: Settings) -> int:
    """Long writes (a video's chunks) held at once by one process: half its connections, at least one."""
    return max(1, (settings.db_pool_size + settings.db_max_overflow) // 2)


@asynccontextmanager
async def bulk_write_slot() -> AsyncIterator[None]:
    """Waits for one of `bulk_writers()` places for long writes (a video's chunks) in this event loop,
    so that they never hold every connection: the others stay free for short statements, which would
    otherwise wait for a connection beyond the pool timeout under many concurrent ingestions."""
    async with of_this_loop("bulk_write_slots", lambda: asyncio.Semaphore(bulk_writers(get_settings()))):
        yield


@asynccontextmanager
async def transaction() -> AsyncIterator["AsyncSession"]:
    """A unit of work: one AsyncSession in one transaction, committed on success, rolled back on error."""
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(get_engine(), expire_on_commit=False) as session, session.begin():
        yield session


async def ping() -> None:
    from sqlalchemy import text

    async with get_engine().connect() as connection:
        await connection.execute(text("SELECT 1"))


async def dispose_engines() -> None:
    """Closes the pooled connections of the running loop's engine (tests, shutdown)."""
    forget("bulk_write_slots")  # sized by the settings of the next engine
    engine = forget("engine")
    if engine is not None:
        await engine.dispose()
