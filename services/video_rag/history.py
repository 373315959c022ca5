"""Conversation memory per session, in the table LangChain's PostgresChatMessageHistory manages
(LANGCHAIN_CHAT_MESSAGE_TABLE_NAME), keyed by the session id."""

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.common import database
from services.common.settings import get_settings


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str
    created_at: datetime
    sources: list[dict[str, Any]] | None = None


class ChatHistory:
    def __init__(self, table_name: str | None = None) -> None:
        self._table = table_name or get_settings().langchain_chat_message_table_name

    @asynccontextmanager
    async def _history(self, session_id: uuid.UUID) -> AsyncIterator[Any]:
        """LangChain's PostgresChatMessageHistory of the session, on a pooled connection."""
        from langchain_postgres import PostgresChatMessageHistory

        async with database.get_engine().connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            yield PostgresChatMessageHistory(self._table, str(session_id), async_connection=raw)

    async def turns(self, session_id: uuid.UUID) -> list[Turn]:
        """The session's turns, oldest first."""
        async with self._history(session_id) as history:
            messages = await history.aget_messages()
        return [
            Turn(
                role="user" if message.type == "human" else "assistant",
                content=str(message.content),
                created_at=datetime.fromisoformat(message.additional_kwargs["created_at"]),
                sources=message.additional_kwargs.get("sources") if message.type == "ai" else None,
            )
            for message in messages
        ]

    async def add_turn(
        self, session_id: uuid.UUID, question: str, answer: str, sources: list[dict[str, Any]], now: datetime
    ) -> None:
        """The question and its answer, together: one transaction (LangChain commits it)."""
        from langchain_core.messages import AIMessage, HumanMessage

        messages = [
            HumanMessage(question, additional_kwargs={"created_at": now.isoformat()}),
            AIMessage(answer, additional_kwargs={"created_at": now.isoformat(), "sources": sources}),
        ]
        async with self._history(session_id) as history:
            await history.aadd_messages(messages)

    async def clear(self, session_id: uuid.UUID) -> None:
        async with self._history(session_id) as history:
            await history.aclear()

    async def delete_for_sessions(self, db: AsyncSession, session_ids: Sequence[uuid.UUID]) -> None:
        """The turns of many sessions, in one statement of the caller's transaction."""
        # The table name is a validated identifier (settings); the ids are bound.
        statement = text(f'DELETE FROM "{self._table}" WHERE session_id = ANY(:ids)')  # noqa: S608
        await db.execute(statement, {"ids": list(session_ids)})

    async def collect_garbage(self, db: AsyncSession, now: datetime) -> None:
        """Turns of sessions that no longer exist (a chat that ended as its session was deleted)."""
        statement = text(
            f'DELETE FROM "{self._table}" h WHERE NOT EXISTS (SELECT 1 FROM session s WHERE s.id = h.session_id)'  # noqa: S608
        )
        await db.execute(statement)
