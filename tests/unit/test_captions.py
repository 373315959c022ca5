"""WebVTT, SRT and plain-text uploads into snippets."""

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.video_rag.captions import CaptionFormatError, parse_captions, parse_srt, parse_text, parse_vtt
from services.video_rag.chunking import clean_caption
from tests.real_data import CAPTIONS, without_real_captions

VTT = """WEBVTT Kind: captions

NOTE a comment
spanning lines

STYLE
::cue {{ color: red }}

intro
00:01.000 --> 00:04.500 align:start position:0%
Hello <c.colorE5E5E5>world</c>

01:00:05.250 --> 01:00:07.000
Second
line
"""

SRT = """1
00:00:01,000 --> 00:00:04,000
Hi there

2
00:00:05,500 --> 00:00:06,000
<i>Bye</i>
"""


def test_vtt_cues_with_identifiers_settings_notes_and_hours() -> None:
    snippets = parse_vtt(VTT)

    assert [(s.text, s.start, s.duration) for s in snippets] == [
        ("Hello <c.colorE5E5E5>world</c>", 1.0, 3.5),
        ("Second line", 3605.25, 1.75),
    ]


def test_srt_cues() -> None:
    assert [(s.text, s.start, s.end) for s in parse_srt("\ufeff" + SRT)] == [
        ("Hi there", 1.0, 4.0),
        ("<i>Bye</i>", 5.5, 6.0),
    ]


def test_plain_text_is_timed_at_a_speaking_rate() -> None:
    snippets = parse_captions("text", "five words on this line\n\nand five more words here")

    assert [s.start for s in snippets] == [0.0, 2.0]


@pytest.mark.parametrize(
    ("format_", "content", "line"),
    [
        ("vtt", "1\n00:00:01.000 --> 00:00:02.000\nno header", 1),
        ("vtt", "WEBVTT\n\n00:00:01.000 -> 00:00:02.000\ntext", 3),
        ("vtt", "WEBVTT\n\n00:00:99.000 --> 00:01:02.000\nbad seconds", 3),
        ("srt", "1\nnot a timing\ntext", 1),
        ("srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:0x,000 --> 00:00:03,000\nbad", 6),
        ("srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n\n00:00:03,000 --> 00:00:04\nno milliseconds", 5),
        ("vtt", "WEBVTT\n\nNOTE before any cue\n\n2 --> 3\ntext", 5),
        # Only CR, LF and CRLF end a line, so the line is the one an editor shows (U+2028 is text).
        ("srt", "1\n00:00:01,000 --> 00:00:02,000\nok\u2028on line 3\x0c\n\n2\n00:00:0x,000 --> 00:00:03,000\n", 6),
        ("srt", "1\r00:00:01,000 --> 00:00:02,000\rok\r\r2\r00:00:0x,000 --> 00:00:03,000\r", 6),
    ],
)
def test_malformed_files_are_rejected_with_the_line(format_: str, content: str, line: int) -> None:
    with pytest.raises(CaptionFormatError) as error:
        parse_captions(format_, content)

    assert error.value.status == 400
    assert error.value.details[0]["line"] == line


@pytest.mark.parametrize(
    ("format_", "content", "line"),
    [
        pytest.param("srt", "1\n00:00:01,000 -->" + " " * 1_000_000 + "x\ntext", 2, id="1 MB of spaces in a timing"),
        pytest.param("vtt", "WEBVTT\n\n" + "-->" * 333_333 + "\ntext", 3, id="a line of 1 MB of arrows"),
        pytest.param(
            "vtt", "WEBVTT\n\n00:01.000 --> 00:02.000" + "-->" * 333_333 + "\ntext", 3, id="1 MB after a timing"
        ),
        pytest.param("srt", "1" * 1_000_000, 1, id="1 MB of digits"),
    ],
)
def test_hostile_files_are_refused_with_the_line(format_: str, content: str, line: int) -> None:
    with pytest.raises(CaptionFormatError) as error:
        parse_captions(format_, content)

    assert error.value.details[0]["line"] == line


def test_hostile_files_that_can_be_read_are_read_whole() -> None:
    settings = "00:00:01.000 --> " * 60_000  # a 1 MB line of arrows after a valid timing: cue settings
    assert [(s.text, s.end) for s in parse_vtt(f"WEBVTT\n\n00:01.000 --> 00:02.000 {settings}\nhello")] == [
        ("hello", 2.0)
    ]
    assert [s.text for s in parse_srt("1\n00:00:01,000 --> 00:00:02,000\n" + "<" * 200_000)] == ["<" * 200_000]
    (snippet,) = parse_vtt("WEBVTT\n\n00:01.000 --> 00:02.000\nx" + "\n\nx" * 100_000)  # blank lines in a cue
    assert snippet.text == " ".join(["x"] * 100_001)
    assert len(parse_text("a\r" * 200_000)) == 200_000


@pytest.mark.parametrize(("format_", "content"), [("vtt", "WEBVTT\n\n"), ("srt", "\n\n"), ("text", "  \n ")])
def test_a_file_without_captions_is_rejected(format_: str, content: str) -> None:
    with pytest.raises(CaptionFormatError):
        parse_captions(format_, content)


def test_a_cue_ending_before_it_starts_ends_when_the_next_starts_at_most_seconds_later() -> None:
    content = """WEBVTT

00:00:05.000 --> 00:00:02.000
ends before the next

00:00:05.500 --> 00:00:05.000
ends with the next

00:00:05.500 --> 00:00:07.000
starts with it

00:00:09.000 --> 00:00:08.000
the next is long after

00:01:00.000 --> 00:00:59.000
last
"""

    assert [(s.text, s.start, s.end) for s in parse_vtt(content)] == [
        ("ends before the next", 5.0, 5.5),
        ("ends with the next", 5.5, 5.5),
        ("starts with it", 5.5, 7.0),
        ("the next is long after", 9.0, 16.0),
        ("last", 60.0, 60.0),
    ]


def test_cues_out_of_order_are_sorted_by_start_and_overlaps_kept() -> None:
    content = """3
00:00:09,000 --> 00:00:12,000
third

1
00:00:01,000 --> 00:00:05,000
first

2
00:00:02,000 --> 00:00:04,000
second, over the first
"""

    assert [(s.text, s.start, s.end) for s in parse_srt(content)] == [
        ("first", 1.0, 5.0),
        ("second, over the first", 2.0, 4.0),
        ("third", 9.0, 12.0),
    ]


def test_the_same_caption_repeated_over_touching_or_overlapping_times_is_one() -> None:
    content = """WEBVTT

00:00:01.000 --> 00:00:03.000
<c>Same</c> words

00:00:03.000 --> 00:00:03.010
Same  words

00:00:02.500 --> 00:00:04.000
Same words

00:00:04.000 --> 00:00:06.000
Other words

00:00:07.000 --> 00:00:08.000
Other words
"""

    assert [(s.text, s.start, s.end) for s in parse_vtt(content)] == [
        ("<c>Same</c> words", 1.0, 4.0),
        ("Other words", 4.0, 6.0),
        ("Other words", 7.0, 8.0),  # said again later: kept
    ]


def test_youtube_automatic_captions_with_header_metadata_and_positional_tags() -> None:
    content = """WEBVTT
Kind: captions
Language: en

00:00:00.030 --> 00:00:02.389 align:start position:0%
\x20
hey<00:00:00.539><c> guys</c><00:00:00.900><c> welcome</c>

00:00:02.389 --> 00:00:02.399 align:start position:0%
hey guys welcome
\x20

00:00:02.399 --> 00:00:04.789 align:start position:0%
hey guys welcome
to<00:00:02.610><c> another</c><00:00:02.820><c> video</c>
"""

    snippets = parse_vtt(content)

    assert [(clean_caption(s.text), s.start, s.end) for s in snippets] == [
        ("hey guys welcome", 0.03, 2.399),  # its 10 ms repeat merged
        ("hey guys welcome to another video", 2.399, 4.789),  # the rolling line repeat is left as it is
    ]


SRT_CUES = ("00:00:01,000 --> 00:00:02,000", "Hi there", "00:00:03,000 --> 00:00:04,500", "Bye")
VTT_CUES = ("00:01.000 --> 00:02.000", "Hi there", "00:03.000 --> 00:04.500", "Bye")


@pytest.mark.parametrize(
    ("template", "newline"),
    [
        pytest.param("1\n{}\n{}\n\n2\n{}\n{}", "\n", id="no final newline"),
        pytest.param("\ufeff1\n{}\n{}\n\n2\n{}\n{}\n\n", "\r\n", id="BOM and CRLF"),
        pytest.param("1\n{}\n{}\n\n2\n{}\n{}\n", "\r", id="lone CR"),
        pytest.param("{}\n{}\n\n{}\n{}\n", "\n", id="no cue numbers"),
        pytest.param("7\n{}\n{}\n\none\n{}\n{}\n", "\n", id="wrong cue numbers"),
        pytest.param("1\n{}\n{}\n\n\ufeff2\n{}\n{}\n", "\n", id="two files joined"),
        pytest.param("1\n{}\nHi\n\nthere\n\n2\n{}\n{}\n", "\n", id="blank line in a cue"),
        pytest.param("1\n{} X1:100 X2:600\n{}\n \t\n2\n{}\n{}\n", "\n", id="settings and a space line"),
    ],
)
def test_srt_quirks_of_real_files_are_read(template: str, newline: str) -> None:
    cues = SRT_CUES if template.count("{}") == 4 else (SRT_CUES[0], *SRT_CUES[2:])
    content = template.format(*cues).replace("\n", newline)

    assert [(s.text, s.start, s.end) for s in parse_srt(content)] == [("Hi there", 1.0, 2.0), ("Bye", 3.0, 4.5)]


@pytest.mark.parametrize(
    ("template", "newline"),
    [
        pytest.param("WEBVTT\n\n{}\n{}\n\n{}\n{}", "\n", id="plain"),
        pytest.param("\ufeffWEBVTT\n\n{}\n{}\n\n{}\n{}\n", "\r\n", id="BOM and CRLF"),
        pytest.param("WEBVTT\n\n{}\n{}\n\n{}\n{}\n", "\r", id="lone CR"),
        pytest.param("WEBVTT - a title\nKind: captions\nLanguage: en\n\n{}\n{}\n\n{}\n{}", "\n", id="metadata"),
        pytest.param("WEBVTT\n{}\n{}\n\n{}\n{}\n", "\n", id="no blank line after the header"),
        pytest.param(
            "WEBVTT\n\nNOTE\tone\n\nSTYLE\n::cue {{ color: red }}\n\nREGION\nid:r width:40%\n\n"
            "{} region:r\n{}\n\nNOTE two\nlines\n\nb\n{}\n{}",
            "\n",
            id="NOTE, STYLE, REGION",
        ),
        pytest.param("WEBVTT\n\n{} align:start position:0%\n\x20\n{}\n\n{}\n{}\n \n", "\n", id="space lines"),
    ],
)
def test_vtt_quirks_of_real_files_are_read(template: str, newline: str) -> None:
    content = template.format(*VTT_CUES).replace("\n", newline)

    assert [(s.text, s.start, s.end) for s in parse_vtt(content)] == [("Hi there", 1.0, 2.0), ("Bye", 3.0, 4.5)]


def _dev_files() -> list[Any]:
    files = sorted(CAPTIONS.glob("*.srt"))
    return [pytest.param(path, id=path.name) for path in files] or [
        pytest.param(None, marks=without_real_captions, id="absent")
    ]


def _caption_words(srt: str) -> int:
    """The words of an SRT file's caption text: what follows the timing line of each block."""
    blocks = (block.splitlines() for block in re.split(r"\n\s*\n", srt))
    return sum(
        len(" ".join(block[i + 1 :]).split()) for block in blocks for i, line in enumerate(block) if "-->" in line
    )


@pytest.mark.parametrize("path", _dev_files())
def test_every_real_caption_file_is_read_whole_and_in_order(path: Path) -> None:
    content = path.read_text(encoding="utf-8")

    snippets = parse_captions("srt", content)

    assert [s.start for s in snippets] == sorted(s.start for s in snippets)
    assert all(s.end >= s.start for s in snippets)
    assert sum(len(s.text.split()) for s in snippets) == _caption_words(content)


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _vtt_time(seconds: float) -> str:
    return _srt_time(seconds).replace(",", ".")


cue_lists = st.lists(
    st.tuples(
        st.integers(0, 36_000_000),
        st.integers(0, 60_000),
        st.text(alphabet="abc def", min_size=1, max_size=40).filter(str.strip),
    ),
    min_size=1,
    max_size=30,
)


@given(cue_lists, st.sampled_from(["\n", "\r\n", "\r"]), st.booleans(), st.booleans())
def test_srt_round_trips(cues: list[tuple[int, int, str]], newline: str, bom: bool, numbered: bool) -> None:
    """Any valid cues, in any order (each text its own, so that none is a repeat of another)."""
    blocks = [
        f"{f'{i + 1}{newline}' if numbered else ''}{_srt_time(start / 1000)} --> {_srt_time((start + length) / 1000)}"
        f"{newline}w{i} {text}"
        for i, (start, length, text) in enumerate(cues)
    ]

    snippets = parse_srt("\ufeff" * bom + (newline * 2).join(blocks) + newline)

    assert [(round(s.start * 1000), round(s.duration * 1000), s.text) for s in snippets] == sorted(
        ((start, length, f"w{i} {text}".strip()) for i, (start, length, text) in enumerate(cues)), key=lambda c: c[0]
    )


@given(st.lists(st.tuples(st.integers(0, 36_000_000), st.integers(0, 36_000_000)), min_size=1, max_size=30))
def test_vtt_cues_in_any_order_with_any_end_are_read_in_order_with_none_lost(cues: list[tuple[int, int]]) -> None:
    content = "WEBVTT\n\n" + "\n\n".join(
        f"{_vtt_time(start / 1000)} --> {_vtt_time(end / 1000)}\ncue {i}" for i, (start, end) in enumerate(cues)
    )

    snippets = parse_vtt(content)

    assert sorted(s.text for s in snippets) == sorted(f"cue {i}" for i in range(len(cues)))
    assert [round(s.start * 1000) for s in snippets] == sorted(start for start, _ in cues)
    for snippet in snippets:
        start, end = cues[int(snippet.text.removeprefix("cue "))]
        ends = round(snippet.end * 1000)
        assert ends == end if end >= start else start <= ends <= start + 7000
