"""The chunk table (`video_chunk`) that LangChain's PGVectorStore reads.

Chunks are written with one binary COPY in the caller's transaction, beside the video row: a
video is stored whole or not at all (PGVectorStore's own add_documents inserts row by row on
connections of its own)."""

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.video_rag.chunking import Chunk
from services.video_rag.models import CHUNK_TABLE

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
    f"COPY {CHUNK_TABLE} (id, video_key, video_id, start_seconds, end_seconds, content, embedding, fts_config) "
    "FROM STDIN (FORMAT BINARY)"
)
# A video's lexeme count (full-text search's average window length), once its chunks are written.
_COUNT_LEXEMES = text(
    f"UPDATE video SET lexeme_count = (SELECT sum(length(content_tsv)) FROM {CHUNK_TABLE} WHERE video_key = :key) "  # noqa: S608 - a constant table name; the value is bound
    "WHERE id = :key"
)
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
) -> None:
    """All chunks of one video in one binary COPY, inside `db`'s transaction."""
    fts_oid = (
        await db.execute(text("SELECT CAST(:config AS regconfig)::oid"), {"config": fts_config_for(language_code)})
    ).scalar_one()
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
        await _copy_rows(cursor, video_key, video_id, fts_oid, chunks, embeddings)
    await db.execute(_COUNT_LEXEMES, {"key": video_key})


async def _copy_rows(
    cursor: Any,
    video_key: uuid.UUID,
    video_id: str,
    fts_oid: int,
    chunks: Sequence[Chunk],
    embeddings: "NDArray[np.float32] | None",
) -> None:
    async with cursor.copy(_COPY) as copy:
        copy.set_types(["text", "uuid", "varchar", "float8", "float8", "text", "vector", "oid"])
        for seq, chunk in enumerate(chunks):
            vector = None if embeddings is None else embeddings[seq]
            await copy.write_row(
                (f"{video_key}:{seq}", video_key, video_id, chunk.start_seconds, chunk.end_seconds,
                 chunk.text, vector, fts_oid)
            )  # fmt: skip


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


async def vector_search(
    embeddings: "Embeddings", query_vector: list[float], video_keys: Sequence[uuid.UUID], k: int
) -> list[tuple[Window, float]]:
    """The k windows of `video_keys` nearest the query vector (cosine), best first. Exact: the filter
    applies before ranking (no approximate index)."""
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
    ]


# BM25 over the session's windows. The query is ANY of the question's lexemes (stop words dropped and
# words stemmed by the transcript language's configuration); the GIN index finds the windows holding
# one; each term weighs by its rarity among the session's windows (idf) and its count in the window,
# damped by the window's length. PostgreSQL's ts_rank has no idf: common words would dominate.
# The session's window count and average length come from its video rows (chunk_count,
# lexeme_count), not from reading every window; a term's count in a window is ts_rank_cd of that one
# term with every weight 1 (one per occurrence), which reads the window's tsvector once per term
# instead of expanding all its lexemes.
_KEYWORD_SEARCH = f"""
WITH q AS (
    SELECT plainto_tsquery(CAST(:config AS regconfig), :question)::text AS text
), terms AS (
    SELECT DISTINCT term, CAST(term AS tsquery) AS query
    FROM q, unnest(string_to_array(q.text, ' & ')) AS term
), windows AS (
    SELECT c.id, c.content_tsv FROM {CHUNK_TABLE} c, q
    WHERE c.video_key = ANY(:keys) AND q.text <> ''
      AND c.content_tsv @@ CAST(replace(q.text, ' & ', ' | ') AS tsquery)
), stats AS (
    SELECT greatest(sum(chunk_count), 1) AS n,
           greatest(coalesce(sum(lexeme_count), 0)::float8 / greatest(sum(chunk_count), 1), 1) AS avg_length
    FROM video WHERE id = ANY(:keys)
), counts AS (
    SELECT w.id, t.term, ts_rank_cd('{{1,1,1,1}}', w.content_tsv, t.query, 0) AS tf, length(w.content_tsv) AS length
    FROM windows w, terms t WHERE w.content_tsv @@ t.query
), df AS (
    SELECT term, count(*) AS df FROM counts GROUP BY term
), scored AS (
    SELECT c.id, sum(
        ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5))
        * c.tf * (:k1 + 1) / (c.tf + :k1 * (1 - :b + :b * c.length / s.avg_length))
    ) AS score
    FROM counts c JOIN df USING (term), stats s
    GROUP BY c.id
    ORDER BY score DESC, c.id
    LIMIT :k
)
SELECT w.id, w.video_key, w.video_id, w.start_seconds, w.end_seconds, w.content, scored.score
FROM scored JOIN {CHUNK_TABLE} w USING (id)
ORDER BY scored.score DESC, w.id
"""  # noqa: S608 - the table name is a constant; every value is a bound parameter


async def keyword_search(
    db: AsyncSession, question: str, video_keys: Sequence[uuid.UUID], *, fts_config: str, k: int
) -> list[tuple[Window, float]]:
    """The k windows of `video_keys` that best match the question's words (BM25), best first."""
    rows = await db.execute(
        text(_KEYWORD_SEARCH),
        {"config": fts_config, "question": question, "keys": list(video_keys), "k": k, "k1": 1.2, "b": 0.75},
    )
    return [(Window(*row[:6]), float(row.score)) for row in rows]


async def windows_within(db: AsyncSession, spans: Sequence[tuple[uuid.UUID, float, float]]) -> list[list[Window]]:
    """For each (video key, from, to): the windows of that video starting in [from, to), in order."""
    if not spans:
        return []
    keys, starts, ends = zip(*spans, strict=True)
    rows = await db.execute(
        text(
            f"""
            SELECT s.n, c.id, c.video_key, c.video_id, c.start_seconds, c.end_seconds, c.content
            FROM unnest(CAST(:keys AS uuid[]), CAST(:starts AS float8[]), CAST(:ends AS float8[]))
                 WITH ORDINALITY AS s(video_key, start_seconds, end_seconds, n)
            JOIN {CHUNK_TABLE} c ON c.video_key = s.video_key
                 AND c.start_seconds >= s.start_seconds AND c.start_seconds < s.end_seconds
            ORDER BY s.n, c.start_seconds
            """  # noqa: S608 - the table name is a constant; every value is a bound parameter
        ),
        {"keys": list(keys), "starts": list(starts), "ends": list(ends)},
    )
    found: list[list[Window]] = [[] for _ in spans]
    for n, *window in rows:
        found[n - 1].append(Window(*window))
    return found
