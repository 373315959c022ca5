"""Cleanup: the expiry timer deleting 10,000 expired sessions with their links, chat history and the
videos (and chunks) no other session uses, against the naive way: one session after another through
LangChain's APIs (`PostgresChatMessageHistory.clear`, `PGVectorStore.delete`) and one statement per
row. Checks that live sessions and shared videos survive.

    python -m bench cleanup [--sessions 10000]
"""

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text

from bench.common import configure, new_video_id, print_table, save_chart, write_result

SHARED_VIDEOS, PRIVATE_VIDEOS, CHUNKS_PER_VIDEO, LIVE_SESSIONS = 200, 100, 20, 100
TABLE = "langchain_chat_message"


async def setup(url: str, expired: int) -> dict[str, list[Any]]:
    """Empty tables, then the data: expired sessions (each with a shared video and two chat turns,
    the first ones also with a private video), live sessions on shared videos."""
    from services.common.database import transaction
    from services.video_rag.chunking import Chunk
    from services.video_rag.models import Video
    from services.video_rag.repository import VideoRepository
    from services.video_rag.vector_store import write_chunks

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE session, session_video, video, video_chunk, video_sentence, {TABLE}"))
    rng = np.random.default_rng(5)
    keys: list[uuid.UUID] = []
    for _ in range(SHARED_VIDEOS + PRIVATE_VIDEOS):
        video = Video(
            id=uuid.uuid4(), video_id=new_video_id(), language_code="en", embedding_model="bench", source="youtube",
            title="bench", channel=None, source_url=None, is_generated=False, duration_seconds=1200.0,
            chunk_count=CHUNKS_PER_VIDEO, created_at=datetime.now(UTC),
        )  # fmt: skip
        vectors = rng.standard_normal((CHUNKS_PER_VIDEO, 1536)).astype(np.float32)
        chunks = [Chunk(f"passage {i} of a video", i * 60.0, i * 60.0 + 60) for i in range(CHUNKS_PER_VIDEO)]
        async with transaction() as db:
            await VideoRepository().insert_video(db, video)
            await write_chunks(db, video.id, video.video_id, "en", chunks, vectors, following=2)
        keys.append(video.id)
    shared, private = keys[:SHARED_VIDEOS], keys[SHARED_VIDEOS:]
    past, future = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
    expired_ids = [uuid.uuid4() for _ in range(expired)]
    live_ids = [uuid.uuid4() for _ in range(LIVE_SESSIONS)]
    message = '{"type": "human", "data": {"content": "a question", "type": "human"}}'
    with engine.begin() as connection:
        sessions = [{"id": s, "t": past} for s in expired_ids] + [{"id": s, "t": future} for s in live_ids]
        connection.execute(
            text("INSERT INTO session (id, created_at, last_seen_at, expires_at) VALUES (:id, :t, :t, :t)"), sessions
        )
        links = [
            {"s": s, "v": str(n % SHARED_VIDEOS), "k": shared[n % SHARED_VIDEOS]} for n, s in enumerate(expired_ids)
        ]
        links += [{"s": s, "v": "private", "k": private[n]} for n, s in enumerate(expired_ids[:PRIVATE_VIDEOS])]
        links += [{"s": s, "v": str(n % 7), "k": shared[n % 7]} for n, s in enumerate(live_ids)]
        connection.execute(
            text("INSERT INTO session_video (session_id, video_id, video_key, added_at) VALUES (:s, :v, :k, now())"),
            links,
        )
        connection.execute(
            text(
                f"INSERT INTO {TABLE} (session_id, message) SELECT s, CAST(:m AS jsonb)"
                " FROM unnest(CAST(:ids AS uuid[])) s, generate_series(1, 2)"
            ),
            {"m": message, "ids": [*expired_ids, *live_ids]},
        )
    engine.dispose()
    return {"expired": expired_ids, "live": live_ids, "shared": shared, "private": private}


def survivors(url: str, data: dict[str, list[Any]]) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as connection:

        def count(sql: str, **params: Any) -> int:
            return int(connection.execute(text(sql), params).scalar_one())

        result = {
            "expired_sessions_left": count("SELECT count(*) FROM session WHERE id = ANY(:i)", i=data["expired"]),
            "live_sessions": count("SELECT count(*) FROM session WHERE id = ANY(:i)", i=data["live"]),
            "live_links": count("SELECT count(*) FROM session_video WHERE session_id = ANY(:i)", i=data["live"]),
            "live_history": count(f"SELECT count(*) FROM {TABLE} WHERE session_id = ANY(:i)", i=data["live"]),
            "expired_history_left": count(
                f"SELECT count(*) FROM {TABLE} WHERE session_id = ANY(:i)", i=data["expired"]
            ),
            "private_videos_left": count("SELECT count(*) FROM video WHERE id = ANY(:i)", i=data["private"]),
            "private_chunks_left": count(
                "SELECT count(*) FROM video_chunk WHERE video_key = ANY(:i)", i=data["private"]
            ),
            "shared_videos_used_by_live": count(
                "SELECT count(DISTINCT video_key) FROM session_video WHERE session_id = ANY(:i)", i=data["live"]
            ),
        }
    engine.dispose()
    return result


def naive_cleanup(url: str, data: dict[str, list[Any]]) -> None:
    """One expired session after another, through LangChain's APIs where they exist."""
    import psycopg
    from langchain_postgres import PGEngine, PGVectorStore, PostgresChatMessageHistory

    from services.common.settings import get_settings
    from services.video_rag.embeddings import make_embeddings

    store = PGVectorStore.create_sync(
        PGEngine.from_connection_string(url), embedding_service=make_embeddings(get_settings()),  # type: ignore[arg-type]
        table_name="video_chunk", id_column="id", content_column="content", embedding_column="embedding",
        metadata_columns=["video_key", "video_id", "start_seconds", "end_seconds"],
        metadata_json_column=None,  # type: ignore[arg-type]
    )  # fmt: skip
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        expired = connection.execute("SELECT id FROM session WHERE expires_at < now()").fetchall()
        for (session_id,) in expired:
            PostgresChatMessageHistory(TABLE, str(session_id), sync_connection=connection).clear()
            keys = connection.execute(
                "DELETE FROM session_video WHERE session_id = %s RETURNING video_key", (session_id,)
            ).fetchall()
            connection.execute("DELETE FROM session WHERE id = %s", (session_id,))
            connection.commit()
            for (key,) in keys:
                if connection.execute("SELECT 1 FROM session_video WHERE video_key = %s", (key,)).fetchone():
                    continue
                ids = [r[0] for r in connection.execute("SELECT id FROM video_chunk WHERE video_key = %s", (key,))]
                store.delete(ids=ids)
                connection.execute("DELETE FROM video WHERE id = %s", (key,))
                connection.commit()


async def ours(url: str) -> float:
    import function_app  # noqa: F401 - the app as deployed: a session's videos and history go with it
    from services.common import database
    from services.sessions.functions import sessions

    started = time.perf_counter()
    deleted = await sessions().delete_expired()
    seconds = time.perf_counter() - started
    await database.dispose_engines()
    assert deleted > 0
    return seconds


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench cleanup")
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args(argv)
    from bench.retrieve import database_url_for

    configure(OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_KEY="unused")  # no embedding call is made
    url = asyncio.run(database_url_for("bench_cleanup"))
    configure(PG_CONNECTION_STRING=url)

    data = asyncio.run(setup(url, args.sessions))
    ours_seconds = asyncio.run(ours(url))
    ours_after = survivors(url, data)

    data = asyncio.run(setup(url, args.sessions))
    started = time.perf_counter()
    naive_cleanup(url, data)
    naive_seconds = time.perf_counter() - started
    naive_after = survivors(url, data)

    expected = {"expired_sessions_left": 0, "expired_history_left": 0, "private_videos_left": 0,
                "private_chunks_left": 0, "live_sessions": LIVE_SESSIONS, "live_links": LIVE_SESSIONS,
                "live_history": 2 * LIVE_SESSIONS, "shared_videos_used_by_live": 7}  # fmt: skip
    assert ours_after == expected, ours_after
    assert naive_after == expected, naive_after
    result = {"sessions": args.sessions, "ours_seconds": ours_seconds, "naive_seconds": naive_seconds,
              "speedup": naive_seconds / ours_seconds, "after": ours_after}  # fmt: skip
    print_table(
        f"cleanup: {args.sessions:,} expired sessions (links, chat history, orphan videos and chunks)",
        [
            ("timer, set-based batches (s)", f"{ours_seconds:.2f}"),
            ("one by one through LangChain's APIs (s)", f"{naive_seconds:.2f}"),
            ("speedup (target >= 10)", f"{result['speedup']:.1f}x"),
            (
                "live sessions / their links / history kept",
                f"{ours_after['live_sessions']} / {ours_after['live_links']} / {ours_after['live_history']}",
            ),
        ],
    )  # fmt: skip
    save_chart(
        "cleanup", f"Deleting {args.sessions:,} expired sessions (s)", {"ours": ours_seconds, "naive": naive_seconds}
    )
    print(f"\nwritten: {write_result('cleanup', result)}")
