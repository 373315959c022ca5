"""The chat use case: a question about the session's videos, answered from their transcripts with
citations, and remembered as a turn of the session's conversation."""

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from services.common.database import Transaction
from services.common.errors import InvalidRequestError, ServiceUnavailableError
from services.common.settings import Settings
from services.common.telemetry import span
from services.video_rag import rag
from services.video_rag.embeddings import EmbeddingError, embed_query
from services.video_rag.errors import NoVideosError
from services.video_rag.history import ChatHistory, Turn
from services.video_rag.llm import ChatModelError, complete
from services.video_rag.repository import SessionVideoView, VideoRepository
from services.video_rag.vector_store import Hit, fts_config_for, full_text_search, hybrid_search
from services.video_rag.youtube import video_url

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models.chat_models import BaseChatModel


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
        embeddings: "Embeddings | None",
        chat_model: "BaseChatModel | None",
        transaction: Transaction,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._videos = videos
        self._history = history
        self._embeddings = embeddings
        self._chat_model = chat_model
        self._transaction = transaction
        self._settings = settings
        self._clock = clock

    async def ask(self, session_id: uuid.UUID, question: str, video_ids: Sequence[str] | None) -> Answer:
        async with self._transaction() as db:
            views = await self._videos.session_videos(db, session_id)
        if not views:
            raise NoVideosError()
        if video_ids:
            unknown = sorted(set(video_ids) - {view.video.video_id for view in views})
            if unknown:
                raise InvalidRequestError(
                    "video_ids names videos this session does not have.",
                    details=[{"field": "video_ids", "message": f"not in this session: {', '.join(unknown)}"}],
                )
            views = [view for view in views if view.video.video_id in video_ids]
        last = 2 * self._settings.chat_history_turns  # a turn is a question and its answer
        async with self._transaction() as db:
            turns = await self._history.turns(db, session_id, last=last) if last else []
        standalone = await self._standalone(question, turns)
        passages = self._passages(await self._retrieve(standalone, views), views)
        if not passages:
            answer = Answer(rag.NO_ANSWER, self._mode, [])
        elif self._chat_model is not None:
            text = await self._complete(rag.answer_messages(standalone, passages))
            cited, sources = rag.cite(text, passages)
            answer = Answer(cited, "generative", sources)
        else:
            extract, sources = rag.extractive_answer(passages)
            answer = Answer(extract, "extractive", sources)
        sources_out = [asdict(p) for p in answer.sources]
        async with self._transaction() as db:
            await self._history.add_turn(db, session_id, question, answer.answer, sources_out, self._clock())
        return answer

    @property
    def _mode(self) -> Literal["generative", "extractive"]:
        return "generative" if self._chat_model is not None else "extractive"

    async def _standalone(self, question: str, turns: list[Turn]) -> str:
        """The question made understandable without the conversation."""
        if not turns:
            return question
        if self._chat_model is None:  # no model to rewrite it: retrieve with the previous question too
            last_question = next((t.content for t in reversed(turns) if t.role == "user"), "")
            return f"{last_question} {question}".strip()
        rewritten = await self._complete(rag.rewrite_messages(question, [(t.role, t.content) for t in turns]))
        return rewritten[:2000] or question

    async def _complete(self, messages: list[tuple[str, str]]) -> str:
        assert self._chat_model is not None
        try:
            return await complete(self._chat_model, messages)
        except ChatModelError as exc:
            raise ServiceUnavailableError(str(exc)) from None

    async def _retrieve(self, question: str, views: list[SessionVideoView]) -> list[Hit]:
        s = self._settings
        keys = [view.video.id for view in views]
        # The query is parsed like most of the selected transcripts (PostgreSQL's configuration of
        # their language, `simple` where it has none).
        fts_config = Counter(fts_config_for(view.video.language_code) for view in views).most_common(1)[0][0]
        if self._embeddings is None:
            with span("retrieval.full_text", videos=len(keys)):
                async with self._transaction() as db:
                    return await full_text_search(db, question, keys, fts_config=fts_config, k=s.retrieval_top_k)
        try:
            with span("embeddings.embed_query"):
                query_embedding = await embed_query(self._embeddings, question, s.embedding_dimensions)
        except EmbeddingError as exc:
            raise ServiceUnavailableError(str(exc)) from None
        with span("retrieval.hybrid", videos=len(keys)):
            return await hybrid_search(
                self._embeddings,
                query_embedding,
                question,
                keys,
                fts_config=fts_config,
                k=s.retrieval_top_k,
                fetch_k=s.retrieval_fetch_k,
                rrf_k=s.retrieval_rrf_k,
            )

    @staticmethod
    def _passages(hits: list[Hit], views: list[SessionVideoView]) -> list[rag.Passage]:
        titles = {view.video.id: view.video.title for view in views}
        return [
            rag.Passage(
                index=i,
                video_id=hit.video_id,
                title=titles.get(hit.video_key),
                start_seconds=hit.start_seconds,
                end_seconds=hit.end_seconds,
                text=hit.content,
                url=video_url(hit.video_id, hit.start_seconds),
            )
            for i, hit in enumerate(hits, start=1)
        ]

    async def history(self, session_id: uuid.UUID) -> list[Turn]:
        async with self._transaction() as db:
            return await self._history.turns(db, session_id)

    async def clear_history(self, session_id: uuid.UUID) -> None:
        async with self._transaction() as db:
            await self._history.clear(db, session_id)
