"""The chunk table (`video_chunk`) that LangChain's PGVectorStore reads, the vectors of the chunks'
sentences (`video_sentence`), and the statements of retrieval's legs over them.

Chunks and their sentences are written with binary COPYs in the caller's transaction, beside the
video row: a video is stored whole or not at all (PGVectorStore's own add_documents inserts row by
row on connections of its own)."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.video_rag.chunking import Chunk
from services.video_rag.models import CHUNK_TABLE, SENTENCE_TABLE

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.embeddings import Embeddings
    from numpy.typing import NDArray

# PostgreSQL's text search configurations (PostgreSQL 16), by ISO 639-1 language code.
FTS_CONFIGS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish", "nl": "dutch",
    "en": "english", "fi": "finnish", "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian", "lt": "lithuanian",
    "ne": "nepali", "no": "norwegian", "nb": "norwegian", "nn": "norwegian", "pt": "portuguese",
    "ro": "romanian", "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish",
    "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip

_COPY = (
    f"COPY {CHUNK_TABLE} (id, video_key, video_id, start_seconds, end_seconds, content, embedding, fts_config, "
    "span_words) FROM STDIN (FORMAT BINARY)"
)
_COPY_SENTENCES = f"COPY {SENTENCE_TABLE} (video_key, chunk_seq, seq, embedding) FROM STDIN (FORMAT BINARY)"
_SPAN_WORDS = text("UPDATE video SET span_words = :words WHERE id = :key")
_vector_types: dict[tuple[str, int, str], TypeInfo] = {}  # by database: the type's oid differs


def fts_config_for(language_code: str) -> str:
    """The full-text configuration of a transcript's language, `simple` where PostgreSQL has none."""
    return FTS_CONFIGS.get(language_code.split("-")[0].lower(), "simple")


async def write_chunks(
    db: AsyncSession,
    video_key: uuid.UUID,
    video_id: str,
    language_code: str,
    chunks: Sequence[Chunk],
    embeddings: "NDArray[np.float32] | None",
    following: int,
    sentences: Sequence[tuple[int, "NDArray[np.float32]"]] = (),
) -> None:
    """All chunks of one video in one binary COPY, inside `db`'s transaction, and the vectors of their
    sentences ((window index, vector), in order) in another. Each window's span (its text and that of
    the `following` windows after it: what it is embedded as) gets its word count (each window's
    distinct words), and the video row their sum, for full-text search (`keyword_search`)."""
    fts_oid = (
        await db.execute(text("SELECT CAST(:config AS regconfig)::oid"), {"config": fts_config_for(language_code)})
    ).scalar_one()
    words = [len(set(chunk.text.lower().split())) for chunk in chunks]  # distinct, as in a tsvector
    spans = [sum(words[i : i + 1 + following]) for i in range(len(words))]
    connection: Any = (await (await db.connection()).get_raw_connection()).driver_connection
    database = (connection.info.host, connection.info.port, connection.info.dbname)
    if database not in _vector_types:
        info = await TypeInfo.fetch(connection, "vector")
        if info is None:
            raise RuntimeError("the vector extension is missing: run the migrations")
        _vector_types[database] = info
    async with connection.cursor() as cursor:
        # pgvector's binary adapters on this cursor only: other users of the pool see no change.
        register_vector_info(cursor, _vector_types[database])
        await _copy_rows(cursor, video_key, video_id, fts_oid, chunks, embeddings, spans)
        if sentences:
            await _copy_sentences(cursor, video_key, sentences)
    await db.execute(_SPAN_WORDS, {"key": video_key, "words": sum(spans)})


async def _copy_rows(
    cursor: Any,
    video_key: uuid.UUID,
    video_id: str,
    fts_oid: int,
    chunks: Sequence[Chunk],
    embeddings: "NDArray[np.float32] | None",
    spans: Sequence[int],
) -> None:
    async with cursor.copy(_COPY) as copy:
        copy.set_types(["text", "uuid", "varchar", "float8", "float8", "text", "vector", "oid", "int4"])
        for seq, chunk in enumerate(chunks):
            vector = None if embeddings is None else embeddings[seq]
            await copy.write_row(
                (f"{video_key}:{seq}", video_key, video_id, chunk.start_seconds, chunk.end_seconds,
                 chunk.text, vector, fts_oid, spans[seq])
            )  # fmt: skip


async def _copy_sentences(
    cursor: Any, video_key: uuid.UUID, sentences: Sequence[tuple[int, "NDArray[np.float32]"]]
) -> None:
    async with cursor.copy(_COPY_SENTENCES) as copy:
        copy.set_types(["uuid", "int4", "int2", "vector"])
        places: Counter[int] = Counter()  # each window's sentences numbered in order
        for window, vector in sentences:
            await copy.write_row((video_key, window, places[window], vector))
            places[window] += 1


# --- retrieval ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A row of the chunk table: a few sentences of one video, the unit of retrieval."""

    id: str
    video_key: uuid.UUID
    video_id: str
    start_seconds: float
    end_seconds: float
    content: str


# What PGVectorStore reads of the chunk table; `video_key` is the filter that confines a search to
# one session's videos (a video id alone could name another session's uploaded copy).
_METADATA_COLUMNS = ["video_key", "video_id", "start_seconds", "end_seconds"]


async def _store(embeddings: "Embeddings") -> Any:
    """LangChain's PGVectorStore over the chunk table, on the app's engine, made once per event loop
    (and again for other embeddings)."""
    from langchain_postgres import PGEngine, PGVectorStore

    from services.common.database import get_engine
    from services.common.per_loop import of_this_loop

    async def create() -> Any:
        return await PGVectorStore.create(
            PGEngine.from_engine(get_engine()),
            embedding_service=embeddings,
            table_name=CHUNK_TABLE,
            id_column="id",
            content_column="content",
            embedding_column="embedding",
            metadata_columns=_METADATA_COLUMNS,
            metadata_json_column=None,
        )

    # One creation per loop, shared by the requests that ask for it at once.
    return await of_this_loop("vector_store", lambda: asyncio.ensure_future(create()), made_from=embeddings)


@dataclass(frozen=True)
class Ranking:
    """What one leg of retrieval found: its best windows with their scores (higher is better), best
    first, and how its scores spread over all the session's windows (their mean and standard
    deviation), so that legs whose scores mean different things can be added up. `floor` is what
    score fusion counts a window left out of `windows` at: the last one's score where the leg lists
    its best (none left out scores more), 0 where it lists every window that scores."""

    windows: list[tuple[Window, float]]
    mean: float = 0.0
    std: float = 0.0
    floor: float = 0.0


async def vector_search(
    embeddings: "Embeddings", query_vector: list[float], video_keys: Sequence[uuid.UUID], k: int
) -> list[tuple[Window, float]]:
    """The k windows of `video_keys` nearest the query vector (cosine), best first, scored by minus
    their cosine distance. Exact: the filter applies before ranking (no approximate index)."""
    store = await _store(embeddings)
    results = await store.asimilarity_search_with_score_by_vector(
        query_vector, k=k, filter={"video_key": {"$in": [str(key) for key in video_keys]}}
    )
    return [
        (
            Window(
                id=str(document.id),
                video_key=uuid.UUID(str(document.metadata["video_key"])),
                video_id=document.metadata["video_id"],
                start_seconds=float(document.metadata["start_seconds"]),
                end_seconds=float(document.metadata["end_seconds"]),
                content=document.page_content,
            ),
            -float(distance),
        )
        for document, distance in results
        if distance is not None  # a window stored without a vector (no embedding provider then)
    ]


# How many of a session's windows the spreads of the vector legs are measured on, at most: every n-th
# window of each video (a window's place is the number its id ends with), read by primary key.
SPREAD_SAMPLE = 120

# The two vector legs over the candidates (the windows the searches found) with their spreads, in one
# statement (the query vector sent once). The window leg scores a window by minus the cosine distance
# of its vector (what PGVectorStore's search ranks by); the sentence leg by minus that of its sentence
# nearest the query. Each spread is measured on the same sample of windows (a few thousand distances
# at most); candidates and their sentences are read by primary key.
# (The statements of retrieval are made once: building one parses it for its parameters.)
_VECTOR_LEGS = text(f"""
WITH query AS (
    SELECT CAST(:vector AS vector) AS v
), step AS (
    SELECT greatest(1, sum(chunk_count) / :sample)::int AS n FROM video WHERE id = ANY(:keys)
), sampled AS (
    SELECT v.id AS video_key, seq AS chunk_seq
    FROM video v, step, generate_series(0, v.chunk_count - 1, step.n) AS seq
    WHERE v.id = ANY(:keys)
), windows AS (
    SELECT avg(c.embedding <=> query.v) AS mean, stddev_pop(c.embedding <=> query.v) AS std
    FROM {CHUNK_TABLE} c, query
    WHERE c.embedding IS NOT NULL AND c.id = ANY(ARRAY(SELECT video_key::text || ':' || chunk_seq FROM sampled))
), sampled_sentences AS MATERIALIZED (
    SELECT (
        SELECT min(s.embedding <=> query.v) FROM {SENTENCE_TABLE} s
        WHERE s.video_key = sampled.video_key AND s.chunk_seq = sampled.chunk_seq
    ) AS distance  -- a lookup by primary key per window (a join may read every sentence of the table)
    FROM sampled, query
), sentences AS (
    SELECT avg(distance) AS mean, stddev_pop(distance) AS std FROM sampled_sentences
), scored AS (
    SELECT w.id, w.embedding <=> query.v AS window_distance, (
        SELECT min(s.embedding <=> query.v) FROM {SENTENCE_TABLE} s
        WHERE s.video_key = w.video_key AND s.chunk_seq = split_part(w.id, ':', 2)::int
    ) AS distance
    FROM {CHUNK_TABLE} w, query
    WHERE w.id = ANY(CAST(:candidates AS text[]))
)
SELECT windows.mean, windows.std, sentences.mean AS sentence_mean, sentences.std AS sentence_std, scored.id,
       coalesce(scored.window_distance, windows.mean) AS window_distance,  -- no vector (full text alone): the mean
       coalesce(scored.distance, sentences.mean) AS distance  -- no sentence vectors: the mean
FROM windows CROSS JOIN sentences LEFT JOIN scored ON true
""")  # noqa: S608 - the table names are constants; every value is a bound parameter


async def vector_rankings(
    db: AsyncSession, query_vector: list[float], video_keys: Sequence[uuid.UUID], candidates: Sequence[Window]
) -> tuple[Ranking, Ranking]:
    """The two vector legs over `candidates` (the windows the searches found), each best first with the
    spread of its score over the windows of `video_keys`: the window leg scores a window by its own
    vector (what PGVectorStore's search ranks by), the sentence leg by its sentence nearest the query.
    A window without a vector (its video stored without an embedding provider) or without sentence
    vectors (stored before there were any) scores that leg's mean: neither better nor worse than
    usual. Spreads over all the windows in a session of fewer than 2 x SPREAD_SAMPLE windows, over
    every n-th window of each video in a larger one, SPREAD_SAMPLE to twice that many (a spread only
    scales its leg in score fusion; a sample of n puts a standard deviation within about 1/sqrt(2n),
    7% at 120, and reads a fraction of the vectors: the dev set's figures are the same with 60 to 480)."""
    by_id = {window.id: window for window in candidates}
    parameters = {
        "vector": _vector_literal(query_vector),
        "keys": list(video_keys),
        "sample": SPREAD_SAMPLE,
        "candidates": list(by_id),
    }
    rows = (await db.execute(_VECTOR_LEGS, parameters)).all()
    first = rows[0]
    legs = []
    for column, mean, std in (
        ("window_distance", first.mean, first.std),
        ("distance", first.sentence_mean, first.sentence_std),
    ):
        scored = sorted(
            ((by_id[row.id], -float(getattr(row, column) or 0.0)) for row in rows if row.id),
            key=lambda pair: (-pair[1], pair[0].id),
        )
        legs.append(Ranking(scored, -float(mean or 0.0), float(std or 0.0), scored[-1][1] if scored else 0.0))
    return legs[0], legs[1]


def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(str(float(x)) for x in vector) + "]"


# BM25 over the session's windows, each read as what is said from its start on: its span, the window's
# text and that of the `:following` windows after it (what it is embedded as, chunking.embedding_texts).
# A window alone holds a sentence or two, too few of a paraphrased question's words. The query is ANY
# of the question's lexemes (stop words dropped and words stemmed by the transcript language's
# configuration); the GIN index finds the windows holding one, and each term found counts in the span of
# that window and in those of the `:following` windows before it that start within `:seconds` of it (as
# far as a moment's text shows it; a window's place in its video is the number its id ends with:
# write_chunks). Each term weighs by its rarity among the session's spans (idf)
# and its count in the span (ts_rank_cd of that one term with every weight 1: one per occurrence),
# damped by the span's length (its words, stored with the window). PostgreSQL's ts_rank has no idf:
# common words would dominate. Only the matching windows and the spans they are part of are read: the
# session's span count and average span length come from its video rows (chunk_count, span_words).
# The scores' sum and sum of squares over the matching spans give their spread over the session (a
# span matching nothing scores 0). Besides the k best, the windows named in `:also` are listed with their
# scores, wherever they rank.
_KEYWORD_SEARCH = text(f"""
WITH q AS (
    SELECT plainto_tsquery(CAST(:config AS regconfig), :question)::text AS text
), terms AS (
    SELECT DISTINCT term, CAST(term AS tsquery) AS query
    FROM q, unnest(string_to_array(q.text, ' & ')) AS term
), stats AS (
    SELECT greatest(sum(chunk_count), 1)::float8 AS n,  -- float8: ln() of a numeric took a third of the time
           greatest(coalesce(sum(span_words), 0)::float8 / greatest(sum(chunk_count), 1), 1) AS avg_length
    FROM video WHERE id = ANY(:keys)
), matched AS (
    SELECT c.id, c.video_key, c.start_seconds, c.content_tsv FROM {CHUNK_TABLE} c, q
    WHERE c.video_key = ANY(:keys) AND q.text <> ''
      AND c.content_tsv @@ CAST(replace(q.text, ' & ', ' | ') AS tsquery)
), found AS (
    SELECT m.id, m.video_key, m.start_seconds, t.term, ts_rank_cd('{{1,1,1,1}}', m.content_tsv, t.query, 0) AS tf
    FROM matched m, terms t WHERE m.content_tsv @@ t.query
), counts AS (
    SELECT s.id, f.term, sum(f.tf) AS tf, min(s.span_words) AS length
    FROM found f CROSS JOIN generate_series(0, :following) AS back
    JOIN {CHUNK_TABLE} s ON s.id = f.video_key::text || ':' || (split_part(f.id, ':', 2)::int - back)
    WHERE back = 0 OR f.start_seconds < s.start_seconds + :seconds
    GROUP BY s.id, f.term
), df AS (
    SELECT term, count(*)::float8 AS df FROM counts GROUP BY term
), scored AS (
    SELECT c.id, sum(
        ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5))
        * c.tf * (:k1 + 1) / (c.tf + :k1 * (1 - :b + :b * coalesce(c.length, s.avg_length) / s.avg_length))
    ) AS score
    FROM counts c JOIN df USING (term), stats s
    GROUP BY c.id
), ranked AS (
    SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS place,
           sum(score) OVER () AS total, sum(score * score) OVER () AS squares
    FROM scored
), best AS (
    SELECT * FROM ranked WHERE place <= :k OR id = ANY(CAST(:also AS text[]))
)
SELECT w.id, w.video_key, w.video_id, w.start_seconds, w.end_seconds, w.content, best.score,
       best.place, best.total, best.squares, stats.n
FROM best JOIN {CHUNK_TABLE} w USING (id), stats
ORDER BY best.score DESC, w.id
""")  # noqa: S608 - the table name is a constant; every value is a bound parameter


async def keyword_search(
    db: AsyncSession,
    question: str,
    video_keys: Sequence[uuid.UUID],
    *,
    fts_config: str,
    k: int,
    following: int,
    seconds: float,
    also: Sequence[Window] = (),
) -> Ranking:
    """The k windows of `video_keys` whose spans (each with at most `following` windows after it, those
    starting within `seconds` of it) best match the question's words (BM25), best first; and each of
    `also` (the vector search's windows) with its own score, 0 where it matches none of the words."""
    span = {"following": following, "seconds": seconds, "also": [window.id for window in also]}
    parameters = {"config": fts_config, "question": question, "keys": list(video_keys), "k": k} | span
    rows = (await db.execute(_KEYWORD_SEARCH, parameters | {"k1": 1.2, "b": 0.75})).all()
    listed = {row.id for row in rows}
    unmatched = [(window, 0.0) for window in {window.id: window for window in also}.values() if window.id not in listed]
    if not rows:
        return Ranking(unmatched)
    n, total, squares = float(rows[0].n), float(rows[0].total), float(rows[0].squares)
    mean = total / n
    windows = [(Window(*row[:6]), float(row.score)) for row in rows]
    # A window left out scored less than the k-th, or nothing when every match is listed.
    top = [score for (_, score), row in zip(windows, rows, strict=True) if row.place <= k]
    floor = top[-1] if len(top) == k else 0.0
    return Ranking(windows + unmatched, mean, max(squares / n - mean * mean, 0.0) ** 0.5, floor)


_WINDOWS_WITHIN = text(f"""
SELECT s.n, c.id, c.video_key, c.video_id, c.start_seconds, c.end_seconds, c.content
FROM unnest(CAST(:keys AS uuid[]), CAST(:starts AS float8[]), CAST(:ends AS float8[]))
     WITH ORDINALITY AS s(video_key, start_seconds, end_seconds, n)
JOIN {CHUNK_TABLE} c ON c.video_key = s.video_key
     AND c.start_seconds >= s.start_seconds AND c.start_seconds < s.end_seconds
ORDER BY s.n, c.start_seconds
""")  # noqa: S608 - the table name is a constant; every value is a bound parameter


async def windows_within(db: AsyncSession, spans: Sequence[tuple[uuid.UUID, float, float]]) -> list[list[Window]]:
    """For each (video key, from, to): the windows of that video starting in [from, to), in order."""
    if not spans:
        return []
    keys, starts, ends = zip(*spans, strict=True)
    rows = await db.execute(_WINDOWS_WITHIN, {"keys": list(keys), "starts": list(starts), "ends": list(ends)})
    found: list[list[Window]] = [[] for _ in spans]
    for n, *window in rows:
        found[n - 1].append(Window(*window))
    return found
