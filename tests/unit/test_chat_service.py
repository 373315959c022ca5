"""ChatService with fakes: what it asks retrieval for, what it remembers, and its answers in both modes."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import InvalidRequestError, ServiceUnavailableError
from services.video_rag.chat import PREVIOUS_QUESTION_WEIGHT, Answer, ChatService, Token
from services.video_rag.errors import NoVideosError
from services.video_rag.history import ChatHistory, Turn
from services.video_rag.models import Video
from services.video_rag.retrieval import Moment, Retriever
from tests.unit.fakes import FakeClock, FakeTransaction, FakeVideoRepository, make_settings

pytestmark = pytest.mark.asyncio


class FakeRetriever(Retriever):
    """Answers every search with the moments it was given, and records the queries."""

    def __init__(self, moments: list[Moment]) -> None:
        self.moments = moments
        self.searches: list[list[tuple[str, float]]] = []

    async def search(self, queries: Sequence[tuple[str, float]], videos: Sequence[Video], k: int) -> list[Moment]:
        self.searches.append(list(queries))
        keys = {video.id for video in videos}
        return [m for m in self.moments if m.video_key in keys][:k]


class FakeHistory(ChatHistory):
    def __init__(self) -> None:
        super().__init__("history")
        self.turns_of: dict[uuid.UUID, list[Turn]] = {}

    async def turns(self, db: AsyncSession, session_id: uuid.UUID, last: int, before: int | None = None) -> list[Turn]:
        return [t for t in self.turns_of.get(session_id, []) if before is None or t.id < before][-last:]

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
        turns = self.turns_of.setdefault(session_id, [])
        turns += [
            Turn("user", question, now, id=len(turns) + 1),
            Turn("assistant", answer, now, sources, len(turns) + 2),
        ]
        del turns[:-keep]


class FailingChatModel(GenericFakeChatModel):
    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("down")


def chat_model(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(AIMessage(reply) for reply in replies))


def moment(key: uuid.UUID, start: float, text: str) -> Moment:
    return Moment(key, "dQw4w9WgXcQ", start, start + 60, text, 1.0, ((start, start + 60, text),))


@pytest.fixture
def world() -> tuple[FakeVideoRepository, uuid.UUID, uuid.UUID]:
    repository = FakeVideoRepository()
    session = repository.new_session()
    key = repository.put("dQw4w9WgXcQ")
    repository.attach(session, key, FakeClock()())
    return repository, session, key


def service(
    repository: FakeVideoRepository, retriever: FakeRetriever, model: Any = None, **settings: Any
) -> tuple[ChatService, FakeHistory]:
    history = FakeHistory()
    return ChatService(
        repository, history, retriever, model, FakeTransaction(), make_settings(**settings), FakeClock()
    ), history


async def test_a_generative_answer_cites_the_retrieved_moments_and_is_remembered(world: Any) -> None:
    repository, session, key = world
    retriever = FakeRetriever([moment(key, 30, "Lava flows."), moment(key, 120, "Ash falls.")])
    chat, history = service(repository, retriever, chat_model("Ash [2], then lava [1]."))

    answer = await chat.ask(session, "what happens?", None)

    assert answer.mode == "generative" and answer.answer == "Ash [1], then lava [2]."
    assert [(s.index, s.start_seconds) for s in answer.sources] == [(1, 120), (2, 30)]
    assert answer.sources[0].url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=120s"
    (question, reply) = history.turns_of[session]
    assert question.content == "what happens?" and reply.sources == [s.source() for s in answer.sources]
    assert "parts" not in reply.sources[0] and "score" not in reply.sources[0]


async def test_a_follow_up_is_rewritten_by_the_model_and_retrieved_alone(world: Any) -> None:
    repository, session, key = world
    retriever = FakeRetriever([moment(key, 0, "Katla erupted in 1918.")])
    chat, _ = service(repository, retriever, chat_model("See [1].", "When did Katla erupt again?", "See [1]."))
    await chat.ask(session, "When did Katla erupt?", None)

    await chat.ask(session, "and again?", None)

    assert retriever.searches[-1] == [("When did Katla erupt again?", 1.0)]


async def test_without_a_model_a_follow_up_ranks_with_the_previous_question_at_lower_weight(world: Any) -> None:
    repository, session, key = world
    retriever = FakeRetriever([moment(key, 0, "Katla erupted in 1918.")])
    chat, _ = service(repository, retriever)
    await chat.ask(session, "When did Katla erupt?", None)

    await chat.ask(session, "and the floods?", None)

    assert retriever.searches[-1] == [
        ("and the floods?", 1.0),
        ("When did Katla erupt? and the floods?", PREVIOUS_QUESTION_WEIGHT),
    ]


async def test_search_numbers_the_moments_and_remembers_nothing(world: Any) -> None:
    repository, session, key = world
    chat, history = service(repository, FakeRetriever([moment(key, 10, "a"), moment(key, 90, "b")]))

    found = await chat.search(session, "anything", None, k=5)

    assert [(p.index, p.start_seconds) for p in found] == [(1, 10), (2, 90)] and history.turns_of == {}


async def test_no_videos_unknown_video_ids_and_a_failing_model_are_client_errors(world: Any) -> None:
    repository, session, key = world
    empty = repository.new_session()
    retriever = FakeRetriever([moment(key, 0, "x")])

    with pytest.raises(NoVideosError):
        await service(repository, retriever)[0].ask(empty, "q", None)
    with pytest.raises(InvalidRequestError):
        await service(repository, retriever)[0].search(session, "q", ["notmine0000"], 5)
    chat, history = service(repository, retriever, FailingChatModel(messages=iter([])))
    with pytest.raises(ServiceUnavailableError):
        await chat.ask(session, "q", None)
    assert history.turns_of == {}  # nothing remembered of a failed turn


async def test_only_the_latest_turns_are_kept(world: Any) -> None:
    repository, session, key = world
    chat, history = service(repository, FakeRetriever([moment(key, 0, "x")]), chat_history_max_turns=2)

    for n in range(4):
        await chat.ask(session, f"q{n}", None)

    assert [t.content for t in history.turns_of[session] if t.role == "user"] == ["q2", "q3"]


async def test_a_streamed_answer_is_tokens_then_the_answer_remembered_just_before_it(world: Any) -> None:
    repository, session, key = world
    retriever = FakeRetriever([moment(key, 30, "Lava flows."), moment(key, 120, "Ash falls.")])
    reply = "Ash [2], then lava [1].\n<suggestions>\nWhy does ash fall?\n</suggestions>"
    chat, history = service(repository, retriever, chat_model(reply))

    streamed = await chat.ask_streaming(session, "what happens?", None)
    tokens, remembered_before_answer = [], None
    async for event in streamed.events:
        if isinstance(event, Token):
            assert session not in history.turns_of
            tokens.append(event.text)
        else:
            answer, remembered_before_answer = event, list(history.turns_of[session])

    assert [(s.index, s.start_seconds) for s in streamed.sources] == [(1, 30), (2, 120)]  # as in the prompt
    assert len(tokens) > 3 and "".join(tokens) == "Ash [2], then lava [1].\n"
    assert answer.answer == "Ash [1], then lava [2]." and answer.suggestions == ["Why does ash fall?"]
    assert [t.content for t in remembered_before_answer or []] == ["what happens?", answer.answer]


async def test_a_stream_left_before_its_end_remembers_nothing(world: Any) -> None:
    repository, session, key = world
    chat, history = service(repository, FakeRetriever([moment(key, 30, "Lava flows.")]), chat_model("Lava [1] flows."))

    streamed = await chat.ask_streaming(session, "lava?", None)
    first = await anext(streamed.events)
    await streamed.events.aclose()

    assert isinstance(first, Token) and history.turns_of == {}


async def test_an_extractive_answer_streams_in_one_token_and_suggests_nothing(world: Any) -> None:
    repository, session, key = world
    chat, history = service(repository, FakeRetriever([moment(key, 30, "Lava flows downhill.")]))

    streamed = await chat.ask_streaming(session, "lava?", None)
    events = [event async for event in streamed.events]

    token, answer = events
    assert isinstance(token, Token) and isinstance(answer, Answer)
    assert token.text == answer.answer and answer.mode == "extractive" and answer.suggestions == []
    assert streamed.sources == answer.sources and len(history.turns_of[session]) == 2
