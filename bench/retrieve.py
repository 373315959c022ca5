"""Retrieval: p50/p95 of one session's hybrid retrieval (pgvector through LangChain's PGVectorStore,
the windows' sentence vectors, and full text, fused by standard scores) as the chunk table grows from
the session's own 20 one-hour videos (passages of a minute, each with 10 sentence vectors: about as
many sentences an hour as the app stores) to 2,000 other videos (about 100,000 chunks, 1536
dimensions, no sentence vectors; built once and reused); two of its parts alone (PGVectorStore's
search, all that retrieval ran before it had a full-text and a sentence leg; and retrieval without an
embedding provider: full text and the moments' text); the recall of its vector leg against an exact
search, and the time our code spends per chat request apart from the model calls.

    python -m bench retrieve [--queries 200] [--other-videos 2000]
"""

import argparse
import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bench.common import (
    configure,
    fake_openai_process,
    new_video_id,
    percentile,
    print_table,
    save_line_chart,
    write_result,
)
from tests.fakes.openai_server import fake_embedding

DIMENSIONS = 1536
SESSION_VIDEOS = 20
CHUNKS_PER_VIDEO = 60  # one hour in passages of a minute
SENTENCES_PER_CHUNK = 10  # of 16 words
OTHER_CHUNKS_PER_VIDEO = 50
SYLLABLES = ["ka", "lo", "mi", "ra", "tu", "ne", "so", "vi", "da", "pe", "qu", "ri", "zo", "ba", "fe", "gu"]
VOCABULARY = 4096  # 16 syllables, three per word


def _word(rank: int) -> str:
    """A made-up word per rank (three syllables in base 16): distinct, stable, stemmer-proof enough."""
    return "".join(SYLLABLES[(rank >> shift) & 15] for shift in (8, 4, 0)) + "n"


WORDS = [_word(rank) for rank in range(VOCABULARY)]
# Word frequencies follow a Zipf-Mandelbrot law, as in natural language (and in transcripts).
FREQUENCIES = 1.0 / (np.arange(VOCABULARY) + 2.7) ** 1.1
FREQUENCIES /= FREQUENCIES.sum()
QUESTION_WORDS = WORDS[50:2000]  # content words: neither the most frequent nor hapaxes


def random_unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    """Embeddings of the other videos: random directions (nothing of the session's questions)."""
    vectors: np.ndarray = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def transcript_text(rng: np.random.Generator, words: int = 160) -> str:
    """About a minute of speech."""
    return " ".join(rng.choice(WORDS, size=words, p=FREQUENCIES))


async def database_url_for(name: str) -> str:
    """A database of the bench server (the embedded one unless PG_CONNECTION_STRING is set), migrated."""
    from sqlalchemy import create_engine, make_url, text

    from services.common.database import database_url, migrate

    server = database_url()
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    return url


@asynccontextmanager
async def using_database(url: str) -> Any:
    from services.common import database

    configure(PG_CONNECTION_STRING=url)
    try:
        yield
    finally:
        await database.dispose_engines()


async def fill(videos: int, chunks_per_video: int, model: str, rng: np.random.Generator, real: bool) -> list[uuid.UUID]:
    """Stores `videos` videos; `real` ones get bag-of-words embeddings (searchable), others random ones."""
    from services.common.database import transaction
    from services.video_rag.chunking import Chunk
    from services.video_rag.models import Video
    from services.video_rag.repository import VideoRepository
    from services.video_rag.vector_store import write_chunks

    keys = []
    for _ in range(videos):
        texts = [transcript_text(rng) for _ in range(chunks_per_video)]
        if real:
            vectors = np.stack([fake_embedding(t, DIMENSIONS) for t in texts])
        else:
            vectors = random_unit_vectors(rng, chunks_per_video)
        video = Video(
            id=uuid.uuid4(), video_id=new_video_id(), language_code="en", embedding_model=model, source="youtube",
            title="bench", channel=None, source_url=None, is_generated=False, duration_seconds=3600.0,
            chunk_count=chunks_per_video, created_at=datetime.now(UTC),
        )  # fmt: skip
        chunks = [Chunk(text, i * 60.0, i * 60.0 + 60.0) for i, text in enumerate(texts)]
        sentences = [
            (i, fake_embedding(" ".join(text.split()[16 * n : 16 * n + 16]), DIMENSIONS))
            for i, text in enumerate(texts)
            for n in range(SENTENCES_PER_CHUNK if real else 0)
        ]
        async with transaction() as db:
            key = await VideoRepository().insert_video(db, video)
            await write_chunks(db, key, video.video_id, "en", chunks, vectors, following=2, sentences=sentences)
        keys.append(video.id)
    return keys


def naive_store(url: str) -> Any:
    """LangChain's documented PGVector store (v1: its own tables, JSONB metadata) in the same database."""
    from langchain_postgres import PGVector

    from services.common.settings import get_settings
    from services.video_rag.embeddings import make_embeddings

    return PGVector(
        embeddings=make_embeddings(get_settings()),  # type: ignore[arg-type]
        connection=url,
        collection_name="naive",
        embedding_length=DIMENSIONS,
        use_jsonb=True,
    )


def naive_fill(store: Any, videos: int, chunks_per_video: int, rng: np.random.Generator, real: bool) -> list[str]:
    """The same kind of data in PGVector's table: `video_id` in the metadata of each chunk."""
    video_ids = []
    for _ in range(videos):
        video_id = new_video_id()
        texts = [transcript_text(rng) for _ in range(chunks_per_video)]
        if real:
            vectors = np.stack([fake_embedding(t, DIMENSIONS) for t in texts])
        else:
            vectors = random_unit_vectors(rng, chunks_per_video)
        store.add_embeddings(
            texts, vectors.tolist(), [{"video_id": video_id, "start": i * 60.0} for i in range(chunks_per_video)]
        )
        video_ids.append(video_id)
    return video_ids


def naive_measure(store: Any, video_ids: list[str], questions: list[str]) -> dict[str, Any]:
    """similarity_search_by_vector with a metadata filter, as LangChain's documentation shows."""
    latencies = []
    for question in questions:
        query = fake_embedding(question, DIMENSIONS).tolist()
        started = time.perf_counter()
        documents = store.similarity_search_by_vector(query, k=6, filter={"video_id": {"$in": video_ids}})
        latencies.append((time.perf_counter() - started) * 1000)
        assert documents
    return {"p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95), "queries": len(questions)}


def naive_count(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            exists = connection.execute(text("SELECT to_regclass('langchain_pg_embedding')")).scalar()
            if exists is None:
                return 0
            return int(connection.execute(text("SELECT count(*) FROM langchain_pg_embedding")).scalar_one())
    finally:
        engine.dispose()


async def analyze() -> None:
    """The statistics autovacuum keeps on a live table, at once."""
    from sqlalchemy import text

    from services.common.database import get_engine

    async with get_engine().connect() as connection:
        await connection.execute(text("ANALYZE video_chunk, video_sentence"))
        await connection.commit()


async def other_videos_present(model: str) -> int:
    from sqlalchemy import text

    from services.common.database import transaction

    async with transaction() as db:
        return int(
            (await db.execute(text("SELECT count(*) FROM video WHERE embedding_model = :m"), {"m": model})).scalar_one()
        )


async def measure(keys: list[uuid.UUID], questions: list[str], embeddings: Any) -> dict[str, Any]:
    """Latency of hybrid retrieval for one session, and recall@k of its vector leg vs numpy exact search."""
    from sqlalchemy import text

    from services.common.database import transaction
    from services.common.settings import get_settings
    from services.video_rag.models import Video
    from services.video_rag.retrieval import Retriever
    from services.video_rag.vector_store import vector_search

    settings = get_settings()
    retriever = Retriever(embeddings, transaction, settings)
    videos = [Video(id=key, language_code="en", chunk_count=CHUNKS_PER_VIDEO) for key in keys]
    async with transaction() as db:
        rows = (
            await db.execute(text("SELECT id, embedding::text FROM video_chunk WHERE video_key = ANY(:k)"), {"k": keys})
        ).all()
    ids = [r[0] for r in rows]
    matrix = np.array([np.fromstring(r[1].strip("[]"), sep=",", dtype=np.float32) for r in rows])
    latencies, recalls, vector_leg, full_text = [], [], [], []
    k, fetch_k = settings.retrieval_top_k, settings.retrieval_fetch_k
    without_embeddings = Retriever(None, transaction, settings)
    for question in questions:
        query = fake_embedding(question, DIMENSIONS)
        started = time.perf_counter()
        hits = await retriever.rank([(question, 1.0)], [query.tolist()], videos, k)
        latencies.append((time.perf_counter() - started) * 1000)
        # Its parts: PGVectorStore's search alone (all that retrieval ran before it had a full-text and a
        # sentence leg), and retrieval without an embedding provider (full text, and the moments' text).
        started = time.perf_counter()
        await vector_search(embeddings, query.tolist(), keys, fetch_k)
        vector_leg.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        await without_embeddings.rank([(question, 1.0)], None, videos, k)
        full_text.append((time.perf_counter() - started) * 1000)
        # Exact top-k by brute force; chunks tied with the k-th score are all right answers.
        scores = matrix @ query
        kth = np.sort(scores)[::-1][settings.retrieval_fetch_k - 1]
        exact = {ids[i] for i in np.flatnonzero(scores >= kth - 1e-5)}
        dense = await dense_leg(keys, query, settings.retrieval_fetch_k)
        recalls.append(len(exact & set(dense)) / len(dense))
        assert hits
    return {
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "recall_at_fetch_k": float(np.mean(recalls)),
        "queries": len(questions),
        "vector_leg_alone": {"p50_ms": percentile(vector_leg, 50), "p95_ms": percentile(vector_leg, 95)},
        "full_text_alone": {"p50_ms": percentile(full_text, 50), "p95_ms": percentile(full_text, 95)},
    }


async def dense_leg(keys: list[uuid.UUID], query: np.ndarray, k: int) -> list[str]:
    """What the vector leg returns: the same statement PGVectorStore runs (filter, order, limit)."""
    from sqlalchemy import text

    from services.common.database import transaction

    async with transaction() as db:
        rows = await db.execute(
            text(
                "SELECT id FROM video_chunk WHERE video_key = ANY(:k) "
                "ORDER BY embedding <=> CAST(:q AS vector) LIMIT :n"
            ),
            {"k": keys, "q": str(query.tolist()), "n": k},
        )
        return [r[0] for r in rows]


async def chat_overhead(keys: list[uuid.UUID], questions: list[str]) -> dict[str, Any]:
    """Wall time of POST /api/chat through the local host minus the time spent awaiting the
    embedding and chat model calls (a zero-latency fake in another process): our code's share."""
    import httpx

    from devhost.host import DevHost
    from function_app import app
    from services.common.database import transaction
    from services.common.settings import get_settings
    from services.video_rag import chat
    from services.video_rag.embeddings import get_embeddings
    from services.video_rag.models import Video
    from services.video_rag.repository import VideoRepository

    waited = [0.0]
    complete = getattr(chat, "complete")  # noqa: B009 - wrapped below to time the model calls

    async def timed_complete(*args: Any, **kwargs: Any) -> str:
        started = time.perf_counter()
        try:
            return str(await complete(*args, **kwargs))
        finally:
            waited[0] += time.perf_counter() - started

    embeddings = get_embeddings(get_settings())
    assert embeddings is not None
    embed_query = embeddings.aembed_query

    async def timed_embed_query(text: str) -> list[float]:
        started = time.perf_counter()
        try:
            return await embed_query(text)
        finally:
            waited[0] += time.perf_counter() - started

    setattr(chat, "complete", timed_complete)  # noqa: B010
    object.__setattr__(embeddings, "aembed_query", timed_embed_query)
    transport = httpx.ASGITransport(app=DevHost(app, timers=False))
    ours = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for question in questions:
            session_id = (await client.post("/api/sessions")).json()["session_id"]
            async with transaction() as db:
                videos = {
                    video.video_id: video.id
                    for video in (
                        await db.execute(__import__("sqlalchemy").select(Video).where(Video.id.in_(keys)))
                    ).scalars()
                }
                await VideoRepository().link_many(db, uuid.UUID(session_id), videos, datetime.now(UTC))
            waited[0] = 0.0
            started = time.perf_counter()
            response = await client.post("/api/chat", json={"question": question}, headers={"X-Session-Id": session_id})
            total = time.perf_counter() - started
            assert response.status_code == 200, response.text
            ours.append((total - waited[0]) * 1000)
    setattr(chat, "complete", complete)  # noqa: B010
    return {"p50_ms": percentile(ours[5:], 50), "p95_ms": percentile(ours[5:], 95), "requests": len(ours)}


def naive_phase(url: str, other_videos: int, questions: list[str], seed: int) -> dict[str, Any]:
    """The naive pipeline on the same database and the same kind of data."""
    store = naive_store(url)
    rng = np.random.default_rng(seed + 100)
    present = naive_count(url) // OTHER_CHUNKS_PER_VIDEO
    if present < other_videos:
        naive_fill(store, other_videos - present, OTHER_CHUNKS_PER_VIDEO, rng, real=False)
    session = naive_fill(store, SESSION_VIDEOS, CHUNKS_PER_VIDEO, np.random.default_rng(1), real=True)
    result = naive_measure(store, session, questions)
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:  # the session's rows go; the others stay for the next run
        connection.execute(
            text("DELETE FROM langchain_pg_embedding WHERE cmetadata->>'video_id' = ANY(:ids)"), {"ids": session}
        )
    engine.dispose()
    return result


async def phase(url: str, other_videos: int, questions: list[str], seed: int) -> dict[str, Any]:
    from services.common.settings import get_settings
    from services.video_rag.embeddings import get_embeddings

    async with using_database(url):
        rng = np.random.default_rng(seed)
        present = await other_videos_present("bench-other-zipf")
        if present < other_videos:
            started = time.perf_counter()
            await fill(other_videos - present, OTHER_CHUNKS_PER_VIDEO, "bench-other-zipf", rng, real=False)
            print(f"built {other_videos - present} other videos in {time.perf_counter() - started:.0f} s")
        session_keys = await fill(SESSION_VIDEOS, CHUNKS_PER_VIDEO, "bench-session", np.random.default_rng(1), True)
        await analyze()
        embeddings = get_embeddings(get_settings())
        result = await measure(session_keys, questions, embeddings)
        if other_videos:
            result["chat_request_our_code"] = await chat_overhead(session_keys, questions[:60])
        result["naive"] = await asyncio.to_thread(naive_phase, url, other_videos, questions[:50], seed)
        from services.common.database import transaction
        from services.video_rag.repository import VideoRepository

        async with transaction() as db:
            await VideoRepository().delete_orphans(db, set(session_keys))
        return result


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench retrieve")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--other-videos", type=int, default=2000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(3)
    questions = [" ".join(rng.choice(QUESTION_WORDS, size=3)) for _ in range(args.queries)]
    sizes = {"bench_alone": 0, "bench_medium": args.other_videos // 4, "bench_large": args.other_videos}
    phases: dict[int, dict[str, Any]] = {}
    with fake_openai_process(latency_seconds=0) as base_url:
        configure(OPENAI_BASE_URL=base_url, OPENAI_KEY="bench")
        for database, others in sizes.items():
            url = asyncio.run(database_url_for(database))
            phases[others] = asyncio.run(phase(url, others, questions, seed=11 + others))
    alone, large = phases[0], phases[args.other_videos]
    result = {
        "by_other_videos": phases,
        "other_videos": args.other_videos,
        "ratio_p50_large_to_alone": large["p50_ms"] / alone["p50_ms"],
        "speedup_p50_vs_naive": large["naive"]["p50_ms"] / large["p50_ms"],
    }
    rows = []
    for others, measured in phases.items():
        rows.append(
            (f"+{others} other videos: p50 / p95, ours (ms)", f"{measured['p50_ms']:.2f} / {measured['p95_ms']:.2f}")
        )
        rows.append((f"+{others} other videos: p50 / p95, naive (ms)",
                     f"{measured['naive']['p50_ms']:.2f} / {measured['naive']['p95_ms']:.2f}"))  # fmt: skip
        for part, name in (("vector_leg_alone", "PGVectorStore's search"), ("full_text_alone", "full text alone")):
            rows.append((f"+{others} other videos: p50 / p95, {name} (ms)",
                         f"{measured[part]['p50_ms']:.2f} / {measured[part]['p95_ms']:.2f}"))  # fmt: skip
        rows.append((f"+{others} other videos: recall of the vector leg", f"{measured['recall_at_fetch_k']:.3f}"))
    rows += [
        ("p50 at the largest / alone, ours (target <= 1.5)", f"{result['ratio_p50_large_to_alone']:.2f}"),
        ("p50 speedup vs naive at the largest (target >= 3)", f"{result['speedup_p50_vs_naive']:.1f}x"),
        ("chat request, our code: p50 / p95 (ms)",
         f"{large['chat_request_our_code']['p50_ms']:.2f} / {large['chat_request_our_code']['p95_ms']:.2f}"),
    ]  # fmt: skip
    print_table("retrieve: one session (20 one-hour videos) as the chunk table grows, 1536 dimensions", rows)
    save_line_chart(
        "retrieve",
        "Retrieval p50 (ms) vs other videos in the table",
        {
            "ours": {others: m["p50_ms"] for others, m in phases.items()},
            "naive": {others: m["naive"]["p50_ms"] for others, m in phases.items()},
        },
    )
    print(f"\nwritten: {write_result('retrieve', result)}")
