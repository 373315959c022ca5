"""The chat use cases: a question about the session's videos answered from their transcripts with
citations and remembered as a turn of the session's conversation; and search, the same retrieval
without an answer."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from services.common.database import Transaction
from services.common.errors import InvalidRequestError, ServiceUnavailableError
from services.common.limits import Limits, estimate_tokens
from services.common.settings import Settings
from services.video_rag import rag
from services.video_rag.errors import NoVideosError
from services.video_rag.history import ChatHistory, Turn
from services.video_rag.llm import ChatModelError, complete
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
        s = self._settings
        videos = await self._videos_of(session_id, video_ids)
        last = 2 * s.chat_history_turns  # a turn is a question and its answer
        async with self._transaction() as db:
            turns = await self._history.turns(db, session_id, last=last) if last else []
        await self._reserve(client, question, turns, answer=True)
        queries = await self._queries(question, turns)
        passages = self._passages(await self._retriever.search(queries, videos, self._settings.retrieval_top_k), videos)
        if not passages:
            answer = Answer(rag.NO_ANSWER, self._mode, [])
        elif self._chat_model is not None:
            passages = rag.within_budget(passages, self._settings.chat_prompt_max_tokens)
            text, sources = rag.cite(await self._complete(rag.answer_messages(queries[0][0], passages)), passages)
            answer = Answer(text, "generative", sources)
        else:
            text, sources = rag.extractive_answer(question, passages, video_url)
            answer = Answer(text, "extractive", sources)
        remembered = [source.source() for source in answer.sources]
        async with self._transaction() as db:
            await self._history.add_turn(
                db, session_id, question, answer.answer, remembered, self._clock(), keep=2 * s.chat_history_max_turns
            )
        return answer

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
            pending = sum(1 for entry in entries if entry.job is not None and entry.job.status == "pending")
            if pending:
                raise NoVideosError(f"No video is ready yet: {pending} still being added. Ask again in a moment.")
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
