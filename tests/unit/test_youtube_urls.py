"""Video ids from every URL form API.md accepts; everything else is rejected."""

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.video_rag.youtube import parse_video_id, watch_url

ID = "dQw4w9WgXcQ"
video_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=11, max_size=11)
FORMS = [
    "{id}",
    "https://www.youtube.com/watch?v={id}",
    "http://youtube.com/watch?v={id}",
    "www.youtube.com/watch?v={id}",
    "youtube.com/watch?feature=share&v={id}&t=42s",
    "https://m.youtube.com/watch?v={id}",
    "https://music.youtube.com/watch?v={id}&list=RDAMVM",
    "https://youtu.be/{id}",
    "youtu.be/{id}?si=abc&t=10",
    "https://www.youtube.com/shorts/{id}",
    "https://www.youtube.com/embed/{id}?start=3",
    "https://www.youtube.com/live/{id}?feature=share",
    "  https://WWW.YouTube.com/watch?v={id}  ",
]


@pytest.mark.parametrize("form", FORMS)
def test_every_accepted_form_gives_the_video_id(form: str) -> None:
    assert parse_video_id(form.format(id=ID)) == ID


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "dQw4w9WgXc",
        "dQw4w9WgXcQQ",
        "dQw4w9WgX$Q",
        "https://example.com/watch?v=dQw4w9WgXcQ",
        "https://youtube.com.evil.com/watch?v=dQw4w9WgXcQ",
        "https://evil.com/youtu.be/dQw4w9WgXcQ",
        "https://user@www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://www.youtube.com:8080/watch?v=dQw4w9WgXcQ",
        "ftp://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "javascript:alert(1)//youtu.be/dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&v=aaaaaaaaaaa",
        "https://www.youtube.com/watch?list=PL123",
        "https://www.youtube.com/channel/UCxyz",
        "https://www.youtube.com/shorts/dQw4w9WgXcQ/extra",
        "https://youtu.be/",
        "https://www.youtube.com/watch?v=' OR 1=1 --",
        "<script>alert(1)</script>",
        "https://www.youtube.com/watch?v=" + "a" * 5000,
        "\x00dQw4w9WgXcQ",
        "https://[::1/watch?v=dQw4w9WgXcQ",
    ],
)
def test_anything_else_is_rejected(value: str) -> None:
    assert parse_video_id(value) is None


@given(video_id=video_ids, form=st.sampled_from(FORMS))
def test_any_valid_id_survives_every_form(video_id: str, form: str) -> None:
    assert parse_video_id(form.format(id=video_id)) == video_id


@given(st.text(max_size=300))
def test_arbitrary_text_never_fails_and_yields_a_valid_id_or_none(value: str) -> None:
    result = parse_video_id(value)

    assert result is None or (len(result) == 11 and set(result) <= set(string.ascii_letters + string.digits + "-_"))


def test_deep_links_use_whole_seconds() -> None:
    assert watch_url(ID) == f"https://www.youtube.com/watch?v={ID}"
    assert watch_url(ID, 123.9) == f"https://www.youtube.com/watch?v={ID}&t=123s"
