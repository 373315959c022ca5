"""Transcripts into timestamped passages: consecutive caption snippets merged up to a target length,
never split inside a caption, with a small overlap between neighbours."""

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
    captions = sorted(((s.start, s.end, text) for s in snippets if (text := clean_caption(s.text))), key=lambda c: c[0])
    chunks: list[Chunk] = []
    start = 0
    while start < len(captions):
        end, chars, last_end = start, 0, captions[start][1]
        while end < len(captions):
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
