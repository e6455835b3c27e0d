"""The ways benchmarks/soak.py reaches the agent: directly, through the web app, through
the Slack app. Each front is `ask(question, conversation_key, route) -> None` and raises on
any failure (an HTTP error, an empty answer, no Slack answer in time).

The web and Slack fronts use those packages' public factories (`bots.web.app.create_app`,
`bots.web.server.serve_in_thread`; `bots.slack.app.build_app` / `http_app` / `HttpServer`,
`SlackBot`) over the soak's own `Agent`; a front whose package cannot be imported is skipped
and reported, not faked.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from agent.service import Agent

Front = Callable[[str, str, str | None], None]
ANSWER_MARK = "From the docs"  # what the soak model's answers start with
SLACK_CHANNEL = "C0SOAK"


def agent_front(agent: Agent) -> Front:
    def ask(question: str, key: str, route: str | None) -> None:
        answer = agent.ask(question, key, route)  # type: ignore[arg-type]
        if not answer.text:
            raise RuntimeError("empty answer")

    return ask


@contextlib.contextmanager
def web_front(agent: Agent, data_dir: Path) -> Iterator[Front]:
    """The real web app on loopback, header auth (as behind an SSO proxy), `POST /api/ask`."""
    from bots.web.app import create_app
    from bots.web.server import serve_in_thread
    from oncall.core.settings import Settings, WebSettings

    settings = Settings(data_dir=data_dir, web=WebSettings(auth="header"))
    threads: dict[str, str] = {}  # soak conversation -> the server's thread id
    headers = {"X-Forwarded-User": "soak", "X-Forwarded-Groups": "oncall"}
    with (
        serve_in_thread(create_app(settings, agent)) as url,
        httpx.Client(base_url=url, timeout=60, headers=headers) as http,
    ):

        def ask(question: str, key: str, route: str | None) -> None:
            body = {"question": question, "thread_id": threads.get(key), "route": route}
            reply = http.post("/api/ask", json=body)
            if reply.status_code != 200:
                raise RuntimeError(f"HTTP {reply.status_code}: {reply.text[:200]}")
            payload = reply.json()
            if not payload["answer"].startswith(ANSWER_MARK):
                raise RuntimeError(f"unexpected answer {payload['answer'][:100]!r}")
            threads[key] = payload["thread_id"]
            if len(threads) > 1000:  # finished conversations: keep the map bounded
                threads.pop(next(iter(threads)))

        yield ask


class SlackFront:
    """Signed `app_mention` events to the real bolt app; waits for the bot's answer in the
    fake Slack workspace and counts duplicates (more than one answer in a thread)."""

    def __init__(self, agent: Agent, data_dir: Path):
        from bots.slack.app import HttpServer, build_app, build_client, http_app
        from bots.slack.bot import SlackBot
        from bots.slack.config import ChannelConfig, ChannelsFile
        from bots.slack.store import SlackStore
        from oncall.testing.fake_slack import BOT_TOKEN, SIGNING_SECRET, start_fake_slack

        self.fake, self._fake_server = start_fake_slack()
        channels = ChannelsFile.model_validate({"channels": {SLACK_CHANNEL: {"mode": "mention"}}})
        client = build_client(BOT_TOKEN, self.fake.api_url)
        store = SlackStore(data_dir / "slack.sqlite")
        self.bot = SlackBot(agent, client, store, ChannelConfig(channels), workers=4)
        self.server = HttpServer(http_app(build_app(self.bot, SIGNING_SECRET), self.bot)).start()
        self.url = f"http://127.0.0.1:{self.server.port}/slack/events"
        self.http = httpx.Client(timeout=30)
        self.duplicates = 0
        self._ts = itertools.count(1)
        self._lock = threading.Lock()

    def ask(self, question: str, key: str, route: str | None) -> None:
        from oncall.testing.fake_slack import event_body, mention_event, signed_headers

        with self._lock:
            ts = f"{int(time.time())}.{next(self._ts):06d}"
        body = event_body(mention_event(question, ts, SLACK_CHANNEL), f"Ev{ts}")
        headers = {"Content-Type": "application/json", **signed_headers(body)}
        reply = self.http.post(self.url, content=body.encode(), headers=headers)
        if reply.status_code != 200:
            raise RuntimeError(f"Slack event got HTTP {reply.status_code}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answers = [m for m in self.fake.thread(SLACK_CHANNEL, ts) if ANSWER_MARK in m["text"]]
            if answers:
                time.sleep(0.05)  # a duplicate would arrive right behind
                self._forget(ts)
                return
            time.sleep(0.02)
        raise RuntimeError(f"no Slack answer within 60 s for {ts}")

    def _forget(self, ts: str) -> None:
        """Count answers, then drop the finished thread from the fake workspace, so its
        recordings do not show up as the bot's memory growth."""
        thread = self.fake.thread(SLACK_CHANNEL, ts)
        extra = sum(1 for m in thread if ANSWER_MARK in m["text"]) - 1
        keys = [k for k, m in list(self.fake.messages.items()) if ts in (k[1], m.get("thread_ts"))]
        for k in keys:
            self.fake.messages.pop(k, None)
        self.fake.calls.clear()
        with self._lock:
            self.duplicates += max(0, extra)

    def close(self) -> dict[str, Any]:
        if self.http.is_closed:
            return {}
        self.bot.wait_idle(60)
        stats = dict(self.bot.stats)
        self.server.stop()
        self.bot.close()
        self._fake_server.shutdown()
        self.http.close()
        return {"slack": {"duplicate_answers": self.duplicates, "bot_stats": stats}}


@contextlib.contextmanager
def open_fronts(
    names: list[str], agent: Agent, data_dir: Path
) -> Iterator[tuple[dict[str, Front], dict[str, str], Callable[[], dict[str, Any]]]]:
    """(fronts by name, skipped fronts with the reason, a function returning per-front
    findings at the end)."""
    fronts: dict[str, Front] = {}
    skipped: dict[str, str] = {}
    findings: dict[str, Any] = {}
    slack: SlackFront | None = None
    with contextlib.ExitStack() as stack:
        if "agent" in names:
            fronts["agent"] = agent_front(agent)
        if "web" in names:
            try:
                fronts["web"] = stack.enter_context(web_front(agent, data_dir))
            except ImportError as exc:
                skipped["web"] = f"bots.web not importable: {exc}"
        if "slack" in names:
            try:
                slack = SlackFront(agent, data_dir)
                fronts["slack"] = slack.ask
            except ImportError as exc:
                skipped["slack"] = f"bots.slack not importable: {exc}"

        def extra() -> dict[str, Any]:
            if slack is not None:
                findings.update(slack.close())
            return findings

        try:
            yield fronts, skipped, extra
        finally:
            if slack is not None:
                slack.close()
