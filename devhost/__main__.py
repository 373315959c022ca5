"""`python -m devhost [--host H] [--port P] [--migrate] [--verbose]`: serves function_app.app at
http://H:P/api/..., runs its timers and its queue triggers (starting Azurite when AzureWebJobsStorage
is `UseDevelopmentStorage=true`), with the app settings of local.settings.json, like `func start`."""

import argparse
import atexit
import errno
import functools
import importlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import uvicorn

from devhost import azurite
from devhost.host import DevHost, load_local_settings, name_of

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def main() -> None:
    args = parse_args()
    stop_on_signals()
    listener = listen(args.host, args.port)
    # Quiet unless --verbose: the embedded database (logger `pgserver`) logs every command it runs with
    # its output, and Alembic (`alembic.runtime.*`) every plugin and revision, all at INFO.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    load_local_settings(args.settings)  # before the app reads its settings at import

    from services.common.database import database_url, migrate
    from services.common.settings import ConfigurationError, get_settings

    try:
        settings = get_settings()
    except ConfigurationError as error:  # a wrong setting: its name and what is wrong, not a traceback
        sys.exit(f"devhost: {error}")

    with signals_held():
        url = database_url()  # the embedded database, when it is the one configured, starts and migrates now
        if args.migrate:
            migrate(url)
        start_azurite()
    app = importlib.import_module("function_app").app
    host_json = json.loads((PROJECT_ROOT / "host.json").read_text(encoding="utf-8"))
    route_prefix = host_json.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    devhost = DevHost(app, route_prefix=route_prefix, directory=str(PROJECT_ROOT))
    if args.verbose:
        log_routes(devhost, args.host, args.port)
    print(banner(args.host, args.port, route_prefix), flush=True)
    print(models_line(settings.embedding_provider, settings.chat_provider), flush=True)
    config = uvicorn.Config(devhost, host=args.host, port=args.port, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    stop_on_signals(server)
    server.run(sockets=[listener])


def start_azurite() -> None:
    """Azurite's queue service, when AzureWebJobsStorage is `UseDevelopmentStorage=true` (the example
    settings) and nothing listens on its port yet; stopped when devhost exits."""
    if os.environ.get(azurite.STORAGE_SETTING, "").strip() != azurite.DEVELOPMENT_STORAGE:
        return
    if azurite.listening(azurite.QUEUE_PORT):
        logging.getLogger("devhost").info("using the storage emulator on port %d", azurite.QUEUE_PORT)
        return
    process = azurite.start(azurite.QUEUE_PORT, PROJECT_ROOT / ".data" / "azurite")
    atexit.register(process.terminate)
    logging.getLogger("devhost").info("Azurite (queues) on port %d, data in .data/azurite", azurite.QUEUE_PORT)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--settings", type=Path, default=PROJECT_ROOT / "local.settings.json")
    parser.add_argument(
        "--migrate", action="store_true", help="apply the migrations first (the embedded database gets them anyway)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log the embedded database, migrations, routes and requests"
    )
    return parser.parse_args()


def stop_on_signals(server: uvicorn.Server | None = None) -> None:
    """SIGINT, SIGTERM and SIGHUP end devhost with a normal interpreter exit, so that the embedded
    PostgreSQL it started stops too (pgserver stops it at exit, `cleanup_mode="stop"`); by default
    SIGTERM and SIGHUP would end the process on the spot. While `server` serves, it shuts down
    gracefully first (uvicorn does so itself on SIGINT and SIGTERM) and the signal comes again."""
    handler = functools.partial(_stop, server)
    for number in STOP_SIGNALS:
        signal.signal(number, handler)


def _stop(server: uvicorn.Server | None, number: int, frame: FrameType | None) -> None:
    if server is not None and not server.should_exit:
        server.handle_exit(number, frame)  # uvicorn raises the signal again once it has stopped
    else:
        raise SystemExit(128 + number)


@contextmanager
def signals_held() -> Iterator[None]:
    """Holds back the first stop signal until the block is over, then acts on it; a second one
    exits at once. For the embedded database's start: a data directory whose initdb was cut short
    never starts."""
    held: list[int] = []

    def hold(number: int, frame: FrameType | None) -> None:
        if held:
            raise SystemExit(128 + number)
        held.append(number)

    previous = {number: signal.signal(number, hold) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if held:
            signal.raise_signal(held[0])


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, listening from now on: a busy port stops devhost here, before the
    embedded database starts. Connections made while the app starts wait in the backlog."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait for TIME_WAIT
    try:
        listener.bind((host, port))
        listener.listen()
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            sys.exit(f"port {port} is in use: stop the other devhost or pass --port")
        raise
    return listener


def log_routes(devhost: DevHost, host: str, port: int) -> None:
    for route in devhost.routes:
        logging.getLogger("devhost").info(
            "%s: [%s] http://%s:%d%s",
            name_of(route.function),
            ",".join(sorted(route.methods)),
            host,
            port,
            route.template,
        )


def banner(host: str, port: int, route_prefix: str) -> str:
    browse = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::1", "::") else host  # noqa: S104 - a name to show
    base = f"http://{f'[{browse}]' if ':' in browse else browse}:{port}/{route_prefix}".rstrip("/")
    return (
        f"devhost: serving function_app on {host}:{port} ({base})\n"
        f"chat page: {base}/app\n"
        "stop: Ctrl-C; more detail: --verbose"
    )


def models_line(embedding: str | None, chat: str | None) -> str:
    """What answers questions with these settings (README "Settings": EMBEDDING_PROVIDER, CHAT_PROVIDER)."""
    search = f"embeddings from {embedding} and full text" if embedding else "full text alone (no embedding provider)"
    answers = f"written by the {chat} chat model" if chat else "quotes of the transcripts (no chat model)"
    return f"search: {search}; answers: {answers}"


if __name__ == "__main__":
    main()
