"""Objects that belong to one event loop (async connection pools, HTTP clients, semaphores): made on
first use in each loop and reused by every invocation that runs in it. The one cache of its kind."""

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_objects: dict[asyncio.AbstractEventLoop, dict[str, tuple[object, Any]]] = {}


def of_this_loop(kind: str, make: Callable[[], T], *, made_from: object = None) -> T:
    """The running loop's `kind` object, made by `make()` on first use, and made again when
    `made_from` (what it was made from, e.g. the Settings; compared by identity) has changed.
    Objects of closed loops are dropped."""
    loop = asyncio.get_running_loop()
    if loop not in _objects:
        for closed in [other for other in _objects if other.is_closed()]:
            del _objects[closed]
        _objects[loop] = {}
    objects = _objects[loop]
    if kind not in objects or objects[kind][0] is not made_from:
        objects[kind] = (made_from, make())
    return objects[kind][1]  # type: ignore[no-any-return]


def forget(kind: str) -> Any:
    """Removes the running loop's `kind` object and returns it (None when there is none)."""
    entry = _objects.get(asyncio.get_running_loop(), {}).pop(kind, None)
    return None if entry is None else entry[1]
