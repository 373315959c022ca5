"""The legs of retrieval against the real database: BM25 over each window's span of the following
windows, each window's sentence nearest the question, and the spread of each leg's scores over the
session that score fusion needs."""

import json
import secrets
import uuid

import httpx
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.database import transaction
from services.common.settings import get_settings
from services.video_rag.embeddings import get_embeddings
from services.video_rag.retrieval import full_text
from services.video_rag.vector_store import (
    SPREAD_SAMPLE,
    keyword_search,
    vector_rankings,
    vector_search,
    windows_within,
)
from tests.fakes.openai_server import fake_embedding
from tests.functional.test_chat_api import upload

pytestmark = pytest.mark.asyncio


def clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d},000"


async def video_key(video_id: str) -> uuid.UUID:
    async with transaction() as db:
        found = await db.execute(text("SELECT id FROM video WHERE video_id = :v"), {"v": video_id})
        key: uuid.UUID = found.scalar_one()
    return key


async def test_full_text_finds_a_window_by_the_words_said_in_the_windows_after_it(
    client: httpx.AsyncClient, session_id: str
) -> None:
    first, later = "quokka" + secrets.token_hex(3), "wombat" + secrets.token_hex(3)
    texts = [f"the {first} is named here", "a word on the weather", f"then the {later} comes", "more", "the end"]
    key = await video_key((await upload(client, session_id, "Animals", *texts))["video_id"])

    question = f"{first} and {later}"
    async with transaction() as db:
        spans = await keyword_search(db, question, [key], fts_config="english", k=20, following=2, seconds=200)
        alone = await keyword_search(db, question, [key], fts_config="english", k=20, following=0, seconds=200)
        shown = await keyword_search(db, question, [key], fts_config="english", k=20, following=2, seconds=100)

    # Window 0 and the two after it say both words; windows 1 and 2 (and their spans) only the later one.
    assert spans.windows[0][0].start_seconds == 0
    assert sorted(w.start_seconds for w, _ in spans.windows[1:]) == [65, 130]
    assert spans.windows[0][1] > 1.5 * spans.windows[1][1]
    assert sorted(w.start_seconds for w, _ in alone.windows) == [0, 130]  # each window by its own words
    # A span's words count as far as the moment's text goes (100 s from its start): window 0 holds `first` only.
    assert {w.start_seconds: score for w, score in shown.windows}[0] < spans.windows[0][1]
    # Every match listed: the mean and spread are over the 5 windows, those matching nothing at 0.
    scores = [score for _, score in spans.windows] + [0.0, 0.0]
    assert spans.mean == pytest.approx(np.mean(scores)) and spans.std == pytest.approx(np.std(scores))
    assert spans.floor == 0.0


async def test_full_text_scores_the_vector_search_s_windows_too_whatever_their_rank(
    client: httpx.AsyncClient, session_id: str
) -> None:
    """Past the k best, a window the vector search found keeps its own score (not the k-th's), and one
    matching none of the words scores 0; the spread stays that of every match."""
    word = "quokka" + secrets.token_hex(3)
    texts = [f"{word} {word} {word}", f"{word} {word}", f"{word} and others", "nothing here", "nor here"]
    key = await video_key((await upload(client, session_id, "Ranks", *texts))["video_id"])
    async with transaction() as db:
        (every,) = await windows_within(db, [(key, 0, 1000)])
        alone = await keyword_search(db, word, [key], fts_config="english", k=1, following=0, seconds=60)
        both = await keyword_search(
            db, word, [key], fts_config="english", k=1, following=0, seconds=60, also=[every[2], every[3]]
        )

    scores = {w.start_seconds: score for w, score in both.windows}
    assert [w.start_seconds for w, _ in alone.windows] == [0]
    assert [w.start_seconds for w, _ in both.windows] == [0, 130, 195]  # the best, then the two asked for
    assert 0 < scores[130] < alone.floor == scores[0] and scores[195] == 0.0
    assert (both.mean, both.std, both.floor) == (alone.mean, alone.std, alone.floor)


async def test_with_a_follow_up_each_question_s_full_text_scores_the_windows_the_other_found(
    client: httpx.AsyncClient, session_id: str
) -> None:
    """A window only the previous question's words match scores 0 for the follow-up's (not the k-th's)."""
    old, new = "quokka" + secrets.token_hex(3), "wombat" + secrets.token_hex(3)
    texts = [f"{new} {new} {new}", f"{new} {new}", f"{new} here", f"the {old} again", "nothing"]
    key = await video_key((await upload(client, session_id, "Follow-up", *texts))["video_id"])
    async with transaction() as db:
        follow_up, previous = await full_text(
            db, [new, old], [key], [], fts_config="english", k=2, following=0, seconds=60
        )
        (alone,) = await full_text(db, [new], [key], [], fts_config="english", k=2, following=0, seconds=60)

    scores = {w.start_seconds: score for w, score in follow_up.windows}
    assert [w.start_seconds for w, _ in alone.windows] == [0, 65]
    assert scores[195] == 0.0 and follow_up.floor == alone.floor > 0  # the window of `old`, at 0
    assert {w.start_seconds: score for w, score in previous.windows} == {
        195: pytest.approx(previous.windows[0][1]),
        0: 0.0,
        65: 0.0,
    }


async def test_a_window_stored_without_a_vector_is_left_to_the_other_legs(
    client: httpx.AsyncClient, session_id: str
) -> None:
    """A video stored while no embedding provider was configured has no vectors: the vector search
    skips its windows, and the window leg scores them at its mean."""
    embedded = await video_key((await upload(client, session_id, "New", "Cats purr.", "Dogs bark."))["video_id"])
    bare = await video_key((await upload(client, session_id, "Old", "Cows moo.", "Hens cluck."))["video_id"])
    query = [float(x) for x in fake_embedding("cats purr", 1536)]
    async with transaction() as db:
        await db.execute(text("UPDATE video_chunk SET embedding = NULL WHERE video_key = :k"), {"k": bare})
        await db.execute(text("DELETE FROM video_sentence WHERE video_key = :k"), {"k": bare})
    found = await vector_search(get_embeddings(get_settings()), query, [embedded, bare], 20)  # type: ignore[arg-type]
    async with transaction() as db:
        (old_windows,) = await windows_within(db, [(bare, 0, 1000)])
        windows, _ = await vector_rankings(db, query, [embedded, bare], [*(w for w, _ in found), *old_windows])

    assert {window.video_key for window, _ in found} == {embedded} and len(found) == 2
    scores: dict[uuid.UUID, list[float]] = {window.video_key: [] for window, _ in windows.windows}
    for window, score in windows.windows:
        scores[window.video_key].append(score)
    assert scores[bare] == pytest.approx([windows.mean] * 2) and windows.std > 0
    assert sorted(scores[embedded], reverse=True) == pytest.approx([score for _, score in found], abs=1e-6)


async def test_the_vector_leg_reports_how_similar_the_session_s_windows_are_on_average(
    client: httpx.AsyncClient, session_id: str
) -> None:
    texts = ["apples grow on trees", "the sea is salty", "rockets fly to the moon", "bread rises in the oven"]
    key = await video_key((await upload(client, session_id, "Things", *texts))["video_id"])
    vectors = await stored_vectors(key)
    stored = [vectors[seq] for seq in sorted(vectors)]
    async with transaction() as db:
        query = [float(x) for x in stored[1] + 0.5 * stored[2]]
        ranking, _ = await vector_rankings(db, query, [key], [])

    q = np.array(query)
    similarities = [q @ v / np.linalg.norm(q) / np.linalg.norm(v) for v in stored]  # minus the cosine distance
    assert len(stored) == 4
    assert ranking.mean == pytest.approx(np.mean(similarities) - 1, abs=1e-6)
    assert ranking.std == pytest.approx(np.std(similarities), abs=1e-6)


async def test_the_vector_leg_measures_its_spread_on_an_even_sample_of_a_large_session(
    client: httpx.AsyncClient, session_id: str
) -> None:
    """Past SPREAD_SAMPLE windows, the spread comes from every n-th window of each video: close to that
    of all the windows (what score fusion needs), without reading every vector."""
    rng = np.random.default_rng(5)
    words = ["apple", "river", "stone", "cloud", "piano", "tiger", "bread", "chair", "ocean", "lamp", "grass"]
    texts = [" ".join(rng.choice(words, size=4)) for _ in range(2 * SPREAD_SAMPLE + 40)]
    cues = [f"{i + 1}\n{clock(10 * i)} --> {clock(10 * i + 10)}\n{line}" for i, line in enumerate(texts)]
    response = await client.post(
        "/api/transcripts",
        json={"title": "Many", "format": "srt", "content": "\n\n".join(cues) + "\n"},
        headers={"X-Session-Id": session_id},
    )
    assert response.status_code == 201, response.text
    key = await video_key(response.json()["video"]["video_id"])
    vectors = await stored_vectors(key)
    stored = [vectors[seq] for seq in sorted(vectors)]
    async with transaction() as db:
        query = [float(x) for x in stored[0] + stored[7]]
        ranking, _ = await vector_rankings(db, query, [key], [])

    q = np.array(query)
    similarities = [q @ v / np.linalg.norm(q) / np.linalg.norm(v) for v in stored]
    assert len(stored) == len(texts)
    assert ranking.mean == pytest.approx(np.mean(similarities) - 1, abs=0.02)
    assert ranking.std == pytest.approx(np.std(similarities), rel=0.15)
    assert ranking.std != pytest.approx(np.std(similarities), rel=1e-6)  # a sample, not every window


async def test_the_sentence_leg_scores_each_window_found_by_its_sentence_nearest_the_question(
    client: httpx.AsyncClient, session_id: str
) -> None:
    """A window whose one sentence answers outranks a window about the question's topic throughout
    (its window vector is the nearer of the two): each window the other legs found scores as its best
    sentence."""
    texts = [
        "The harbour opens at dawn. Fishing boats leave the harbour early. The harbour smells of fish and tar.",
        "Gulls circle over the old grey stone tower by the cliffs. A lighthouse keeper lived here alone for forty"
        " years. Its spiral stairs are steep and narrow and cold.",
        "Nets dry on the harbour wall. Boats come back to the harbour at noon. The harbour market opens then.",
        "Rain falls on the hills above the town. Sheep graze in the wet green fields. Farmers walk the muddy lanes.",
        "Snow covers the moor in winter. The road to the pass is closed. Nobody crosses until spring comes.",
    ]
    key = await video_key((await upload(client, session_id, "Harbour", *texts))["video_id"])
    question = "who lived alone in the harbour for years"
    async with transaction() as db:
        rows = (
            await db.execute(
                text(
                    "SELECT chunk_seq, embedding::text FROM video_sentence WHERE video_key = :k ORDER BY chunk_seq, seq"
                ),
                {"k": key},
            )
        ).all()
        query = [float(x) for x in fake_embedding(question, 1536)]
        (every,) = await windows_within(db, [(key, 0, 1000)])
        by_window, ranking = await vector_rankings(db, query, [key], every[:3])  # the first three windows found
        windows = await vector_search_by_sql(db, query, key)

    q = np.array(query)
    best: dict[int, float] = {}
    for seq, vector in rows:
        v = np.array(json.loads(vector))
        best[seq] = max(best.get(seq, -2.0), float(q @ v / np.linalg.norm(q) / np.linalg.norm(v)))
    assert len(rows) == 15 and sorted(best) == [0, 1, 2, 3, 4]  # three sentences a window
    assert windows[0] != 1  # by its window vector, the lighthouse window is not the nearest ...
    assert [window.start_seconds for window, _ in ranking.windows] == [65, 0, 130]  # ... by its best sentence, it is
    assert [score for _, score in ranking.windows] == pytest.approx([best[1] - 1, best[0] - 1, best[2] - 1], abs=1e-6)
    # The spread is that of every window's best sentence (a small session: none left out of the sample).
    assert ranking.mean == pytest.approx(np.mean(list(best.values())) - 1, abs=1e-6)
    assert ranking.std == pytest.approx(np.std(list(best.values())), abs=1e-6)
    assert ranking.floor == ranking.windows[-1][1]
    # The window leg scores the same windows by their own vectors, exactly (none at another's score).
    window_vectors = await stored_vectors(key)
    own = {seq: float(q @ v / np.linalg.norm(q) / np.linalg.norm(v)) - 1 for seq, v in window_vectors.items()}
    assert [int(window.id.split(":")[1]) for window, _ in by_window.windows] == sorted(
        [0, 1, 2], key=lambda seq: -own[seq]
    )
    assert [score for _, score in by_window.windows] == pytest.approx(sorted([own[0], own[1], own[2]])[::-1], abs=1e-6)


async def stored_vectors(key: uuid.UUID) -> dict[int, "np.ndarray"]:
    """The video's window vectors by their place in the video."""
    async with transaction() as db:
        rows = await db.execute(text("SELECT id, embedding::text FROM video_chunk WHERE video_key = :k"), {"k": key})
        return {int(i.split(":")[1]): np.array(json.loads(vector)) for i, vector in rows}


async def vector_search_by_sql(db: AsyncSession, query: list[float], key: uuid.UUID) -> list[int]:
    """The video's windows by their own vectors, nearest first (their place in the video)."""
    rows = await db.execute(
        text("SELECT id FROM video_chunk WHERE video_key = :k ORDER BY embedding <=> CAST(:q AS vector)"),
        {"k": key, "q": str(query)},
    )
    return [int(row[0].split(":")[1]) for row in rows]


async def test_a_window_without_sentence_vectors_counts_as_average_in_the_sentence_leg(
    client: httpx.AsyncClient, session_id: str
) -> None:
    """Beside videos with sentence vectors, those stored before there were any are neither pushed down
    (as the leg's worst) nor up: their windows score the leg's mean, which is over the others alone."""
    newer = await video_key(
        (await upload(client, session_id, "New", "Cats purr. Dogs bark.", "Owls hoot."))["video_id"]
    )
    older = await video_key(
        (await upload(client, session_id, "Old", "Cows moo. Hens cluck.", "Ducks quack."))["video_id"]
    )
    async with transaction() as db:
        await db.execute(text("DELETE FROM video_sentence WHERE video_key = :k"), {"k": older})
        (new_windows, old_windows) = await windows_within(db, [(newer, 0, 1000), (older, 0, 1000)])
        query = [float(x) for x in fake_embedding("cats purr", 1536)]
        _, ranking = await vector_rankings(db, query, [newer, older], [*old_windows, *new_windows])
        rows = await db.execute(
            text(
                "SELECT min(embedding <=> CAST(:q AS vector)) FROM video_sentence"
                " WHERE video_key = :k GROUP BY chunk_seq"
            ),
            {"q": str(query), "k": newer},
        )
        best = [1 - float(distance) for (distance,) in rows]

    scores: dict[uuid.UUID, list[float]] = {window.video_key: [] for window, _ in ranking.windows}
    for window, score in ranking.windows:
        scores[window.video_key].append(score)
    assert ranking.mean == pytest.approx(np.mean(best) - 1, abs=1e-6)  # the newer video's two windows only
    assert ranking.std == pytest.approx(np.std(best), abs=1e-6) and ranking.std > 0
    assert scores[older] == pytest.approx([ranking.mean] * 2)
    assert sorted(scores[newer]) == pytest.approx(sorted(b - 1 for b in best))
    assert ranking.windows[0][0].video_key == newer  # the sentence that says it, first
