"""Retrieval: the moments of a session's videos that answer a question, each with about a minute of
what is said from there on.

The chunk table holds short windows of a few sentences each (chunking.py): a window is specific
enough that its embedding tells one minute of a video from the next, and its start is the moment a
citation opens. Two searches find the candidate windows: pgvector similarity through LangChain's
PGVectorStore, and BM25 over the full-text index (any of the question's words, rare ones weighing
most), both reading a window as what is said from its start on for a few windows (full text: as far
as the moment's text goes). Three legs then score every candidate: full text, the window's own
vector, and the similarity of the window's sentence nearest the question (one sentence that answers
is diluted in a window's vector) — and the weighted sum of their standard scores merges them. The
best windows, no two of a video within a minute of each other (RETRIEVAL_CONTEXT_SECONDS), become
moments; each moment's text runs on over the following windows for that minute.
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.common.database import Transaction
from services.common.errors import ServiceUnavailableError
from services.common.settings import Settings
from services.common.telemetry import span
from services.video_rag.embeddings import EmbeddingError, embed_query
from services.video_rag.models import Video
from services.video_rag.vector_store import (
    Ranking,
    Window,
    fts_config_for,
    keyword_search,
    vector_rankings,
    vector_search,
    windows_within,
)

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Moment:
    """Where a video answers: `start_seconds` is the moment (a citation opens the video there), the
    text runs on to `end_seconds`. `score` is higher for better moments."""

    video_key: uuid.UUID
    video_id: str
    start_seconds: float
    end_seconds: float
    text: str
    score: float
    parts: tuple[tuple[float, float, str], ...] = ()  # (start, end, text) of each window of `text`


def fuse(rankings: Sequence[tuple[float, Ranking]], tiebreak: Ranking | None = None) -> list[tuple[Window, float]]:
    """Score fusion: each window found by some leg scores the weighted sum over the legs of its
    standard score there ((score - mean) / standard deviation, over all the session's windows): a
    window that one leg finds far above its usual, and the other about as usual, beats one that both
    find a little better than usual (rank fusion saw no such difference). A leg that did not list a
    window counts it at its floor; a leg whose scores do not spread adds nothing. Best first; ties go
    to the better of `tiebreak` (the full-text ranking: what matches more of the question's words),
    then to the earlier moment."""
    scores: dict[str, float] = {}
    windows: dict[str, Window] = {}
    for _, ranking in rankings:
        windows.update((window.id, window) for window, _ in ranking.windows)
    for weight, ranking in rankings:
        if ranking.std <= 0:
            continue
        listed = dict((window.id, score) for window, score in ranking.windows)
        for i in windows:
            standard = (listed.get(i, ranking.floor) - ranking.mean) / ranking.std
            scores[i] = scores.get(i, 0.0) + weight * standard
    second = {window.id: rank for rank, (window, _) in enumerate(tiebreak.windows if tiebreak else [])}
    order = sorted(
        windows,
        key=lambda i: (
            -round(scores.get(i, 0.0), 12),
            second.get(i, len(second)),
            windows[i].video_id,
            windows[i].start_seconds,
        ),
    )
    return [(windows[i], scores.get(i, 0.0)) for i in order]


def distinct_moments(
    fused: Sequence[tuple[Window, float]], k: int, context_seconds: float
) -> list[tuple[Window, float]]:
    """The k best windows, skipping a window that starts within `context_seconds` of a better one of
    the same video, before or after it: its text is already there, or it is found for the better one's
    words (a window is read with the windows after it). So the moments of a video are at least that
    far apart, and no window is in two moments."""
    chosen: list[tuple[Window, float]] = []
    for window, score in fused:
        if len(chosen) == k:
            break
        if not any(
            other.video_key == window.video_key and abs(other.start_seconds - window.start_seconds) < context_seconds
            for other, _ in chosen
        ):
            chosen.append((window, score))
    return chosen


def query_language(videos: Sequence[Video]) -> str:
    """PostgreSQL's text search configuration for a question: that of most of the videos' languages."""
    return Counter(fts_config_for(video.language_code) for video in videos).most_common(1)[0][0]


# The part of the embeddings' weight (RETRIEVAL_VECTOR_WEIGHT) that goes to the sentence leg, the rest
# to the windows' own vectors: 0.3 windows, 0.4 sentences, 0.3 full text by default, the middle of a
# plateau of the dev set's figures (`python -m bench quality`: hit@1 and MRR level for a share of 3/7
# to 0.7).
SENTENCE_SHARE = 4 / 7

# A moment's text is at most this long, however dense the captions of its minute.
MAX_MOMENT_CHARS = 3000


def _moment(window: Window, score: float, following: Sequence[Window]) -> Moment:
    """A moment from its best window and the windows that follow it, up to MAX_MOMENT_CHARS (those
    mostly inside the one before are left out: chunks of older videos overlapped by a few seconds)."""
    parts: list[Window] = []
    for other in following or [window]:
        if parts and sum(len(part.content) + 1 for part in parts) + len(other.content) > MAX_MOMENT_CHARS:
            break
        if not parts or other.start_seconds >= parts[-1].end_seconds - 1:
            parts.append(other)
    return Moment(
        window.video_key,
        window.video_id,
        window.start_seconds,
        max(part.end_seconds for part in parts),
        " ".join(part.content for part in parts),
        score,
        tuple((part.start_seconds, part.end_seconds, part.content) for part in parts),
    )


async def full_text(
    db: "AsyncSession",
    questions: Sequence[str],
    keys: Sequence[uuid.UUID],
    nearest: Sequence[Window],
    *,
    fts_config: str,
    k: int,
    following: int,
    seconds: float,
) -> list[Ranking]:
    """The full-text leg of each question: its k best windows, and the vector search's (`nearest`) with
    their own scores wherever they rank. With several questions (a follow-up and what it follows), each
    also scores the windows the others' full text found."""

    async def search(question: str, also: Sequence[Window]) -> Ranking:
        return await keyword_search(
            db, question, keys, fts_config=fts_config, k=k, following=following, seconds=seconds, also=also
        )

    rankings = [await search(question, nearest) for question in questions]
    if len(rankings) > 1:
        found = {window.id: window for ranking in rankings for window, _ in ranking.windows}
        rankings = [await search(question, list(found.values())) for question in questions]
    return rankings


class Retriever:
    def __init__(self, embeddings: "Embeddings | None", transaction: Transaction, settings: Settings) -> None:
        """Without embeddings (no provider configured), full text alone ranks the windows."""
        self._embeddings = embeddings
        self._transaction = transaction
        self._settings = settings

    @property
    def embeds(self) -> bool:
        """Whether a search embeds its queries (an embedding provider is configured)."""
        return self._embeddings is not None

    async def search(self, queries: Sequence[tuple[str, float]], videos: Sequence[Video], k: int) -> list[Moment]:
        """The k best moments of `videos` for the weighted queries (the question, weight 1, and
        possibly what it follows up on, weighing less), best first."""
        vectors = await self._embed([query for query, _ in queries]) if self._embeddings is not None else None
        return await self.rank(queries, vectors, videos, k)

    async def rank(
        self,
        queries: Sequence[tuple[str, float]],
        vectors: Sequence[list[float]] | None,
        videos: Sequence[Video],
        k: int,
    ) -> list[Moment]:
        """`search` with the queries' embeddings at hand (None: full text alone). Each search nominates
        RETRIEVAL_FETCH_K windows (at least k). Where they make fewer than k moments (they crowd a few
        stretches of video) while a search had more to give, the searches nominate four times as many,
        as far as the videos' windows go. A window scores the same whatever the number nominated: the
        moments found first stay, unless a window nominated later beats them."""
        s = self._settings
        fetch_k, context = max(s.retrieval_fetch_k, k), s.retrieval_context_seconds
        keys, window_count = [video.id for video in videos], sum(video.chunk_count or 0 for video in videos)
        vectors = vectors if self._embeddings is not None else None
        while True:
            found: list[list[tuple[Window, float]]] = []
            if self._embeddings is not None and vectors is not None:
                with span("retrieval.vector", videos=len(keys), fetch_k=fetch_k):
                    found = [await vector_search(self._embeddings, vector, keys, fetch_k) for vector in vectors]
            async with self._transaction() as db:  # one for the other legs' statements and the moments' text
                fused, filled = await self._fuse(db, queries, vectors, found, videos, keys, fetch_k)
                best = distinct_moments(fused, k, context)
                if len(best) == k or not filled or fetch_k >= window_count:
                    spans = [(w.video_key, w.start_seconds, w.start_seconds + context) for w, _ in best]
                    texts = await windows_within(db, spans)
                    return [_moment(w, score, following) for (w, score), following in zip(best, texts, strict=True)]
            fetch_k = min(4 * fetch_k, window_count)

    async def _fuse(
        self,
        db: "AsyncSession",
        queries: Sequence[tuple[str, float]],
        vectors: Sequence[list[float]] | None,
        found: list[list[tuple[Window, float]]],
        videos: Sequence[Video],
        keys: Sequence[uuid.UUID],
        fetch_k: int,
    ) -> tuple[list[tuple[Window, float]], bool]:
        """The windows the searches nominate (`found`: the vector search's for each query), scored by every
        leg and fused, best first; and whether a search listed as many as asked (it may have more).
        `keys`: the videos' ids."""
        s = self._settings
        nearest = [window for listed in found for window, _ in listed]
        # Each query's weight shared between the legs; full text alone has all of it.
        share = s.retrieval_vector_weight if vectors is not None else 0.0
        with span("retrieval.full_text", videos=len(keys), fetch_k=fetch_k):
            keyword = await full_text(
                db,
                [q for q, _ in queries],
                keys,
                nearest,
                fts_config=query_language(videos),
                k=fetch_k,
                following=s.chunk_embed_following,
                seconds=s.retrieval_context_seconds,
            )
        rankings = [(weight * (1 - share), ranking) for (_, weight), ranking in zip(queries, keyword, strict=True)]
        # Both vector legs score every window either search found, for any of the queries.
        candidates = [window for ranking in [*found, *(each.windows for each in keyword)] for window, _ in ranking]
        for (_, weight), vector in zip(queries, vectors or [], strict=False):
            with span("retrieval.vector_legs", videos=len(keys)):
                windows, sentences = await vector_rankings(db, vector, keys, candidates)
            # Where no video has sentence vectors (all stored before there were any), the
            # windows' own vectors take the sentences' part.
            part = SENTENCE_SHARE if sentences.std > 0 else 0.0
            rankings += [(weight * share * (1 - part), windows), (weight * share * part, sentences)]
        # A full-text leg that listed every window matching the question has no floor (Ranking.floor).
        filled = any(len(listed) == fetch_k for listed in found) or any(leg.floor > 0 for leg in keyword)
        return fuse(rankings, tiebreak=keyword[0]), filled

    async def _embed(self, queries: list[str]) -> list[list[float]]:
        assert self._embeddings is not None
        dimensions = self._settings.embedding_dimensions
        try:
            with span("embeddings.embed_query"):
                return list(await asyncio.gather(*(embed_query(self._embeddings, q, dimensions) for q in queries)))
        except EmbeddingError as exc:
            raise ServiceUnavailableError(str(exc)) from None
