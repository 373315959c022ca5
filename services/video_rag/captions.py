"""Caption files a client uploads (WebVTT, SRT, plain text) into the snippets transcripts are made of.

Files are read as real ones are written: a byte order mark, CRLF or lone CR line endings, WebVTT
header metadata, NOTE/STYLE/REGION blocks, cue settings, SRT cue numbers missing or wrong, text
after a blank line inside a cue (it continues the cue), cues out of order (sorted by start) or
overlapping (kept as they are). A cue that ends before it starts (published files have such stray
cues, often the last) is taken as shown until the next cue starts, at most `_GUESSED_SECONDS`;
the last one, or one whose successor starts with it, ends as it starts. The same caption repeated
over touching or overlapping times (YouTube's 10 ms repeats) becomes one. Refused, with the line,
is only what cannot be read: a file whose first block has no cue timing, a malformed timing line
or timestamp. Every parser is linear in its input: lines are read once, timing lines by an
anchored expression without nested repetition."""

import re
from dataclasses import dataclass, field

from services.common.errors import InvalidRequestError
from services.video_rag.chunking import Snippet, clean_caption

_TIMING = re.compile(
    r"^\s*(?P<start>(?:\d{1,3}:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*"
    r"(?P<end>(?:\d{1,3}:)?\d{1,2}:\d{2}[.,]\d{1,3})(?:\s+.*)?$"
)
_VTT_BLOCKS = ("NOTE", "STYLE", "REGION")
_WORDS_PER_SECOND = 2.5  # an average speaking rate, to place plain text on a timeline
_GUESSED_SECONDS = 7.0  # the longest a subtitle usually stays on screen
_MAX_CUES = 200_000


class CaptionFormatError(InvalidRequestError):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(
            message if line is None else f"{message} (line {line})",
            details=None if line is None else [{"field": "content", "message": message, "line": line}],
        )


@dataclass
class _Cue:
    start: float
    end: float
    lines: list[str] = field(default_factory=list)


def _lines(content: str) -> list[str]:
    """The lines of a file, split at CRLF, LF or a lone CR only (as WebVTT does), BOM removed."""
    return content.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _seconds(timestamp: str) -> float:
    parts = timestamp.replace(",", ".").split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2])
    hours = int(parts[-3]) if len(parts) == 3 else 0
    if minutes >= 60 or seconds >= 60:
        raise ValueError(timestamp)
    return hours * 3600 + minutes * 60 + seconds


def _timing(line: str, number: int) -> _Cue:
    """A new cue from its timing line (cue settings after it are ignored); `number` counts from 1."""
    match = _TIMING.match(line)
    if match is None:
        raise CaptionFormatError("Malformed cue timing", number)
    try:
        return _Cue(_seconds(match["start"]), _seconds(match["end"]))
    except ValueError:
        raise CaptionFormatError("Malformed timestamp", number) from None


def _blocks(lines: list[str], first: int) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines from line index `first`, each with the index of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    block_start = None
    for index in range(first, len(lines) + 1):
        blank = index == len(lines) or not lines[index].strip()
        if blank and block_start is not None:
            blocks.append((block_start, lines[block_start:index]))
            block_start = None
        elif not blank and block_start is None:
            block_start = index
    return blocks


def _cues(lines: list[str], first: int, *, vtt: bool) -> list[_Cue]:
    """Blocks of `[identifier]\\ntiming\\ntext...` from line index `first`. A block without a timing
    continues the text of the cue before it (a blank line inside a cue); before any cue it is refused."""
    cues: list[_Cue] = []
    for block_start, block in _blocks(lines, first):
        if vtt and block[0].split(maxsplit=1)[0] in _VTT_BLOCKS:
            continue
        timing = next((k for k, line in enumerate(block[:2]) if "-->" in line), None)
        if timing is None and not cues:
            raise CaptionFormatError("Expected a cue timing line `00:00:01.000 --> 00:00:04.000`", block_start + 1)
        if timing is None:
            cues[-1].lines.extend(block)
            continue
        cues.append(_timing(block[timing], block_start + timing + 1))
        cues[-1].lines.extend(block[timing + 1 :])
        if len(cues) > _MAX_CUES:
            raise CaptionFormatError("Too many cues")
    return cues


def _timeline(cues: list[_Cue]) -> list[Snippet]:
    """The cues with text in order of start, each ending at or after its start, repeats merged."""
    ordered = sorted((cue for cue in cues if any(line.strip() for line in cue.lines)), key=lambda cue: cue.start)
    snippets: list[Snippet] = []
    for index, cue in enumerate(ordered):
        end = cue.end
        if end < cue.start:
            next_start = ordered[index + 1].start if index + 1 < len(ordered) else cue.start
            end = max(cue.start, min(next_start, cue.start + _GUESSED_SECONDS))
        text = " ".join(line.strip() for line in cue.lines if line.strip())
        last = snippets[-1] if snippets else None
        if last is not None and cue.start <= last.end and clean_caption(text) == clean_caption(last.text):
            snippets[-1] = Snippet(last.text, last.start, max(last.end, end) - last.start)
        else:
            snippets.append(Snippet(text, cue.start, end - cue.start))
    return snippets


def _vtt_body(lines: list[str]) -> int:
    """The index of the line after the WebVTT header (`WEBVTT` and its metadata lines)."""
    for index, line in enumerate(lines):
        if not line.strip() or "-->" in line:
            return index
    return len(lines)


def parse_vtt(content: str) -> list[Snippet]:
    lines = _lines(content)
    if not lines[0].startswith("WEBVTT"):
        raise CaptionFormatError("A WebVTT file starts with `WEBVTT`", 1)
    return _timeline(_cues(lines, _vtt_body(lines), vtt=True))


def parse_srt(content: str) -> list[Snippet]:
    return _timeline(_cues(_lines(content), 0, vtt=False))


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
