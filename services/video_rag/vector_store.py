"""The chunk table (`video_chunk`) that LangChain's PGVectorStore reads.

Chunks are written with one binary COPY in the caller's transaction, beside the video row: a
video is stored whole or not at all (PGVectorStore's own add_documents inserts row by row on
connections of its own)."""

import uuid
from collections.abc import Sequence
from typing import Any

from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.video_rag.chunking import Chunk
from services.video_rag.models import CHUNK_TABLE

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
    embeddings: Sequence[Sequence[float]] | None,
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
    embeddings: Sequence[Sequence[float]] | None,
) -> None:
    import numpy as np

    vectors = None if embeddings is None else np.asarray(embeddings, dtype=np.float32)  # one conversion
    async with cursor.copy(_COPY) as copy:
        copy.set_types(["text", "uuid", "varchar", "float8", "float8", "text", "vector", "oid"])
        for seq, chunk in enumerate(chunks):
            vector = None if vectors is None else vectors[seq]
            await copy.write_row(
                (f"{video_key}:{seq}", video_key, video_id, chunk.start_seconds, chunk.end_seconds,
                 chunk.text, vector, fts_oid)
            )  # fmt: skip
