"""The chat model through langchain-openai: OpenAI, Azure OpenAI, or any OpenAI-compatible server.
None when no provider is configured: answers are then extractive."""

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

from services.common.clients import openai_connection, shared_client
from services.common.settings import Settings
from services.common.telemetry import span

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

logger = logging.getLogger(__name__)


class ChatModelError(Exception):
    """The chat model failed after its retries (down, rate-limiting, or answering nonsense)."""


def make_chat_model(settings: Settings) -> "BaseChatModel | None":
    endpoint = settings.chat_endpoint
    if endpoint is None:
        return None
    common = {
        **openai_connection(endpoint, settings),
        "temperature": settings.chat_temperature,
        "max_tokens": settings.chat_max_tokens,
    }
    if endpoint.provider == "azure":
        from langchain_openai import AzureChatOpenAI

        return AzureChatOpenAI(**common, deployment_name=endpoint.model)
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(**common, model=endpoint.model)


def get_chat_model(settings: Settings) -> "BaseChatModel | None":
    """The shared client (its HTTP connections are reused across invocations)."""
    return shared_client("chat", settings, make_chat_model)


async def complete(model: "BaseChatModel", messages: list[tuple[str, str]]) -> str:
    """The model's text answer to `messages` ((role, content) pairs), or ChatModelError."""
    try:
        with span("llm.chat"):
            reply = await model.ainvoke(messages)
    except Exception as exc:  # noqa: BLE001 - any client, HTTP or parsing failure of the upstream
        logger.warning("chat model request failed: %s", type(exc).__name__)
        raise ChatModelError("The chat model is unavailable. Retry later.") from None
    return _text(reply.content).strip()


async def stream(model: "BaseChatModel", messages: list[tuple[str, str]]) -> AsyncGenerator[str, None]:
    """The model's text answer to `messages` as it is generated, piece by piece; ChatModelError when
    the model fails, before its first piece or after. Close it (`contextlib.aclosing`) to stop the
    model: its HTTP stream is closed at once, and no more tokens are paid for."""
    try:
        with span("llm.chat", stream=True):
            # An async generator, typed as an iterator by LangChain.
            async with aclosing(cast("AsyncGenerator[Any, None]", model.astream(messages))) as chunks:
                async for chunk in chunks:
                    if text := _text(chunk.content):
                        yield text
    except Exception as exc:  # noqa: BLE001 - any client, HTTP or parsing failure of the upstream
        logger.warning("chat model stream failed: %s", type(exc).__name__)
        raise ChatModelError("The chat model failed while answering. Retry later.") from None


def _text(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)
