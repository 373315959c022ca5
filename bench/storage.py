"""Storage: the write rate of one binary COPY into the chunk table's shape (1536-dim rows, raw
psycopg, none of our code) with the video index alone, and with a GIN index on `content_tsv`
(pending list on or off) or an HNSW index on `embedding`: the figures behind the table's indexes
(services/video_rag/models.py).

    python -m bench storage [--rows 1200]
"""

import argparse
import asyncio
import time
import uuid

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench.common import configure, print_table, save_chart, write_result

VARIANTS = {
    "video index only": ["CREATE INDEX ON t (video_key)"],
    "+ GIN on content_tsv": ["CREATE INDEX ON t (video_key)", "CREATE INDEX ON t USING gin (content_tsv)"],
    "+ GIN, fastupdate off": [
        "CREATE INDEX ON t (video_key)",
        "CREATE INDEX ON t USING gin (content_tsv) WITH (fastupdate = off)",
    ],
    "+ HNSW on embedding": [
        "CREATE INDEX ON t (video_key)",
        "CREATE INDEX ON t USING hnsw (embedding vector_cosine_ops)",
    ],
}
TEXT = "a passage of a transcript about rivers, mountains and the weather of the valley " * 12


def copy_rate(url: str, rows: int, statements: list[str]) -> float:
    """Rows/s of one binary COPY of `rows` rows into a fresh table shaped like video_chunk."""
    vectors = np.random.default_rng(1).standard_normal((rows, 1536)).astype(np.float32)
    with psycopg.connect(url, autocommit=True) as connection:
        register_vector(connection)
        connection.execute("DROP TABLE IF EXISTS t")
        connection.execute(
            "CREATE TABLE t (LIKE video_chunk INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS)"
        )
        for statement in statements:
            connection.execute(statement)
        oid = connection.execute("SELECT 'english'::regconfig::oid").fetchone()[0]  # type: ignore[index]
        key = uuid.uuid4()
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy(
                "COPY t (id, video_key, video_id, start_seconds, end_seconds, content, embedding, fts_config)"
                " FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["text", "uuid", "varchar", "float8", "float8", "text", "vector", "oid"])
            for i in range(rows):
                copy.write_row((f"{key}:{i}", key, "x", i * 60.0, i * 60.0 + 60, TEXT, vectors[i], oid))
        seconds = time.perf_counter() - started
        connection.execute("DROP TABLE t")
    return rows / seconds


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench storage")
    parser.add_argument("--rows", type=int, default=1200)
    args = parser.parse_args(argv)
    from bench.retrieve import database_url_for

    configure()
    url = asyncio.run(database_url_for("bench_storage")).replace("postgresql+psycopg://", "postgresql://", 1)
    rates = {name: copy_rate(url, args.rows, statements) for name, statements in VARIANTS.items()}
    print_table(
        f"storage: one binary COPY of {args.rows:,} chunk rows (1536 dims), raw psycopg",
        [(f"{name} (rows/s)", f"{rate:,.0f}") for name, rate in rates.items()],
    )
    save_chart("storage", "Chunk writes (rows/s)", rates)
    print("\nwritten:", write_result("storage", {"rows": args.rows, "rows_per_second": rates}))
