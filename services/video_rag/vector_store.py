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
class Hit:
    """A retrieved chunk; `score` is higher for better hits (RRF score, or full-text rank)."""

    id: str
    video_key: uuid.UUID
    video_id: str
    start_seconds: float
    end_seconds: float
    content: str
    score: float


_stores: dict[tuple[asyncio.AbstractEventLoop, str, int], Any] = {}

# What PGVectorStore reads of the chunk table; `video_key` is the filter that confines a search to
# one session's videos (a video id alone could name another session's uploaded copy).
_METADATA_COLUMNS = ["video_key", "video_id", "start_seconds", "end_seconds"]


async def _store(embeddings: "Embeddings", fts_config: str, fetch_k: int, rrf_k: float) -> Any:
    """LangChain's PGVectorStore over the chunk table, with hybrid search (pgvector + full text
    fused by reciprocal rank fusion), created once per event loop and configuration."""
    from langchain_postgres import PGEngine, PGVectorStore
    from langchain_postgres.v2.hybrid_search_config import HybridSearchConfig, reciprocal_rank_fusion

    from services.common.database import get_engine

    key = (asyncio.get_running_loop(), fts_config, fetch_k)
    if key not in _stores:
        _stores[key] = await PGVectorStore.create(
            PGEngine.from_engine(get_engine()),
            embedding_service=embeddings,
            table_name=CHUNK_TABLE,
            id_column="id",
            content_column="content",
            embedding_column="embedding",
            metadata_columns=_METADATA_COLUMNS,
            metadata_json_column=None,
            hybrid_search_config=HybridSearchConfig(
                tsv_column="content_tsv",
                tsv_lang=f"pg_catalog.{fts_config}",
                fusion_function=reciprocal_rank_fusion,
                fusion_function_parameters={"rrf_k": rrf_k},
                primary_top_k=fetch_k,
                secondary_top_k=fetch_k,
            ),
        )
    return _stores[key]


async def hybrid_search(
    embeddings: "Embeddings",
    query_embedding: list[float],
    question: str,
    video_keys: Sequence[uuid.UUID],
    *,
    fts_config: str,
    k: int,
    fetch_k: int,
    rrf_k: float,
) -> list[Hit]:
    """The k best chunks of `video_keys` for the question, by pgvector similarity and full-text
    rank fused with RRF. Exact: the filter is applied before ranking, never after."""
    store = await _store(embeddings, fts_config, fetch_k, rrf_k)
    results = await store.asimilarity_search_with_score_by_vector(
        query_embedding,
        k=k,
        filter={"video_key": {"$in": [str(key) for key in video_keys]}},
        fts_query=question,
    )
    return [
        Hit(
            id=str(document.id),
            video_key=uuid.UUID(str(document.metadata["video_key"])),
            video_id=document.metadata["video_id"],
            start_seconds=float(document.metadata["start_seconds"]),
            end_seconds=float(document.metadata["end_seconds"]),
            content=document.page_content,
            score=float(score),
        )
        for document, score in results
    ]


async def full_text_search(
    db: AsyncSession, question: str, video_keys: Sequence[uuid.UUID], *, fts_config: str, k: int
) -> list[Hit]:
    """Full-text search alone (no embedding provider): chunks holding ANY of the question's
    lexemes, ranked by ts_rank_cd."""
    rows = await db.execute(
        text(
            f"""
            WITH q AS (
                SELECT replace(plainto_tsquery(CAST(:config AS regconfig), :question)::text, ' & ', ' | ')::tsquery
                    AS query
            )
            SELECT id, video_key, video_id, start_seconds, end_seconds, content,
                   ts_rank_cd(content_tsv, q.query) AS score
            FROM {CHUNK_TABLE}, q
            WHERE video_key = ANY(:keys) AND content_tsv @@ q.query
            ORDER BY score DESC, start_seconds
            LIMIT :k
            """  # noqa: S608 - the table name is a constant; every value is a bound parameter
        ),
        {"config": fts_config, "question": question, "keys": list(video_keys), "k": k},
    )
    return [Hit(r.id, r.video_key, r.video_id, r.start_seconds, r.end_seconds, r.content, float(r.score)) for r in rows]
