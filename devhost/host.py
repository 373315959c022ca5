"""A local stand-in for the Azure Functions host: an ASGI app that serves a FunctionApp's HTTP
triggers (their own routes, methods and route parameters) under the host's route prefix, runs
its timer triggers on their NCRONTAB schedules, and its queue triggers on their Azure Storage queues
(`devhost.queues`, with host.json's queue settings).

Only what this project uses is supported: HTTP triggers with an `$return` HTTP output, served as
the Functions Python worker serves them with HTTP streams on (`PYTHON_ENABLE_INIT_INDEXING=1` and
the `azurefunctions-extensions-http-fastapi` extension): the function gets a FastAPI `Request` (route
parameters in `path_params`) and its FastAPI `Response` is sent as it is, a `StreamingResponse` chunk
by chunk as it is produced; timer triggers; and queue triggers. Auth levels are not enforced, as
with `func start`. Like Azure's front end, it appends the address a request came from to its
X-Forwarded-For header (the app's rate limits count per client).
"""

import asyncio
import functools
import inspect
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import Function
from azure.functions.timer import TimerRequest
from fastapi import Request, Response

logger = logging.getLogger("devhost")

MAX_BODY_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit
_SETTING_REFERENCE = re.compile(r"^%([A-Za-z0-9_]+)%$")
_ROUTE_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]+)?(\??)\}")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def load_local_settings(path: Path) -> None:
    """Copies `Values` of local.settings.json into the environment, as `func start` does.
    Variables already set in the environment win."""
    if not path.exists():
        return
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    for name, value in values.items():
        os.environ.setdefault(name, str(value))


def resolve_setting(value: str) -> str:
    """`%NAME%` -> the app setting NAME, like the host's binding expressions."""
    match = _SETTING_REFERENCE.match(value)
    if not match:
        return value
    resolved = os.environ.get(match.group(1))
    if resolved is None:
        raise RuntimeError(f"The app setting {match.group(1)} referenced by a binding is not set.")
    return resolved


@functools.cache
def functions_of(app: func.FunctionApp) -> list[Function]:
    """The app's functions. `FunctionApp.get_functions()` may run once per app: a second call
    rejects the functions of the first as duplicates, so every caller shares this one."""
    return app.get_functions()


def trigger_of(function: Function) -> Any:
    """The function's trigger binding: an HttpTrigger or a TimerTrigger here."""
    trigger = function.get_trigger()
    if trigger is None:
        raise ValueError(f"{name_of(function)} has no trigger")
    return trigger


def name_of(function: Function) -> str:
    return function.get_function_name() or function.get_user_function().__name__


class Context(func.Context):
    def __init__(self, function_name: str, function_directory: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._thread_local_storage = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]
        return self._thread_local_storage

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        raise NotImplementedError("devhost has no trace context")

    @property
    def retry_context(self) -> Any:
        raise NotImplementedError("devhost has no retry context")


async def invoke(function: Function, trigger_value: Any, directory: str) -> Any:
    """Calls a registered function the way the worker does: the trigger under its binding name,
    `context` when the signature asks for it; sync functions run in a worker thread."""
    user_function = function.get_user_function()
    kwargs = {trigger_of(function).name: trigger_value}
    if "context" in inspect.signature(user_function).parameters:
        kwargs["context"] = Context(name_of(function), directory)
    if inspect.iscoroutinefunction(user_function):
        return await user_function(**kwargs)
    return await asyncio.to_thread(user_function, **kwargs)


@dataclass
class HttpRoute:
    function: Function
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str]

    @classmethod
    def of(cls, function: Function, route_prefix: str) -> "HttpRoute":
        trigger = trigger_of(function)
        route = (trigger.route or name_of(function)).strip("/")
        methods = frozenset(str(getattr(m, "value", m)).upper() for m in (trigger.methods or [])) or frozenset(
            {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
        )
        template = f"/{route_prefix}/{route}" if route_prefix else f"/{route}"
        return cls(function, template, re.compile(_route_regex(template.lstrip("/"))), methods)


def _route_regex(template: str) -> str:
    """An Azure route template (`videos/{video_id}`, `{id:int}`, `{name?}`, `{*rest}`) as a regex."""
    regex, position = "^/", 0
    for match in _ROUTE_PARAMETER.finditer(template):
        regex += re.escape(template[position : match.start()])
        catch_all, name, optional = match.groups()
        regex += f"(?P<{name}>{'.*' if catch_all else '[^/]+'}){'?' if optional else ''}"
        position = match.end()
    return regex + re.escape(template[position:]) + "/?$"


class DevHost:
    """The ASGI app. `timers=False` runs no timer (tests drive timers themselves); `queues=False` no
    queue trigger (`start_queues()` runs them in the caller's event loop)."""

    def __init__(
        self,
        app: func.FunctionApp,
        *,
        route_prefix: str = "api",
        timers: bool = True,
        queues: bool = True,
        directory: str = ".",
        host_json: dict[str, Any] | None = None,
    ) -> None:
        functions = functions_of(app)
        self.directory = directory
        self.host_json = host_json if host_json is not None else _host_json(directory)
        self.routes = [
            HttpRoute.of(f, route_prefix) for f in functions if trigger_of(f).get_binding_name() == "httpTrigger"
        ]
        self.timer_functions = [f for f in functions if trigger_of(f).get_binding_name() == "timerTrigger"]
        self.queue_functions = [f for f in functions if trigger_of(f).get_binding_name() == "queueTrigger"]
        self._run_timers = timers
        self._run_queues = queues
        self._timer_tasks: list[asyncio.Task[None]] = []
        self._queue_tasks: list[asyncio.Task[None]] = []

    # --- queues -------------------------------------------------------------------------------

    def start_queues(self) -> None:
        """Runs every queue trigger on its queue in the running event loop; a missing connection or
        queue name fails here, at start-up, like the host."""
        from devhost.queues import QueueOptions, QueueRunner

        options = QueueOptions.of(self.host_json)
        for function in self.queue_functions:
            runner = QueueRunner(function, options, self.directory)
            self._queue_tasks.append(asyncio.create_task(runner.run(), name=f"queue {name_of(function)}"))

    async def stop_queues(self) -> None:
        tasks, self._queue_tasks = self._queue_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    # --- HTTP ---------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The path comes decoded once by the server, as the Functions host decodes it: a route
        # parameter sent as `a%2551` is `a%51`.
        method = scope["method"].upper()
        route, route_params = self._match(scope["path"], method)
        if route is None:
            await _send_error(send, 404, "not_found", "No such route.")
            return
        body = await _read_body(receive)
        if body is None:
            await _send_error(send, 413, "payload_too_large", "The request body is too large.")
            return
        try:
            response = await invoke(route.function, _request_of(scope, route_params, body, receive), self.directory)
            if not isinstance(response, Response):
                raise TypeError(f"an HTTP function returned {type(response).__name__}, not a Response")
        except Exception as exc:  # noqa: BLE001 - the host answers 500 for a function that raised
            logger.error("function %s raised %s", name_of(route.function), type(exc).__name__)
            await _send_error(send, 500, "internal_error", "The function failed.")
            return
        await response(scope, receive, send)  # a stream goes out as it comes, and stops if the client leaves

    def _match(self, path: str, method: str) -> tuple[HttpRoute | None, dict[str, str]]:
        for route in self.routes:
            match = route.pattern.match(path)
            if match and method in route.methods:
                return route, {k: v for k, v in match.groupdict().items() if v is not None}
        return None, {}

    # --- timers -------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._run_timers:
                        self.start_timers()
                    if self._run_queues:
                        self.start_queues()
                except Exception as exc:  # noqa: BLE001 - reported to the ASGI server
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self._timer_tasks:
                    task.cancel()
                await self.stop_queues()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start_timers(self) -> None:
        """Schedules every timer trigger; a bad schedule fails here, at start-up, like the host."""
        from croniter import croniter

        for function in self.timer_functions:
            trigger = trigger_of(function)
            schedule = resolve_setting(trigger.schedule)
            if len(schedule.split()) != 6:
                raise ValueError(f"{name_of(function)}: NCRONTAB needs 6 fields: {schedule!r}")
            times = croniter(schedule, datetime.now(UTC), second_at_beginning=True)
            self._timer_tasks.append(
                asyncio.create_task(self._run_timer(function, times, bool(trigger.run_on_startup)))
            )

    async def _run_timer(self, function: Function, times: Any, run_on_startup: bool) -> None:
        if run_on_startup:
            await self.run_timer(function)
        while True:
            next_run = times.get_next(datetime)
            await asyncio.sleep(max(0.0, (next_run - datetime.now(UTC)).total_seconds()))
            await self.run_timer(function)

    async def run_timer(self, function: Function, past_due: bool = False) -> None:
        name = name_of(function)
        logger.info("timer %s: running", name)
        try:
            await invoke(function, TimerRequest(past_due=past_due), self.directory)
        except Exception as exc:  # noqa: BLE001 - a failed run is logged; the schedule goes on
            logger.error("timer %s failed: %s", name, type(exc).__name__)


def _host_json(directory: str) -> dict[str, Any]:
    path = Path(directory) / "host.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _request_of(scope: Scope, route_params: dict[str, str], body: bytes, receive: Receive) -> Request:
    """The FastAPI request the function gets: the body already read (replayed once, then `receive`
    reports a disconnect), the route parameters as `path_params`, and X-Forwarded-For as Azure's
    front end leaves it: the address the request came from appended, last."""
    headers = [(name, value) for name, value in scope["headers"] if name.lower() != b"x-forwarded-for"]
    forwarded = [value.decode("latin-1") for name, value in scope["headers"] if name.lower() == b"x-forwarded-for"]
    if scope.get("client"):
        forwarded.append(scope["client"][0])
    if forwarded:
        headers.append((b"x-forwarded-for", ", ".join(forwarded).encode("latin-1")))
    replayed = False

    async def replay() -> MutableMapping[str, Any]:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({**scope, "headers": headers, "path_params": route_params}, replay)


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await _send(send, status, [(b"content-type", b"application/json")], body)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
