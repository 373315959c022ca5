"""Captions into timestamped passages."""

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.video_rag.captions import parse_captions
from services.video_rag.chunking import (
    MAX_SENTENCES_PER_WINDOW,
    MAX_WINDOW_CHARS,
    MIN_SENTENCE_WORDS,
    Chunk,
    Snippet,
    chunk_snippets,
    clean_caption,
    embedding_texts,
    window_sentences,
)
from tests.real_data import CAPTIONS, without_real_captions


def test_caption_text_is_cleaned() -> None:
    assert clean_caption("Tom &amp;amp; Jerry&#39;s <i>show</i>\n[Music] ♪♪ (applause) go") == "Tom & Jerry's show go"
    assert clean_caption("[Music]") == ""


def test_a_stray_angle_bracket_before_a_tag_is_text() -> None:
    assert clean_caption("if x < 3 then <i>y</i> grows") == "if x < 3 then y grows"


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        pytest.param("<" * 200_000, "<" * 200_000, id="< never closed"),
        pytest.param("<a" * 100_000, "<a" * 100_000, id="<a never closed"),
        pytest.param("<i>" + "<" * 200_000 + "x</i>", "<" * 200_000 + "x", id="< inside a tag"),
        pytest.param("[" * 200_000, "[" * 200_000, id="[ never closed"),
        pytest.param("(" * 200_000, "(" * 200_000, id="( never closed"),
        pytest.param("(music " * 30_000, " ".join(["(music"] * 30_000), id="(music never closed"),
        pytest.param("&#" * 100_000 + "&amp;" * 1000, "&#" * 100_000 + "&" * 1000, id="& and &# never ended"),
        pytest.param("<i>[Music]</i> hi " * 20_000, " ".join(["hi"] * 20_000), id="many tags and cues"),
    ],
)
def test_hostile_captions_are_cleaned_right(text: str, cleaned: str) -> None:
    assert clean_caption(text) == cleaned


def test_passages_follow_the_target_length_and_overlap() -> None:
    snippets = [Snippet(f"line {i}", i * 3.0, 3.0) for i in range(100)]  # 300 s

    chunks = chunk_snippets(snippets, target_seconds=60, target_chars=10_000, overlap_seconds=5)

    assert chunks[0].start_seconds == 0 and chunks[0].end_seconds == 60
    assert chunks[1].start_seconds == 57  # the last caption of the first passage starts the next
    assert chunks[-1].end_seconds == 300
    assert all(c.end_seconds - c.start_seconds <= 63 for c in chunks)


def test_long_text_cuts_passages_by_characters() -> None:
    snippets = [Snippet("x" * 400, i, 1.0) for i in range(10)]

    chunks = chunk_snippets(snippets, target_seconds=3600, target_chars=1000, overlap_seconds=0)

    assert [len(c.text) for c in chunks] == [1202, 1202, 1202, 400]  # three captions reach 1,000 characters


def test_empty_and_cue_only_captions_are_dropped() -> None:
    assert chunk_snippets([Snippet("[Music]", 0, 2)], target_seconds=60, target_chars=1000, overlap_seconds=5) == []


snippet_lists = st.lists(
    st.builds(
        Snippet,
        text=st.text(alphabet="abc xyz", min_size=1, max_size=30),
        start=st.floats(min_value=0, max_value=10_000, allow_nan=False),
        duration=st.floats(min_value=0, max_value=30, allow_nan=False),
    ),
    max_size=80,
)


@given(snippet_lists, st.floats(min_value=1, max_value=300), st.integers(100, 2000), st.floats(0, 30))
def test_every_caption_lands_whole_in_a_passage_in_time_order(
    snippets: list[Snippet], seconds: float, chars: int, overlap: float
) -> None:
    chunks = chunk_snippets(snippets, target_seconds=seconds, target_chars=chars, overlap_seconds=overlap)

    captions = [clean_caption(s.text) for s in snippets if clean_caption(s.text)]
    assert bool(chunks) == bool(captions)
    joined = " ".join(c.text for c in chunks)
    assert all(caption in joined for caption in captions)  # never split inside a caption
    assert all(c.start_seconds <= c.end_seconds for c in chunks)
    assert [c.start_seconds for c in chunks] == sorted(c.start_seconds for c in chunks)
    assert len(chunks) <= len(captions)


def test_a_caption_longer_than_the_window_cap_is_split_at_words_with_its_time_shared() -> None:
    words = " ".join(f"word{i}" for i in range(20_000))  # ~150,000 characters in one caption
    chunks = chunk_snippets([Snippet(words, 100.0, 600.0)], target_seconds=20, target_chars=500, overlap_seconds=0)

    assert len(chunks) > 70 and all(len(c.text) <= MAX_WINDOW_CHARS for c in chunks)
    assert " ".join(c.text for c in chunks) == words  # cut between words, nothing lost
    assert chunks[0].start_seconds == 100.0 and chunks[-1].end_seconds == 700.0
    assert all(a.end_seconds <= b.start_seconds + 1e-6 for a, b in pairwise(chunks))


def test_a_word_longer_than_the_window_cap_is_cut() -> None:
    chunks = chunk_snippets([Snippet("x" * 5000, 0, 10)], target_seconds=20, target_chars=500, overlap_seconds=0)

    assert [len(c.text) for c in chunks] == [2000, 2000, 1000]


def test_a_window_is_embedded_with_the_text_of_the_windows_after_it() -> None:
    chunks = [Chunk("one", 0, 10), Chunk("two", 10, 20), Chunk("three", 20, 30)]

    assert embedding_texts(chunks, 1) == ["one two", "two three", "three"]
    assert embedding_texts(chunks, 0) == ["one", "two", "three"]


def test_a_window_is_split_into_its_sentences() -> None:
    chunks = [
        Chunk("So. This is the first idea here. And a second one follows it? Yes, it does.", 0, 10),
        Chunk("no punctuation at all in automatic captions", 10, 20),
        Chunk(" ".join(f"Sentence number {n} is here." for n in range(12)), 20, 30),
    ]
    found = window_sentences(chunks)

    assert found[:3] == [
        (0, "So."),
        (0, "This is the first idea here."),
        (0, "And a second one follows it? Yes, it does."),
    ]
    assert found[3] == (1, "no punctuation at all in automatic captions")
    last = [sentence for window, sentence in found if window == 2]
    assert len(last) == MAX_SENTENCES_PER_WINDOW and " ".join(last) == chunks[2].text  # the rest join the last


@without_real_captions
def test_real_captions_windows_hold_a_few_whole_sentences_each() -> None:
    """Published captions are mostly punctuated (one of the dev set's barely is): their windows of about
    10 seconds split into a sentence or two each, every word kept, hardly any a stray fragment."""
    windows = sentences = 0
    for path in sorted(CAPTIONS.glob("*.srt")):
        chunks = chunk_snippets(
            parse_captions("srt", path.read_text(encoding="utf-8")),
            target_seconds=10,
            target_chars=300,
            overlap_seconds=0,
        )
        found = window_sentences(chunks)
        windows, sentences = windows + len(chunks), sentences + len(found)
        assert len(chunks) <= len(found) < 3 * len(chunks), path.name
        assert sorted({window for window, _ in found}) == list(range(len(chunks)))
        for index, chunk in enumerate(chunks):
            assert " ".join(s for window, s in found if window == index).split() == chunk.text.split()
        assert sum(len(s.split()) < MIN_SENTENCE_WORDS for _, s in found) < 0.05 * len(found), path.name
    assert sentences > 1.5 * windows
