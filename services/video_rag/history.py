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
    id: int = 0  # the row's: later messages have greater ids


class ChatHistory:
    def __init__(self, table_name: str) -> None:
        self._table = table_name  # a validated SQL identifier (settings); every value is bound

    async def turns(self, db: AsyncSession, session_id: uuid.UUID, last: int, before: int | None = None) -> list[Turn]:
        """The session's `last` messages (before the message `before`, when given), oldest first."""
        from langchain_core.messages import messages_from_dict

        rows = (
            await db.execute(
                text(
                    f'SELECT id, message FROM "{self._table}" WHERE session_id = :id'  # noqa: S608
                    " AND id < coalesce(CAST(:before AS integer), 2147483647) ORDER BY id DESC LIMIT :last"
                ),
                {"id": session_id, "last": last, "before": before},
            )
        ).all()[::-1]
        messages = messages_from_dict([row.message for row in rows])
        return [
            Turn(
                role="user" if message.type == "human" else "assistant",
                content=str(message.content),
                created_at=datetime.fromisoformat(message.additional_kwargs["created_at"]),
                sources=message.additional_kwargs.get("sources") if message.type == "ai" else None,
                id=row.id,
            )
            for row, message in zip(rows, messages, strict=True)
        ]

    async def add_turn(
        self,
        db: AsyncSession,
        session_id: uuid.UUID,
        question: str,
        answer: str,
        sources: list[dict[str, Any]],
        now: datetime,
        keep: int,
    ) -> None:
        """The question and its answer, together; beyond `keep` messages, the oldest go."""
        from langchain_core.messages import AIMessage, HumanMessage, message_to_dict

        messages = [
            HumanMessage(question, additional_kwargs={"created_at": now.isoformat()}),
            AIMessage(answer, additional_kwargs={"created_at": now.isoformat(), "sources": sources}),
        ]
        await db.execute(
            text(f'INSERT INTO "{self._table}" (session_id, message) VALUES (:id, CAST(:message AS jsonb))'),  # noqa: S608
            [{"id": session_id, "message": json.dumps(message_to_dict(message))} for message in messages],
        )
        await db.execute(
            text(
                f'DELETE FROM "{self._table}" WHERE session_id = :id AND id <= ('  # noqa: S608
                f' SELECT id FROM "{self._table}" WHERE session_id = :id ORDER BY id DESC OFFSET :keep LIMIT 1)'
            ),
            {"id": session_id, "keep": keep},
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
