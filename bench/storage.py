"""Storage: the write rate of one binary COPY into the chunk table's shape (1536-dim rows, raw
psycopg, none of our code) with the video index alone, and with a GIN index on `content_tsv`
(pending list on or off) or an HNSW index on `embedding`: the figures behind the table's indexes
(services/video_rag/models.py). Also what bounds the rate on this machine: the same COPY without the
generated `content_tsv` column, two COPY streams at once (one per core), and PostgreSQL's cost of
`to_tsvector` on one passage (~1,000 characters) alone.

    python -m bench storage [--rows 1200]
"""

import argparse
import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench.common import configure, print_table, save_chart, write_result

GIN = ["CREATE INDEX ON t (video_key)", "CREATE INDEX ON t USING gin (content_tsv) WITH (fastupdate = off)"]
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
# (variant, statements after creating t, COPY streams at once)
BOUNDS = {
    "as the table (GIN, fastupdate off), 2 streams at once": (GIN, 2),
    "without the content_tsv column (not the table)": (["ALTER TABLE t DROP COLUMN content_tsv", *GIN[:1]], 1),
}
TEXT = "a passage of a transcript about rivers, mountains and the weather of the valley " * 12


def copy_rate(url: str, rows: int, statements: list[str], streams: int = 1) -> float:
    """Rows/s of `rows` rows written by `streams` binary COPYs at once into a fresh table shaped like
    video_chunk."""
    vectors = np.random.default_rng(1).standard_normal((rows, 1536)).astype(np.float32)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS t")
        connection.execute(
            "CREATE TABLE t (LIKE video_chunk INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS)"
        )
        for statement in statements:
            connection.execute(statement)
        oid = connection.execute("SELECT 'english'::regconfig::oid").fetchone()[0]  # type: ignore[index]

        def copy(part: range) -> None:
            key = uuid.uuid4()
            with psycopg.connect(url, autocommit=True) as stream:
                register_vector(stream)
                with (
                    stream.cursor() as cursor,
                    cursor.copy(
                        "COPY t (id, video_key, video_id, start_seconds, end_seconds, content, embedding, fts_config)"
                        " FROM STDIN (FORMAT BINARY)"
                    ) as rows_in,
                ):
                    rows_in.set_types(["text", "uuid", "varchar", "float8", "float8", "text", "vector", "oid"])
                    for i in part:
                        rows_in.write_row((f"{key}:{i}", key, "x", i * 60.0, i * 60.0 + 60, TEXT, vectors[i], oid))

        parts = [range(rows)[n::streams] for n in range(streams)]
        with ThreadPoolExecutor(streams) as pool:
            started = time.perf_counter()
            list(pool.map(copy, parts))
            seconds = time.perf_counter() - started
        connection.execute("DROP TABLE t")
    return rows / seconds


def tsvector_microseconds(url: str, rows: int) -> float:
    """PostgreSQL's time to compute one passage's tsvector, alone (no table, no write)."""
    with psycopg.connect(url, autocommit=True) as connection:
        query = "SELECT count(to_tsvector('english', %s || g)) FROM generate_series(1, %s) g"
        connection.execute(query, (TEXT, 10))
        started = time.perf_counter()
        connection.execute(query, (TEXT, rows))
        return (time.perf_counter() - started) / rows * 1e6


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench storage")
    parser.add_argument("--rows", type=int, default=1200)
    args = parser.parse_args(argv)
    from bench.retrieve import database_url_for

    configure()
    url = asyncio.run(database_url_for("bench_storage")).replace("postgresql+psycopg://", "postgresql://", 1)
    rates = {name: copy_rate(url, args.rows, statements) for name, statements in VARIANTS.items()}
    bounds = {
        name: copy_rate(url, args.rows * 4, statements, streams) for name, (statements, streams) in BOUNDS.items()
    }
    tsvector = tsvector_microseconds(url, args.rows * 4)
    print_table(
        f"storage: binary COPY of chunk rows (1536 dims, {len(TEXT):,}-character passages), raw psycopg",
        [(f"{name}, {args.rows:,} rows (rows/s)", f"{rate:,.0f}") for name, rate in rates.items()]
        + [(f"{name}, {args.rows * 4:,} rows (rows/s)", f"{rate:,.0f}") for name, rate in bounds.items()]
        + [("to_tsvector of one passage alone (us; tsvectors/s per core)", f"{tsvector:.0f}; {1e6 / tsvector:,.0f}")],
    )
    save_chart("storage", "Chunk writes (rows/s)", rates | bounds)
    result = {"rows": args.rows, "rows_per_second": rates | bounds, "to_tsvector_microseconds": tsvector}
    print("\nwritten:", write_result("storage", result))
