"""Anonymous users of the chat app, for locust (`python -m bench load` runs it against a local devhost;
or point it at a deployment, see README "Load test").

Each user gets a session, uploads a transcript (a real caption file of ../shared/eval-dev when there,
else invented captions), then, with a few seconds of thought in between, asks questions (most often),
searches, reads the history and the video list, and now and then uploads another transcript.
Every answer but a 2xx counts as a failure of its route.

    locust -f bench/locustfile.py --headless -u 20 -r 5 -t 30s --host http://127.0.0.1:7071 [--function-key KEY]
"""

import json
import random
import secrets
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval-dev"
GENERIC_QUESTIONS = [
    "What is this video about?",
    "Summarize the main idea.",
    "What example is given first?",
    "Why does that work?",
    "What happens at the end?",
]


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _options(parser: Any) -> None:
    parser.add_argument("--function-key", default="", is_secret=True, help="x-functions-key (HTTP_AUTH_LEVEL=FUNCTION)")
    parser.add_argument("--eval-dir", default=str(DEFAULT_EVAL), help="captions/*.srt and questions.jsonl to use")


def _invented_captions() -> str:
    topics = ["glaciers", "volcanoes", "rivers", "deserts", "forests", "oceans"]
    return "".join(
        f"{n}\n00:{n // 6:02d}:{n % 6 * 10:02d},000 --> 00:{n // 6:02d}:{n % 6 * 10 + 9:02d},000\n"
        f"Part {n} is about {random.choice(topics)} and how they change over the years.\n\n"
        for n in range(1, 120)
    )


class Material:
    """Caption files and the questions asked about each (loaded once per locust process)."""

    def __init__(self, directory: Path) -> None:
        files = sorted(directory.glob("captions/*.srt"))
        self.captions = {path.stem: path.read_text(encoding="utf-8") for path in files}
        self.questions: dict[str, list[str]] = {}
        questions = directory / "questions.jsonl"
        if questions.exists():
            for line in questions.read_text(encoding="utf-8").splitlines():
                item = json.loads(line)
                self.questions.setdefault(item.get("video_id", ""), []).append(item["question"])

    def transcript(self) -> tuple[str, str]:
        """(video id or "", SRT content)."""
        if not self.captions:
            return "", _invented_captions()
        video_id = random.choice(list(self.captions))
        return video_id, self.captions[video_id]

    def question(self, video_ids: list[str]) -> str:
        asked = [q for v in video_ids for q in self.questions.get(v, [])]
        return random.choice(asked or GENERIC_QUESTIONS)


_material: dict[str, Material] = {}


class Viewer(HttpUser):
    wait_time = between(1, 3)  # reading the answer, typing the next question

    def on_start(self) -> None:
        options = self.environment.parsed_options
        directory = getattr(options, "eval_dir", str(DEFAULT_EVAL))
        self.material = _material.setdefault(directory, Material(Path(directory)))
        self.key = {"x-functions-key": options.function_key} if getattr(options, "function_key", "") else {}
        self.headers = dict(self.key)
        self.videos: list[str] = []
        with self.client.post("/api/sessions", headers=self.key, name="POST /api/sessions", catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code}")
                return
            self.headers["X-Session-Id"] = r.json()["session_id"]
        self.upload()

    def _ready(self) -> bool:
        return "X-Session-Id" in self.headers

    @task(1)
    def upload(self) -> None:
        if not self._ready():
            return
        video_id, content = self.material.transcript()
        body = {"title": f"{video_id or 'lecture'} {secrets.token_hex(3)}", "format": "srt", "content": content}
        if video_id:
            body["source_url"] = f"https://www.youtube.com/watch?v={video_id}"
        with self.client.post(
            "/api/transcripts", json=body, headers=self.headers, name="POST /api/transcripts", catch_response=True
        ) as r:
            if r.status_code == 201:
                self.videos.append(video_id)
            elif r.status_code == 429:  # the session is full: a documented answer
                r.success()
            else:
                r.failure(f"{r.status_code}")

    @task(6)
    def ask(self) -> None:
        if self._ready() and self.videos:
            question = self.material.question(self.videos)
            self.client.post("/api/chat", json={"question": question}, headers=self.headers, name="POST /api/chat")

    @task(2)
    def search(self) -> None:
        if self._ready() and self.videos:
            query = self.material.question(self.videos)
            self.client.post("/api/search", json={"query": query}, headers=self.headers, name="POST /api/search")

    @task(2)
    def history(self) -> None:
        if self._ready():
            self.client.get("/api/chat/history", headers=self.headers, name="GET /api/chat/history")

    @task(1)
    def videos_list(self) -> None:
        if self._ready():
            self.client.get("/api/videos", headers=self.headers, name="GET /api/videos")
