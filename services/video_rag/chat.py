"""The chat use cases: a question about the session's videos answered from their transcripts with
citations (at once, or streamed as the model writes it) and remembered as a turn of the session's
conversation; and search, the same retrieval without an answer."""

import asyncio
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from services.common.database import Transaction
from services.common.errors import InvalidRequestError, ServiceUnavailableError
from services.common.limits import Limits, estimate_tokens
from services.common.settings import Settings
from services.video_rag import rag
from services.video_rag.errors import NoVideosError
from services.video_rag.history import ChatHistory, Turn
from services.video_rag.llm import ChatModelError, complete, stream
from services.video_rag.repository import VideoRepository
from services.video_rag.retrieval import Moment, Retriever
from services.video_rag.youtube import video_url

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

    from services.video_rag.models import Video

# Without a chat model to rewrite a follow-up, the previous question also ranks the passages, at this
# weight against the question's own 1: it helps "and after that?" without drowning a new topic.
PREVIOUS_QUESTION_WEIGHT = 0.5
MAX_QUERY_CHARS = 2000  # of a follow-up rewritten by the chat model


@dataclass(frozen=True)
class Answer:
    answer: str
    mode: Literal["generative", "extractive"]
    sources: list[rag.Passage]
    suggestions: list[str] = field(default_factory=list)  # follow-up questions (generative answers only)


@dataclass(frozen=True)
class Token:
    """A piece of an answer as the model writes it."""

    text: str


@dataclass(frozen=True)
class StreamedAnswer:
    """A question made ready to answer: `sources` are the passages its answer's citations refer to
    while it streams (those given to the model; extractive: the answer's own), `events` the answer as
    it is written (`Token`s), then the `Answer`, remembered just before it is yielded."""

    sources: list[rag.Passage]
    events: AsyncGenerator[Token | Answer, None]


@dataclass(frozen=True)
class _Prepared:
    """What a question needs once retrieval is done: the model's prompt, or the answer already."""

    session_id: uuid.UUID
    question: str
    passages: list[rag.Passage]
    messages: list[tuple[str, str]] | None = None
    answer: Answer | None = None


class ChatService:
    def __init__(
        self,
        videos: VideoRepository,
        history: ChatHistory,
        retriever: Retriever,
        chat_model: "BaseChatModel | None",
        transaction: Transaction,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limits: Limits | None = None,
    ) -> None:
        """`limits`: questions are counted per client, model calls against the service's budgets."""
        self._videos = videos
        self._history = history
        self._retriever = retriever
        self._chat_model = chat_model
        self._transaction = transaction
        self._settings = settings
        self._clock = clock
        self._limits = limits

    async def ask(
        self, session_id: uuid.UUID, question: str, video_ids: Sequence[str] | None, client: str | None = None
    ) -> Answer:
        """`client`: whose rate limits count this question (None: no client's)."""
        prepared = await self._prepare(session_id, question, video_ids, client)
        answer = prepared.answer
        if answer is None:
            assert prepared.messages is not None
            answer = self._generated(await self._complete(prepared.messages), prepared.passages)
        await self._remember(prepared, answer)
        return answer

    async def ask_streaming(
        self, session_id: uuid.UUID, question: str, video_ids: Sequence[str] | None, client: str | None = None
    ) -> StreamedAnswer:
        """`ask`, streamed: everything up to retrieval happens here (its errors are the request's), the
        answer in `events`. The turn is remembered once the model has finished, before the `Answer` is
        yielded; a consumer that stops earlier (a client gone) leaves no turn: the history never holds
        a question without its answer, nor part of an answer."""
        prepared = await self._prepare(session_id, question, video_ids, client)
        fixed = prepared.answer
        return StreamedAnswer(fixed.sources if fixed else prepared.passages, self._stream(prepared))

    async def _stream(self, prepared: _Prepared) -> AsyncGenerator[Token | Answer, None]:
        answer = prepared.answer
        if answer is None:
            assert self._chat_model is not None and prepared.messages is not None
            splitter = rag.AnswerSplitter()
            try:
                async with aclosing(stream(self._chat_model, prepared.messages)) as pieces:
                    async for piece in pieces:
                        if text := splitter.feed(piece):
                            yield Token(text)
            except ChatModelError as exc:
                raise ServiceUnavailableError(str(exc)) from None
            if rest := splitter.rest():
                yield Token(rest)
            answer = self._generated(splitter.raw, prepared.passages)
        else:
            yield Token(answer.answer)
        await _uninterrupted(self._remember(prepared, answer))
        yield answer

    async def _prepare(
        self, session_id: uuid.UUID, question: str, video_ids: Sequence[str] | None, client: str | None
    ) -> _Prepared:
        """Counts the question, reads the conversation, rewrites a follow-up and retrieves passages:
        the model's prompt, or the answer when no model is needed (extractive, no passage found)."""
        s = self._settings
        videos = await self._videos_of(session_id, video_ids)
        last = 2 * s.chat_history_turns  # a turn is a question and its answer
        async with self._transaction() as db:
            turns = await self._history.turns(db, session_id, last=last) if last else []
        await self._reserve(client, question, turns, answer=True)
        queries = await self._queries(question, turns)
        passages = self._passages(await self._retriever.search(queries, videos, s.retrieval_top_k), videos)
        if not passages:
            return _Prepared(session_id, question, [], answer=Answer(rag.NO_ANSWER, self._mode, []))
        if self._chat_model is None:
            text, sources = rag.extractive_answer(question, passages, video_url)
            return _Prepared(session_id, question, passages, answer=Answer(text, "extractive", sources))
        passages = rag.within_budget(passages, s.chat_prompt_max_tokens)
        return _Prepared(session_id, question, passages, messages=rag.answer_messages(queries[0][0], passages))

    @staticmethod
    def _generated(reply: str, passages: list[rag.Passage]) -> Answer:
        """The model's reply as an answer: suggestions cut off, citations validated and renumbered."""
        text, suggestions = rag.split_suggestions(reply)
        text, sources = rag.cite(text, passages)
        return Answer(text, "generative", sources, suggestions)

    async def _remember(self, prepared: _Prepared, answer: Answer) -> None:
        remembered = [source.source() for source in answer.sources]
        async with self._transaction() as db:
            await self._history.add_turn(
                db,
                prepared.session_id,
                prepared.question,
                answer.answer,
                remembered,
                self._clock(),
                keep=2 * self._settings.chat_history_max_turns,
            )

    async def search(
        self, session_id: uuid.UUID, query: str, video_ids: Sequence[str] | None, k: int, client: str | None = None
    ) -> list[rag.Passage]:
        """The k best moments for `query`, best first, numbered from 1; nothing is remembered."""
        videos = await self._videos_of(session_id, video_ids)
        await self._reserve(client, query, [], answer=False)
        return self._passages(await self._retriever.search([(query, 1.0)], videos, k), videos)

    async def _videos_of(self, session_id: uuid.UUID, video_ids: Sequence[str] | None) -> list["Video"]:
        """The session's ready videos, or those of them named by `video_ids` (pending and failed ones
        are left out: 409 `no_videos` when that leaves none)."""
        async with self._transaction() as db:
            videos = [view.video for view in await self._videos.session_videos(db, session_id) if view.video]
            if not videos or video_ids:
                entries = await self._videos.session_entries(db, session_id)
        if video_ids:
            unknown = sorted(set(video_ids) - {entry.video_id for entry in entries})
            if unknown:
                raise InvalidRequestError(
                    "video_ids names videos this session does not have.",
                    details=[{"field": "video_ids", "message": f"not in this session: {', '.join(unknown)}"}],
                )
            videos = [video for video in videos if video.video_id in video_ids]
        if not videos:
            named = [entry for entry in entries if not video_ids or entry.video_id in video_ids]
            pending = sum(1 for entry in named if entry.pending)
            failed = sum(1 for entry in named if entry.failed)
            if pending:
                raise NoVideosError(f"No video is ready yet: {pending} still being added. Ask again in a moment.")
            if failed:
                raise NoVideosError(
                    f"No video is ready: {failed} could not be added (GET /api/videos says why). "
                    "Add them again, or add others."
                )
            raise NoVideosError()
        return videos

    @property
    def _mode(self) -> Literal["generative", "extractive"]:
        return "generative" if self._chat_model is not None else "extractive"

    async def _queries(self, question: str, turns: list[Turn]) -> list[tuple[str, float]]:
        """What retrieval looks for, with weights: the question made understandable without the
        conversation by the chat model; without one, the question, and the previous one weighing less."""
        if turns and self._chat_model is not None:
            rewritten = await self._complete(rag.rewrite_messages(question, [(t.role, t.content) for t in turns]))
            return [(rewritten[:MAX_QUERY_CHARS] or question, 1.0)]
        return _plain_queries(question, turns)

    async def _reserve(self, client: str | None, question: str, turns: list[Turn], *, answer: bool) -> None:
        """Counts a question (or a search: `answer=False`) against the client's rate limits, and what it
        will use against the service's budgets, before any of it: the chat model's calls (a follow-up's
        rewrite, the answer) and the tokens of the query embeddings (a rewritten question at its longest)."""
        if self._limits is None:
            return
        generative = answer and self._chat_model is not None
        tokens = None
        if self._retriever.embeds and generative and turns:
            tokens = estimate_tokens(["." * MAX_QUERY_CHARS])
        elif self._retriever.embeds:
            tokens = estimate_tokens([query for query, _ in _plain_queries(question, turns)])
        calls = (2 if turns else 1) if generative else None
        await self._limits.reserve(client, questions=1, chat_calls=calls, embedding_tokens=tokens)

    async def _complete(self, messages: list[tuple[str, str]]) -> str:
        assert self._chat_model is not None
        try:
            return await complete(self._chat_model, messages)
        except ChatModelError as exc:
            raise ServiceUnavailableError(str(exc)) from None

    @staticmethod
    def _passages(moments: list[Moment], videos: list["Video"]) -> list[rag.Passage]:
        titles = {video.id: video.title for video in videos}
        return [
            rag.Passage(
                index=i,
                video_id=moment.video_id,
                title=titles.get(moment.video_key),
                start_seconds=moment.start_seconds,
                end_seconds=moment.end_seconds,
                text=moment.text,
                url=video_url(moment.video_id, moment.start_seconds),
                parts=moment.parts,
                score=moment.score,
            )
            for i, moment in enumerate(moments, start=1)
        ]

    async def history(self, session_id: uuid.UUID, limit: int, before: int | None) -> list[Turn]:
        """The session's `limit` latest messages before the message `before` (all when None), oldest first."""
        async with self._transaction() as db:
            return await self._history.turns(db, session_id, last=limit, before=before)

    async def clear_history(self, session_id: uuid.UUID) -> None:
        async with self._transaction() as db:
            await self._history.clear(db, session_id)


def _plain_queries(question: str, turns: list[Turn]) -> list[tuple[str, float]]:
    """The queries of a question without a chat model: the question, and the previous one weighing less."""
    if not turns:
        return [(question, 1.0)]
    previous = next((t.content for t in reversed(turns) if t.role == "user"), "")
    return [(question, 1.0), (f"{previous} {question}", PREVIOUS_QUESTION_WEIGHT)]


async def _uninterrupted(work: Awaitable[None]) -> None:
    """Awaits `work`, which goes on to its end if the caller is cancelled meanwhile (a client that
    leaves while its turn is written): a transaction is not cut in the middle."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())  # its error is the caller's
    await asyncio.shield(task)
