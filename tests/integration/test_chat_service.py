"""ChatService against the real database."""

import secrets

import httpx
import pytest

from services.common import database
from services.common.settings import Settings
from services.video_rag.chat import ChatService
from services.video_rag.history import ChatHistory
from services.video_rag.repository import VideoRepository
from services.video_rag.retrieval import Retriever
from tests.functional.test_chat_api import upload

pytestmark = pytest.mark.asyncio


async def test_full_text_alone_finds_a_passage_by_a_rare_word(
    client: httpx.AsyncClient, session_id: str, database_url: str
) -> None:
    rare = "xylophonist" + secrets.token_hex(3)
    await upload(client, session_id, "Music", "the orchestra tunes", f"a {rare} plays softly", "the drums roll")
    settings = Settings(openai_key=None, openai_base_url=None)
    service = ChatService(
        VideoRepository(),
        ChatHistory(settings.langchain_chat_message_table_name),
        Retriever(None, database.transaction, settings),
        None,
        database.transaction,
        settings,
    )
    from uuid import UUID

    answer = await service.ask(UUID(session_id), f"who is the {rare}?", None)

    assert answer.mode == "extractive"
    assert rare in answer.sources[0].text and answer.sources[0].index == 1
    assert "[1]" in answer.answer and rare in answer.answer
