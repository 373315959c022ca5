"""Upstream clients shared by the invocations of one event loop (their HTTP connection pools belong
to it), one per configuration."""

import asyncio
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import SecretStr

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


def openai_connection(settings: Settings, provider: Literal["azure", "openai"]) -> dict[str, Any]:
    """The keyword arguments with which langchain-openai's clients (chat and embeddings) reach the
    provider: Azure OpenAI, or OpenAI and any compatible server; retried with backoff, timed out."""
    retried = {"max_retries": settings.openai_max_retries, "request_timeout": settings.openai_timeout_seconds}
    if provider == "azure":
        return retried | {
            "azure_endpoint": settings.azure_openai_endpoint,
            "openai_api_key": settings.azure_openai_api_key,
            "openai_api_version": settings.azure_openai_api_version,
        }
    return retried | {
        "openai_api_key": settings.openai_key or SecretStr("not-needed"),  # local servers take any key
        "openai_api_base": settings.openai_base_url,
    }
