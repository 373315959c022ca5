"""WebVTT, SRT and plain-text uploads into snippets."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.video_rag.captions import CaptionFormatError, parse_captions, parse_srt, parse_vtt

VTT = """WEBVTT Kind: captions

NOTE a comment
spanning lines

STYLE
::cue { color: red }

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
        ("vtt", "WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nbackwards", 3),
        ("vtt", "WEBVTT\n\n00:00:99.000 --> 00:01:02.000\nbad seconds", 3),
        ("srt", "1\nnot a timing\ntext", 1),
        ("srt", "one\n00:00:01,000 --> 00:00:02,000\ntext", 1),
        ("srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:0x,000 --> 00:00:03,000\nbad", 6),
    ],
)
def test_malformed_files_are_rejected_with_the_line(format_: str, content: str, line: int) -> None:
    with pytest.raises(CaptionFormatError) as error:
        parse_captions(format_, content)

    assert error.value.status == 400
    assert error.value.details[0]["line"] == line


@pytest.mark.parametrize(("format_", "content"), [("vtt", "WEBVTT\n\n"), ("srt", "\n\n"), ("text", "  \n ")])
def test_a_file_without_captions_is_rejected(format_: str, content: str) -> None:
    with pytest.raises(CaptionFormatError):
        parse_captions(format_, content)


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


@given(
    st.lists(
        st.tuples(
            st.integers(0, 36_000_000),
            st.integers(0, 60_000),
            st.text(alphabet="abc def", min_size=1, max_size=40).filter(str.strip),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_srt_round_trips(cues: list[tuple[int, int, str]]) -> None:
    blocks = [
        f"{i + 1}\n{_srt_time(start / 1000)} --> {_srt_time((start + length) / 1000)}\n{text}"
        for i, (start, length, text) in enumerate(cues)
    ]

    snippets = parse_srt("\n\n".join(blocks) + "\n")

    assert [(round(s.start * 1000), round(s.duration * 1000), s.text) for s in snippets] == [
        (start, length, text.strip()) for start, length, text in cues
    ]
