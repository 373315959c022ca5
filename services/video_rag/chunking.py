"""Transcripts into timestamped passages: consecutive caption snippets merged up to a target length,
never split inside a caption, with a small overlap between neighbours."""

import html
import re
from dataclasses import dataclass

_TAG = re.compile(r"<[^>]*>")
_CUE = re.compile(r"\[[^\]]{0,40}\]|\([A-Za-z ]{0,30}(music|applause|laughter|inaudible)[A-Za-z ]{0,30}\)|[♪♫]+", re.I)
_SPACE = re.compile(r"\s+")


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
    text = html.unescape(html.unescape(text))
    text = _TAG.sub(" ", text)
    text = _CUE.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def chunk_snippets(
    snippets: list[Snippet], *, target_seconds: float, target_chars: int, overlap_seconds: float
) -> list[Chunk]:
    """Passages of about `target_seconds` or `target_chars`, whichever comes first. The captions of
    the last `overlap_seconds` of a passage start the next one again (never more than half of it)."""
    captions = [Snippet(text, s.start, s.duration) for s in snippets if (text := clean_caption(s.text))]
    captions.sort(key=lambda s: s.start)
    chunks: list[Chunk] = []
    start = 0
    while start < len(captions):
        end, chars = start, 0
        while end < len(captions):
            chars += len(captions[end].text) + 1
            end += 1
            if captions[end - 1].end - captions[start].start >= target_seconds or chars >= target_chars:
                break
        passage = captions[start:end]
        chunks.append(
            Chunk(
                text=" ".join(s.text for s in passage),
                start_seconds=round(passage[0].start, 3),
                end_seconds=round(max(s.end for s in passage), 3),
            )
        )
        if end >= len(captions):
            break
        next_start = end
        while (
            next_start - 1 > start + (end - start) // 2
            and captions[end - 1].end - captions[next_start - 1].start <= overlap_seconds
        ):
            next_start -= 1
        start = next_start
    return chunks
