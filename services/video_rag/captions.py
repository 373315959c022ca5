"""Caption files a client uploads (WebVTT, SRT, plain text) into the snippets transcripts are made of."""

import re

from services.common.errors import InvalidRequestError
from services.video_rag.chunking import Snippet

_TIMING = re.compile(
    r"^\s*(?P<start>(?:\d{1,3}:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*"
    r"(?P<end>(?:\d{1,3}:)?\d{1,2}:\d{2}[.,]\d{1,3})(?:\s+.*)?$"
)
_WORDS_PER_SECOND = 2.5  # an average speaking rate, to place plain text on a timeline
_MAX_CUES = 200_000


class CaptionFormatError(InvalidRequestError):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(
            message if line is None else f"{message} (line {line})",
            details=None if line is None else [{"field": "content", "message": message, "line": line}],
        )


def _seconds(timestamp: str) -> float:
    parts = timestamp.replace(",", ".").split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2])
    hours = int(parts[-3]) if len(parts) == 3 else 0
    if minutes >= 60 or seconds >= 60:
        raise ValueError(timestamp)
    return hours * 3600 + minutes * 60 + seconds


def _cues(lines: list[str], first: int, *, numbered: bool) -> list[Snippet]:
    """Blocks of `[id]\\ntiming\\ntext...` separated by blank lines, from line index `first`."""
    snippets: list[Snippet] = []
    i = first
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        block_start = i
        block: list[str] = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i])
            i += 1
        head = block[0].strip()
        if not numbered and head.split(" ", 1)[0] in ("NOTE", "STYLE", "REGION"):
            continue
        timing_index = next((k for k, line in enumerate(block[:2]) if "-->" in line), None)
        if timing_index is None:
            raise CaptionFormatError("Expected a cue timing line `00:00:01.000 --> 00:00:04.000`", block_start + 1)
        if numbered and timing_index == 1 and not head.isdigit():
            raise CaptionFormatError("Expected a cue number", block_start + 1)
        match = _TIMING.match(block[timing_index])
        if match is None:
            raise CaptionFormatError("Malformed cue timing", block_start + timing_index + 1)
        try:
            start, end = _seconds(match["start"]), _seconds(match["end"])
        except ValueError:
            raise CaptionFormatError("Malformed timestamp", block_start + timing_index + 1) from None
        if end < start:
            raise CaptionFormatError("A cue ends before it starts", block_start + timing_index + 1)
        text = " ".join(line.strip() for line in block[timing_index + 1 :])
        if text:
            snippets.append(Snippet(text, start, end - start))
        if len(snippets) > _MAX_CUES:
            raise CaptionFormatError("Too many cues")
    return snippets


def parse_vtt(content: str) -> list[Snippet]:
    lines = content.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].startswith("WEBVTT"):
        raise CaptionFormatError("A WebVTT file starts with `WEBVTT`", 1)
    return _cues(lines, 1, numbered=False)


def parse_srt(content: str) -> list[Snippet]:
    return _cues(content.lstrip("\ufeff").splitlines(), 0, numbered=True)


def parse_text(content: str) -> list[Snippet]:
    """Plain text: one snippet per non-empty line, timed at an average speaking rate."""
    snippets: list[Snippet] = []
    clock = 0.0
    for line in content.splitlines():
        words = len(line.split())
        if words:
            duration = words / _WORDS_PER_SECOND
            snippets.append(Snippet(line.strip(), clock, duration))
            clock += duration
    return snippets


def parse_captions(format_: str, content: str) -> list[Snippet]:
    parser = {"vtt": parse_vtt, "srt": parse_srt, "text": parse_text}[format_]
    snippets = parser(content)
    if not snippets:
        raise CaptionFormatError("The file holds no caption text")
    return snippets
