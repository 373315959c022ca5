"""Conversation memory per session, in the table and row format of LangChain's
PostgresChatMessageHistory (LANGCHAIN_CHAT_MESSAGE_TABLE_NAME: `session_id`, `message` as LangChain's
message dict), read and written in the caller's transaction like every other table."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str
    created_at: datetime
    sources: list[dict[str, Any]] | None = None


class ChatHistory:
    def __init__(self, table_name: str) -> None:
        self._table = table_name  # a validated SQL identifier (settings); every value is bound

    async def turns(self, db: AsyncSession, session_id: uuid.UUID, last: int | None = None) -> list[Turn]:
        """The session's messages, oldest first: all of them, or only the `last` ones."""
        from langchain_core.messages import messages_from_dict

        order = "ORDER BY id" if last is None else "ORDER BY id DESC LIMIT :last"
        rows = await db.execute(
            text(f'SELECT message FROM "{self._table}" WHERE session_id = :id {order}'),  # noqa: S608
            {"id": session_id, "last": last},
        )
        stored = [row.message for row in rows]
        messages = messages_from_dict(stored if last is None else stored[::-1])
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
        self,
        db: AsyncSession,
        session_id: uuid.UUID,
        question: str,
        answer: str,
        sources: list[dict[str, Any]],
        now: datetime,
    ) -> None:
        """The question and its answer, together."""
        from langchain_core.messages import AIMessage, HumanMessage, message_to_dict

        messages = [
            HumanMessage(question, additional_kwargs={"created_at": now.isoformat()}),
            AIMessage(answer, additional_kwargs={"created_at": now.isoformat(), "sources": sources}),
        ]
        await db.execute(
            text(f'INSERT INTO "{self._table}" (session_id, message) VALUES (:id, CAST(:message AS jsonb))'),  # noqa: S608
            [{"id": session_id, "message": json.dumps(message_to_dict(message))} for message in messages],
        )

    async def clear(self, db: AsyncSession, session_id: uuid.UUID) -> None:
        await self.delete_for_sessions(db, [session_id])

    async def delete_for_sessions(self, db: AsyncSession, session_ids: Sequence[uuid.UUID]) -> None:
        """The turns of many sessions, in one statement."""
        statement = text(f'DELETE FROM "{self._table}" WHERE session_id = ANY(:ids)')  # noqa: S608
        await db.execute(statement, {"ids": list(session_ids)})

    async def collect_garbage(self, db: AsyncSession, now: datetime) -> None:
        """Turns of sessions that no longer exist (a chat that ended as its session was deleted)."""
        statement = text(
            f'DELETE FROM "{self._table}" h WHERE NOT EXISTS (SELECT 1 FROM session s WHERE s.id = h.session_id)'  # noqa: S608
        )
        await db.execute(statement)
