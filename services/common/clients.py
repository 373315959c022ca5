"""Upstream model clients (langchain-openai), shared by the invocations of one event loop: their
HTTP connection pools belong to it."""

import ssl
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from pydantic import SecretStr

from services.common.per_loop import of_this_loop
from services.common.settings import Endpoint, Settings

T = TypeVar("T")


def shared_client(kind: str, settings: Settings, make: Callable[[Settings], T | None]) -> T | None:
    """The `kind` client of the running loop, made from `settings` on first use (and again when the
    settings change); None when `make` finds no provider configured."""
    return of_this_loop(kind, lambda: make(settings), made_from=settings)


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every upstream client of the process: loading the system's certificates
    takes a noticeable part of a cold start's first request (each HTTP client loaded them again)."""
    return ssl.create_default_context()


def openai_connection(endpoint: Endpoint, settings: Settings) -> dict[str, Any]:
    """The keyword arguments with which langchain-openai's clients (chat and embeddings) reach an
    endpoint: Azure OpenAI, or OpenAI and any compatible server; retried with backoff, timed out.
    Their HTTP clients are the OpenAI SDK's defaults, with the process's one TLS context."""
    import openai

    retried = {
        "max_retries": settings.openai_max_retries,
        "request_timeout": settings.openai_timeout_seconds,
        "http_client": openai.DefaultHttpxClient(verify=tls_context()),
        "http_async_client": openai.DefaultAsyncHttpxClient(verify=tls_context()),
    }
    if endpoint.provider == "azure":
        return retried | {
            "azure_endpoint": endpoint.url,
            "openai_api_key": endpoint.key,
            "openai_api_version": settings.azure_openai_api_version,
        }
    return retried | {
        "openai_api_key": endpoint.key or SecretStr("not-needed"),  # local servers take any key
        "openai_api_base": endpoint.url,
    }
