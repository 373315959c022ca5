"""The reference chat page in a real headless Chromium (Debian's package, driven by Playwright with
`executable_path`), against the local host with the fake upstreams: the whole flow a person follows."""

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.youtube import FakeYouTube, hour_of_captions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSAGE = re.compile(r'<passage number="(\d+)"[^>]*>\n(.*?)\n</passage>', re.S)

if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI needs Debian's chromium for the browser tests: `make browser` installs it")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (`make browser`)")


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        yield browser
        browser.close()


def cite(word: str):
    def answer(body: dict[str, Any]) -> str:
        passages = dict(PASSAGE.findall(body["messages"][-1]["content"]))
        cited = [n for n, text in passages.items() if word in text]
        return "The eruption happened then " + "".join(f"[{n}]" for n in cited) + "."

    return answer


def test_the_whole_flow_in_a_browser(
    served: str, browser: Any, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI, database_url: str
) -> None:
    katla = [*hour_of_captions("volcano", seconds=300)[:40], (130.0, 3.0, "the great eruption of Katla in 1918")]
    fake_youtube.add("kATLAvolc01", title="Katla, the volcano", channel="Geo", captions={("en", "manual"): katla})
    fake_youtube.add("rIVERdelta2", title="River deltas", captions={("en", "manual"): hour_of_captions("delta", 240)})
    from playwright.sync_api import expect

    fake_openai.chat_answer = cite("eruption")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{served}/api/app")
    page.get_by_text("Session expires").wait_for()
    page.get_by_text("No videos yet.").wait_for()

    page.fill("#urls", "https://youtu.be/kATLAvolc01\nhttps://www.youtube.com/watch?v=rIVERdelta2\nnot a link")
    page.click("#add")
    page.locator("#add-results li").nth(2).wait_for()
    results = page.locator("#add-results li").all_inner_texts()
    assert results[0].startswith("Added: Katla, the volcano") and results[1].startswith("Added: River deltas")
    assert results[2].startswith("Failed: not a link") and "Not a YouTube video URL or id." in results[2]
    videos = page.locator("#videos li.video")
    videos.nth(1).wait_for()
    assert videos.count() == 2 and "passages" in videos.nth(0).inner_text()

    page.fill("#question", "When was the great eruption of Katla?")
    page.click("#ask")
    answer = page.locator(".message.assistant").last
    answer.locator("a.cite").first.wait_for()
    assert "The eruption happened then [1]." in answer.inner_text()
    answer.locator("a.cite").first.click()
    player = page.locator("#player")
    assert re.search(
        r"youtube-nocookie\.com/embed/kATLAvolc01\?start=\d+&autoplay=1", player.get_attribute("src") or ""
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-page.png"), full_page=True)

    page.reload()
    page.locator(".message").nth(1).wait_for()
    assert page.locator(".message.user").inner_text() == "When was the great eruption of Katla?"
    page.click("#clear-history")
    expect(page.locator(".message")).to_have_count(0)

    session_id = page.evaluate("localStorage.getItem('chat-with-videos.session')")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE session SET expires_at = now() - interval '1 minute' WHERE id = :id"), {"id": session_id}
        )
    engine.dispose()
    page.fill("#question", "Anything?")
    page.click("#ask")
    page.get_by_text("This session has no videos yet").wait_for()  # the API's message, not raw JSON
    assert page.locator("#notice").inner_text().startswith("Your session expired: a new one was started")
    assert page.evaluate("localStorage.getItem('chat-with-videos.session')") != session_id
    assert "{" not in page.locator("#notice").inner_text()

    page.click("#end-session")
    page.get_by_text("Session ended").wait_for()
    assert errors == []


def test_the_page_fits_a_phone(served: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)

    page.goto(f"{served}/api/app")
    page.get_by_text("No videos yet.").wait_for()

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#ask").is_visible() and page.locator("#add").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-page-phone.png"), full_page=True)


def test_a_pending_video_shows_its_progress_and_becomes_ready_by_itself(
    served: str, browser: Any, fake_youtube: FakeYouTube, settings: Any
) -> None:
    settings(INGEST_WAIT_SECONDS=0.5)
    video_id = secrets.token_urlsafe(8)[:11]  # new to the database, which outlives a run
    fake_youtube.add(video_id, title="Slow video", captions={("en", "manual"): hour_of_captions("slow", 120)})
    fake_youtube.block()  # YouTube hangs until released: the video stays pending
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{served}/api/app")
    page.get_by_text("No videos yet.").wait_for()
    page.fill("#urls", f"https://youtu.be/{video_id}")
    page.click("#add")
    page.locator("#add-results li").first.wait_for()
    added = page.locator("#add-results li").first.inner_text()
    page.locator("#videos progress").wait_for()
    pending = page.locator("#videos li.video").first.inner_text()
    fake_youtube.release()
    page.locator("#videos li.video", has_text="passages").wait_for()  # the page polled by itself

    assert added.startswith("Being added")
    assert re.search(r"(Waiting|Fetching the transcript)… \d+%", pending)
    assert page.locator("#videos progress").count() == 0
    assert errors == []
