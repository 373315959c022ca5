"""The reference chat page in a real headless Chromium (Debian's package, driven by Playwright with
`executable_path`), against the local host with the fake upstreams and the real database: each flow a
person follows, with a screenshot of it in test-artifacts/. The YouTube player can't load here (no
internet), which is the fallback the page must show."""

import json
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
from tests.real_data import CAPTIONS, EVAL_DEV, without_real_captions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSAGE = re.compile(r'<passage number="(\d+)"[^>]*>\n(.*?)\n</passage>', re.S)
SLOW = 60_000  # ms: an upload embeds a whole transcript on a shared machine
NEURAL_NETWORK = "aircAruvnKk"  # "But what is a neural network?" of the dev set
DETERMINANT = "Ip3X9LOh2dk"  # "The determinant", 592 s

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


def open_page(browser: Any, served: str, **options: Any) -> tuple[Any, list[str]]:
    """The chat page of a new session; the list collects the page's uncaught errors."""
    page = browser.new_page(**({"viewport": {"width": 1280, "height": 900}} | options))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{served}/api/app")
    page.get_by_text("No videos yet.").wait_for()
    return page, errors


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def title_of(video_id: str) -> str:
    for line in (EVAL_DEV / "videos.txt").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#") and line.split("\t")[1] == video_id:
            return line.split("\t")[3]
    raise KeyError(video_id)


def upload_file(page: Any, video_id: str, *, with_link: bool = True) -> None:
    """Uploads a real caption file of the dev set with the page's form, as a person would."""
    from playwright.sync_api import expect

    page.set_input_files("#upload-file", str(CAPTIONS / f"{video_id}.srt"))
    page.fill("#upload-title", title_of(video_id))
    if with_link:
        page.fill("#upload-source", f"https://www.youtube.com/watch?v={video_id}")
    page.click("#upload")
    expect(page.locator("#upload-status")).to_contain_text(f"Added “{title_of(video_id)}”", timeout=SLOW)


def cite(word: str):
    def answer(body: dict[str, Any]) -> str:
        passages = dict(PASSAGE.findall(body["messages"][-1]["content"]))
        cited = [n for n, text in passages.items() if word in text]
        return "The eruption happened then " + "".join(f"[{n}]" for n in cited) + "."

    return answer


def add_katla(page: Any, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI) -> None:
    katla = [*hour_of_captions("volcano", seconds=300)[:40], (130.0, 3.0, "the great eruption of Katla in 1918")]
    fake_youtube.add("kATLAvolc01", title="Katla, the volcano", channel="Geo", captions={("en", "manual"): katla})
    fake_openai.chat_answer = cite("eruption")
    page.fill("#urls", "https://youtu.be/kATLAvolc01")
    page.click("#add")
    page.locator("#videos li.video").first.wait_for()


def player_fell_back(page: Any) -> Any:
    """Waits for the player's fallback (YouTube can't be reached from here); its link to the moment."""
    from playwright.sync_api import expect

    expect(page.locator("#player-fallback p")).to_have_text("The video player can't load here right now.")
    assert page.locator("#player-frame").is_hidden()
    return page.locator("#player-fallback a")


def no_horizontal_scroll(page: Any, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_whole_flow_in_a_browser(
    served: str, browser: Any, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI, database_url: str
) -> None:
    katla = [*hour_of_captions("volcano", seconds=300)[:40], (130.0, 3.0, "the great eruption of Katla in 1918")]
    fake_youtube.add("kATLAvolc01", title="Katla, the volcano", channel="Geo", captions={("en", "manual"): katla})
    fake_youtube.add("rIVERdelta2", title="River deltas", captions={("en", "manual"): hour_of_captions("delta", 240)})
    from playwright.sync_api import expect

    fake_openai.chat_answer = cite("eruption")
    page, errors = open_page(browser, served)
    page.get_by_text("Session expires").wait_for()

    page.fill("#urls", "https://youtu.be/kATLAvolc01\nhttps://www.youtube.com/watch?v=rIVERdelta2\nnot a link")
    page.click("#add")
    page.locator("#add-results li").nth(2).wait_for()
    results = page.locator("#add-results li").all_inner_texts()
    assert results[0].startswith("Added: Katla, the volcano") and results[1].startswith("Added: River deltas")
    assert results[2].startswith("Not added: not a link") and "This isn't a YouTube link or video id." in results[2]
    assert page.locator("#add-status").inner_text() == "2 of 3 added."
    videos = page.locator("#videos li.video")
    videos.nth(1).wait_for()
    assert videos.count() == 2 and "passages" in videos.nth(0).inner_text()

    page.fill("#question", "When was the great eruption of Katla?")
    page.click("#ask")
    answer = page.locator(".message.assistant").last
    answer.locator("a.cite").first.wait_for()
    assert answer.locator("p").first.inner_text() == "The eruption happened then [1]."
    assert page.locator("#player-panel").is_hidden()
    answer.locator("a.cite").first.click()
    expect(page.locator("#player-panel")).to_be_visible()
    link = player_fell_back(page)
    assert re.fullmatch(r"https://www\.youtube\.com/watch\?v=kATLAvolc01&t=1[23]\ds", link.get_attribute("href") or "")
    screenshot(page, "chat-page.png")

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
    expect(page.locator("#ask-status")).to_have_text(
        "There are no videos to look in yet. Add a YouTube video or upload a transcript first."
    )
    assert page.locator("#notice").inner_text().startswith("Your session expired: a new one was started")
    assert page.evaluate("localStorage.getItem('chat-with-videos.session')") != session_id
    assert page.input_value("#question") == "Anything?"  # kept, to ask again

    page.click("#end-session")
    page.get_by_text("Session ended").wait_for()
    assert errors == []


@without_real_captions
def test_uploading_a_caption_file(served: str, browser: Any) -> None:
    from playwright.sync_api import expect

    page, errors = open_page(browser, served)

    page.set_input_files("#upload-file", str(CAPTIONS / f"{NEURAL_NETWORK}.srt"))
    assert page.input_value("#upload-title") == NEURAL_NETWORK  # from the file's name, until one is typed
    page.fill("#upload-title", title_of(NEURAL_NETWORK))
    page.fill("#upload-source", f"https://youtu.be/{NEURAL_NETWORK}")
    page.click("#upload")

    status = page.locator("#upload-status")
    expect(status).to_contain_text(f"Added “{title_of(NEURAL_NETWORK)}”", timeout=SLOW)
    assert re.search(r": \d+ passages, 1[89]:\d\d long\.$", status.inner_text())
    video = page.locator("#videos li.video")
    expect(video).to_have_count(1)
    assert video.locator("a.video-title").inner_text() == title_of(NEURAL_NETWORK)
    assert video.locator("a.video-title").get_attribute("href") == f"https://www.youtube.com/watch?v={NEURAL_NETWORK}"
    assert page.input_value("#upload-title") == "" and page.eval_on_selector("#upload-file", "e => e.files.length") == 0
    screenshot(page, "upload-file.png")
    assert errors == []


@without_real_captions
def test_pasting_a_transcript(served: str, browser: Any) -> None:
    from playwright.sync_api import expect

    page, errors = open_page(browser, served)
    captions = (CAPTIONS / f"{DETERMINANT}.srt").read_text(encoding="utf-8")

    page.click("#upload")  # nothing chosen yet
    expect(page.locator("#upload-status")).to_have_text("Choose a caption file or paste a transcript first.")
    page.fill("#upload-text", captions)
    page.click("#upload")
    expect(page.locator("#upload-status")).to_have_text("Give the transcript a title.")
    assert page.evaluate("document.activeElement.id") == "upload-title"
    page.keyboard.type("The determinant")
    page.click("#upload")

    expect(page.locator("#upload-status")).to_contain_text("Added “The determinant”", timeout=SLOW)
    video = page.locator("#videos li.video")
    expect(video).to_have_count(1)
    # Read as SubRip: the last caption ends at 591.x s (as plain text it would have no times at all).
    assert "· 9:51 · en" in video.inner_text() and video.locator("a").count() == 0  # no YouTube link given
    assert page.input_value("#upload-text") == ""

    page.fill("#search-query", "determinant")  # a moment of it: there is no video to play
    page.press("#search-query", "Enter")
    page.locator("#search-results li button.link").first.click()
    expect(page.locator("#player-fallback p").first).to_have_text(
        "This transcript was uploaded without a YouTube link, so there is no video to play."
    )
    assert page.locator("#player-fallback q").inner_text().strip()  # what is said there, instead
    screenshot(page, "upload-paste.png")
    assert errors == []


def test_counts_read_as_words_in_the_singular_too(served: str, browser: Any) -> None:
    from playwright.sync_api import expect

    page, errors = open_page(browser, served)

    page.fill("#upload-text", "A talk of one sentence about glaciers.")
    page.fill("#upload-title", "Short")
    page.click("#upload")

    expect(page.locator("#upload-status")).to_contain_text("Added “Short”: 1 passage, ", timeout=SLOW)
    assert "1 passage · " in page.locator("#videos li.video").inner_text()
    page.fill("#search-query", "glaciers")
    page.press("#search-query", "Enter")
    expect(page.locator("#search-status")).to_have_text("1 moment found. Choose one to play it.")
    assert errors == []


@without_real_captions
def test_an_extractive_answer_quotes_moments_and_the_player_falls_back_to_a_link(
    served: str, browser: Any, settings: Any
) -> None:
    from playwright.sync_api import expect

    settings(chat_provider="none")  # no chat model: the answer quotes the transcripts
    page, errors = open_page(browser, served)
    upload_file(page, NEURAL_NETWORK)

    page.fill("#question", "How many neurons are in the input layer, one for each pixel?")
    page.click("#ask")
    quotes = page.locator(".message.assistant .quotes li")
    quotes.first.wait_for()
    quoted = quotes.count()
    assert 1 <= quoted <= 3
    assert page.locator(".message.assistant p").first.inner_text() == "From the transcripts:"
    moment_label = re.compile(rf"{re.escape(title_of(NEURAL_NETWORK))}, \d+:\d\d")
    for n in range(quotes.count()):
        assert quotes.nth(n).locator("q").inner_text().strip()
        assert moment_label.fullmatch(quotes.nth(n).locator("a").inner_text())
    assert "784" in page.locator(".message.assistant").inner_text()
    assert page.locator("#player-panel").is_hidden()

    moment = quotes.first.locator("a")
    href = moment.get_attribute("href") or ""
    assert re.fullmatch(rf"https://www\.youtube\.com/watch\?v={NEURAL_NETWORK}&t=\d+s", href)
    moment.click()
    panel = page.locator("#player-panel")
    expect(panel).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "player-panel"
    link = player_fell_back(page)
    assert link.get_attribute("href") == href
    assert link.inner_text().startswith(f"Watch “{title_of(NEURAL_NETWORK)}” on YouTube from ")
    assert panel.bounding_box()["height"] < 220  # a few lines, not an empty 16:9 box
    screenshot(page, "answer-citation-fallback.png")

    page.click("#close-player")
    expect(panel).to_be_hidden()
    assert page.evaluate("document.activeElement.textContent") == moment.inner_text()  # back where it was

    page.reload()  # the history has no mode: the quotes are recognised by their form
    expect(page.locator(".message.assistant .quotes li")).to_have_count(quoted)
    assert errors == []


def test_a_streamed_answer_renders_token_by_token_and_its_suggestions_ask_the_real_app(
    served: str, browser: Any, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI
) -> None:
    """The only test with a routed /api/chat: its first two answers come as Server-Sent Events from
    the browser's network edge, delivered at once, so that each redraw can be checked (an error with a
    code the page does not know, then an answer). The suggestion chip's question goes to the real app,
    which streams its answer and suggestions from the model's."""
    from playwright.sync_api import Route, expect

    page, errors = open_page(browser, served)
    add_katla(page, fake_youtube, fake_openai)
    source = {"index": 1, "video_id": "kATLAvolc01", "title": "Katla, the volcano", "start_seconds": 130.0,
              "end_seconds": 190.0, "url": "https://www.youtube.com/watch?v=kATLAvolc01&t=130s",
              "text": "the great eruption of Katla in 1918"}  # fmt: skip
    tokens = ["The great", " eruption", " was in", " 1918 [", "1]", "."]
    suggestions = ["What happened to the glacier?", "How big was the ash cloud?"]
    answer = {"answer": "".join(tokens), "mode": "generative", "sources": [source], "suggestions": suggestions}
    events = [("sources", {"sources": [source]}), *(("token", {"text": token}) for token in tokens), ("done", answer)]
    body = ": the answer, as the server will stream it\n\n" + "".join(
        f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n" for name, data in events
    )
    failure = 'event: error\ndata: {"code": "a_code_from_the_future", "message": "GET /api/x failed"}\n\n'
    accepted: list[str] = []

    def stream(route: Route) -> None:
        accepted.append(route.request.headers.get("accept", ""))
        reply = failure if len(accepted) == 1 else body
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=reply)

    page.route("**/api/chat", stream, times=2)
    page.evaluate("""() => {
        window.rendered = [];
        new MutationObserver((records) => records.forEach((record) => record.addedNodes.forEach((node) => {
            if (record.target.classList.contains("assistant")) {
                window.rendered.push(node.querySelector("p").textContent);
            }
        }))).observe(document.getElementById("messages"), { childList: true, subtree: true });
    }""")

    page.fill("#question", "When was the great eruption?")
    page.press("#question", "Enter")
    expect(page.locator("#ask-status")).to_have_text("Something went wrong. Please try again.")  # an unknown code
    expect(page.locator(".message")).to_have_count(0)
    assert page.input_value("#question") == "When was the great eruption?"  # kept, to ask again

    page.press("#question", "Enter")
    chips = page.locator("#suggestions button.chip")
    expect(chips).to_have_count(2)

    assert accepted == ["text/event-stream, application/json"] * 2
    reply = page.locator(".message.assistant").last
    assert reply.locator("p").first.inner_text() == "The great eruption was in 1918 [1]."
    assert reply.locator("a.cite").get_attribute("href") == source["url"]
    rendered = page.evaluate("window.rendered")
    prefixes = ["The great", "The great eruption", "The great eruption was in", "The great eruption was in 1918 ["]
    assert [text for text in rendered if not text.startswith("Looking")][:4] == prefixes  # each token, as it came
    assert page.get_attribute("#messages", "aria-busy") == "false" and page.get_attribute("#messages", "aria-live")
    assert chips.all_inner_texts() == suggestions
    screenshot(page, "streamed-answer.png")

    cited = cite("eruption")
    fake_openai.chat_answer = lambda body: (
        cited(body) + "\n<suggestions>\nHow long did the floods last?\n</suggestions>"
    )
    chips.first.click()
    expect(page.locator(".message.user").last).to_have_text("What happened to the glacier?")
    page.locator(".message.assistant").nth(1).locator("a.cite").first.wait_for()  # the real app's answer
    assert page.locator(".message.assistant").nth(1).locator("p").first.inner_text().startswith("The eruption")
    assert "suggestions" not in page.locator(".message.assistant").nth(1).inner_text()  # cut off the answer
    expect(chips).to_have_text(["How long did the floods last?"])  # the real app's suggestions
    assert page.evaluate("document.activeElement.id") == "question"
    assert accepted == ["text/event-stream, application/json"] * 2  # the second question was not routed
    screenshot(page, "suggestion-chip.png")
    assert errors == []


@without_real_captions
def test_search_lists_moments_and_plays_one(served: str, browser: Any) -> None:
    from playwright.sync_api import expect

    page, errors = open_page(browser, served)
    upload_file(page, NEURAL_NETWORK)

    page.fill("#search-query", "sigmoid squishification function")
    page.press("#search-query", "Enter")
    results = page.locator("#search-results li")
    results.first.wait_for()
    assert re.fullmatch(r"\d+ moments? found\. Choose one to play it\.", page.locator("#search-status").inner_text())
    first = results.first
    assert re.fullmatch(rf"{re.escape(title_of(NEURAL_NETWORK))} · \d+:\d\d", first.locator("a").inner_text())
    assert "sigmoid" in page.locator("#search-results").inner_text().lower()
    assert first.locator(".result-text").inner_text().strip()
    assert page.locator("#player-panel").is_hidden()

    href = first.locator("a").get_attribute("href")
    first.locator("a").click()
    expect(page.locator("#player-caption")).to_have_text(
        f"{title_of(NEURAL_NETWORK)} at {first.locator('a').inner_text().split(' · ')[-1]}"
    )
    assert player_fell_back(page).get_attribute("href") == href
    screenshot(page, "search-play.png")

    page.fill("#search-query", " ")
    page.click("#search")
    expect(page.locator("#search-status")).to_have_text("Type words to search for.")
    assert page.evaluate("document.activeElement.id") == "search-query"
    assert errors == []


def test_errors_are_sentences_for_people(served: str, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page, errors = open_page(browser, served)
    nothing_yet = "There are no videos to look in yet. Add a YouTube video or upload a transcript first."

    page.fill("#search-query", "anything")
    page.click("#search")
    expect(page.locator("#search-status")).to_have_text(nothing_yet)  # 409 no_videos

    page.fill("#question", "What is this about?")
    page.click("#ask")
    expect(page.locator("#ask-status")).to_have_text(nothing_yet)
    expect(page.locator(".message")).to_have_count(0)

    music = tmp_path / "music.vtt"
    music.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n[Music]\n", encoding="utf-8")
    page.set_input_files("#upload-file", str(music))
    page.click("#upload")
    expect(page.locator("#upload-status")).to_have_text(
        "This couldn't be read as a transcript, or it holds no words. Check the file or the text."
    )  # 400 invalid_request
    page.set_input_files("#upload-file", [])
    page.fill("#upload-text", "Some words that were said.")
    page.fill("#upload-title", "Notes")
    page.fill("#upload-source", "https://example.com/video")
    page.click("#upload")
    expect(page.locator("#upload-status")).to_have_text(
        "The YouTube link isn't a link to a YouTube video. Correct it or leave it empty."
    )  # 400 invalid_request, on the field source_url

    page.fill("#urls", "not a link")
    page.click("#add")
    expect(page.locator("#add-results li")).to_have_text("Not added: not a linkThis isn't a YouTube link or video id.")

    shown = page.locator("body").inner_text()
    for developer_text in ("/api", "POST", "X-Session-Id", "invalid_request", "no_videos", "{"):
        assert developer_text not in shown
    screenshot(page, "error-sentences.png")
    assert errors == []


@without_real_captions
def test_the_page_fits_a_phone(served: str, browser: Any, settings: Any) -> None:

    settings(chat_provider="none")
    page, errors = open_page(browser, served, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    no_horizontal_scroll(page, 375)
    assert page.locator("#ask").is_visible() and page.locator("#add").is_visible()

    upload_file(page, NEURAL_NETWORK)
    page.fill("#search-query", "hidden layers")
    page.click("#search")
    page.locator("#search-results li").first.wait_for()
    no_horizontal_scroll(page, 375)
    page.fill("#question", "What does the input layer hold?")
    page.click("#ask")
    page.locator(".message.assistant a").first.wait_for()
    page.locator(".message.assistant a").first.tap()
    player_fell_back(page)

    no_horizontal_scroll(page, 375)
    for selector in ("#question", "#ask", "#search", "#upload", "#player-fallback a"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, selector
    screenshot(page, "phone.png")
    assert errors == []


def test_keyboard_alone_reaches_and_operates_everything(
    served: str, browser: Any, fake_youtube: FakeYouTube, fake_openai: FakeOpenAI
) -> None:
    from playwright.sync_api import expect

    page, errors = open_page(browser, served)
    unlabelled = page.evaluate("""[...document.querySelectorAll("input, textarea, select")]
        .filter((e) => !e.labels.length && !e.getAttribute("aria-label")).map((e) => e.id)""")
    assert unlabelled == []
    assert page.get_attribute("#messages", "aria-live") == "polite"

    def tab_to(selector: str, key: str = "Tab") -> None:
        for _ in range(60):
            page.keyboard.press(key)
            if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
                assert outline != "none", f"{selector} has no visible focus"
                return
        raise AssertionError(f"{selector} cannot be reached with {key}")

    katla = [*hour_of_captions("volcano", seconds=300)[:40], (130.0, 3.0, "the great eruption of Katla in 1918")]
    fake_youtube.add("kATLAvolc01", title="Katla, the volcano", captions={("en", "manual"): katla})
    fake_openai.chat_answer = cite("eruption")
    tab_to("#urls")
    page.keyboard.type("https://youtu.be/kATLAvolc01")
    tab_to("#add")
    page.keyboard.press("Enter")
    expect(page.locator("#add-status")).to_have_text("1 of 1 added.")
    expect(page.locator("#videos li.video")).to_have_count(1)
    assert page.evaluate("document.activeElement.id") == "add"  # kept while the button was disabled

    page.keyboard.press("Shift+Tab")  # back to the page's first stop: the skip link
    for _ in range(60):
        if page.evaluate("document.activeElement.className") == "skip":
            break
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "question"
    page.keyboard.type("When was the great eruption of Katla?")
    page.keyboard.press("Enter")
    page.locator(".message.assistant a.cite").first.wait_for()
    assert page.evaluate("document.activeElement.id") == "question"  # ready for the next question

    tab_to(".message.assistant a.cite", "Shift+Tab")
    page.keyboard.press("Enter")
    player_fell_back(page)
    assert page.evaluate("document.activeElement.id") == "player-panel"
    tab_to("#close-player")
    tab_to("#player-fallback a")
    screenshot(page, "keyboard.png")
    tab_to("#close-player", "Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#player-panel")).to_be_hidden()
    assert page.evaluate("document.activeElement.matches('.message.assistant a.cite')")
    assert errors == []


def test_a_pending_video_shows_its_progress_and_becomes_ready_by_itself(
    served: str, browser: Any, fake_youtube: FakeYouTube, settings: Any
) -> None:
    from playwright.sync_api import expect

    settings(ingest_wait_seconds=0.5)
    video_id = secrets.token_urlsafe(8)[:11]  # new to the database, which outlives a run
    fake_youtube.add(video_id, title="Slow video", captions={("en", "manual"): hour_of_captions("slow", 120)})
    fake_youtube.block()  # YouTube hangs until released: the video stays pending
    page, errors = open_page(browser, served)

    page.fill("#urls", f"https://youtu.be/{video_id}")
    page.click("#add")
    page.locator("#add-results li").first.wait_for()
    added = page.locator("#add-results li").first.inner_text()
    status = page.locator("#add-status").inner_text()
    page.locator("#videos progress").wait_for()
    pending = page.locator("#videos li.video").first.inner_text()
    page.fill("#question", "What is this about?")
    page.click("#ask")  # 409 no_videos: none is ready yet
    expect(page.locator("#ask-status")).to_have_text("Your videos are still being added. Ask again in a moment.")
    screenshot(page, "pending-video.png")
    fake_youtube.release()
    page.locator("#videos li.video", has_text="passages").wait_for()  # the page polled by itself

    assert added.startswith("Being added")
    assert status == "0 of 1 added, 1 still being added: see “Your videos”."
    assert re.search(r"(Waiting|Fetching the transcript)… \d+%", pending)
    assert page.locator("#videos progress").count() == 0
    assert errors == []
