"""The chat model through langchain-openai: OpenAI, Azure OpenAI, or any OpenAI-compatible server.
None when no provider is configured: answers are then extractive."""

import logging
from typing import TYPE_CHECKING

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
    content = reply.content
    if not isinstance(content, str):
        content = "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)
    return content.strip()
