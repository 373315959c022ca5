"""Upstream clients shared by the invocations of one event loop (their HTTP connection pools belong
to it), one per configuration."""

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from services.common.settings import Settings

T = TypeVar("T")

_clients: dict[tuple[str, asyncio.AbstractEventLoop, int], Any] = {}


def shared_client(kind: str, settings: Settings, make: Callable[[Settings], T | None]) -> T | None:
    """The `kind` client of the running loop and these settings, made on first use; None when
    `make` finds no provider configured."""
    key = (kind, asyncio.get_running_loop(), id(settings))
    if key not in _clients:
        client = make(settings)
        if client is None:
            return None
        _clients[key] = client
    return _clients[key]  # type: ignore[no-any-return]
