"""Transcripts into timestamped windows (the passages retrieval ranks): consecutive caption snippets
merged up to a target length, never split inside a caption but one longer than MAX_WINDOW_CHARS
(split at words), with an optional overlap between neighbours; and each window's sentences (embedded
one by one: a sentence's vector says what that sentence says, a window's what its stretch is about)."""

import html
import re
from dataclasses import dataclass

# Each scans the text once. A tag holds no `<`: from a `<` never closed, the scan stops at the next
# `<` rather than running to the end of the text again (`<[^>]*>` took 48 s on "<" * 320,000). A
# cue is at most a few dozen characters long.
_TAG = re.compile(r"<[^<>]*>")
_CUE = re.compile(r"\[[^\]]{0,40}\]|\([A-Za-z ]{0,30}(music|applause|laughter|inaudible)[A-Za-z ]{0,30}\)|[♪♫]+", re.I)


@dataclass(frozen=True)
class Snippet:
    """One caption: its text, start and duration in seconds."""

    text: str
    start: float
    duration: float

    @property
    def end(self) -> float:
        return self.start + max(self.duration, 0.0)


# No window is longer, whatever a caption file holds: bounds a prompt's passages and keeps every
# tsvector far below PostgreSQL's 1 MB limit.
MAX_WINDOW_CHARS = 2000


@dataclass(frozen=True)
class Chunk:
    text: str
    start_seconds: float
    end_seconds: float


def clean_caption(text: str) -> str:
    """Caption text as plain prose: entities decoded, tags, `[Music]`-style cues and line breaks gone."""
    if "&" in text:
        text = html.unescape(html.unescape(text))  # YouTube escapes some captions twice
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "[" in text or "(" in text or "♪" in text or "♫" in text:
        text = _CUE.sub(" ", text)
    return " ".join(text.split())


def chunk_snippets(
    snippets: list[Snippet], *, target_seconds: float, target_chars: int, overlap_seconds: float
) -> list[Chunk]:
    """Passages of about `target_seconds` or `target_chars`, whichever comes first. The captions of
    the last `overlap_seconds` of a passage start the next one again (never more than half of it)."""
    captions = sorted(
        (piece for s in snippets if (text := clean_caption(s.text)) for piece in _pieces(s.start, s.end, text)),
        key=lambda c: c[0],
    )
    chunks: list[Chunk] = []
    start = 0
    while start < len(captions):
        end, chars, last_end = start, 0, captions[start][1]
        while end < len(captions):
            if end > start and chars + len(captions[end][2]) + 1 > MAX_WINDOW_CHARS:
                break
            chars += len(captions[end][2]) + 1
            last_end = max(last_end, captions[end][1])
            end += 1
            if captions[end - 1][1] - captions[start][0] >= target_seconds or chars >= target_chars:
                break
        chunks.append(
            Chunk(
                text=" ".join(caption[2] for caption in captions[start:end]),
                start_seconds=round(captions[start][0], 3),
                end_seconds=round(last_end, 3),
            )
        )
        if end >= len(captions):
            break
        next_start = end
        while (
            next_start - 1 > start + (end - start) // 2
            and captions[end - 1][1] - captions[next_start - 1][0] <= overlap_seconds
        ):
            next_start -= 1
        start = next_start
    return chunks


def _pieces(start: float, end: float, text: str) -> list[tuple[float, float, str]]:
    """A caption as (start, end, text), or, when longer than MAX_WINDOW_CHARS, its pieces cut at
    words (a word longer than that is cut too), timed in proportion to their place in the text."""
    if len(text) <= MAX_WINDOW_CHARS:
        return [(start, end, text)]
    pieces, offset = [], 0
    while offset < len(text):
        cut = min(offset + MAX_WINDOW_CHARS, len(text))
        if cut < len(text) and (space := text.rfind(" ", offset + 1, cut + 1)) > offset:
            cut = space
        pieces.append((offset, cut))
        offset = cut + 1 if cut < len(text) and text[cut] == " " else cut
    duration = max(end - start, 0.0)
    return [(start + duration * a / len(text), start + duration * b / len(text), text[a:b]) for a, b in pieces if b > a]


def embedding_texts(chunks: list[Chunk], following: int) -> list[str]:
    """What each window is embedded as: its text and that of the `following` windows after it, so that
    a window's vector says what is said from its start on for a while (a few seconds of captions say
    too little), while its start stays a precise moment to open the video at."""
    return [" ".join(chunk.text for chunk in chunks[i : i + 1 + following]) for i in range(len(chunks))]


# After a sentence's end: what a window's text is split at into sentences.
_SENTENCE_END = re.compile(r"(?<=[.!?…。？！])\s+")
# A piece of fewer words joins the sentence before it in its window ("Right." says nothing alone).
MIN_SENTENCE_WORDS = 4
# A window is split into at most this many sentences (the rest join the last): bounds the vectors
# stored per window, whatever its punctuation.
MAX_SENTENCES_PER_WINDOW = 8


def window_sentences(chunks: list[Chunk]) -> list[tuple[int, str]]:
    """The sentences of each window, as (window index, text), in order. A window whose captions have
    no punctuation (YouTube's automatic ones) is one sentence; a sentence running on into the next
    window is cut there."""
    found: list[tuple[int, str]] = []
    for index, chunk in enumerate(chunks):
        pieces: list[str] = []
        for piece in _SENTENCE_END.split(chunk.text):
            if pieces and (len(piece.split()) < MIN_SENTENCE_WORDS or len(pieces) == MAX_SENTENCES_PER_WINDOW):
                pieces[-1] += " " + piece
            elif piece:
                pieces.append(piece)
        found += [(index, piece) for piece in pieces]
    return found
