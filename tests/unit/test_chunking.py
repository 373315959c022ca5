"""Captions into timestamped passages."""

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.video_rag.chunking import MAX_WINDOW_CHARS, Chunk, Snippet, chunk_snippets, clean_caption, embedding_texts


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
