"""Socket Mode: the same bolt app, connected the way `oncall slack --socket` connects.

The fake Web API hands out a ws:// URL from `apps.connections.open` (asked with the
app-level token); a local websockets server plays Slack: it says hello, pushes an
`events_api` envelope, and must get the envelope's ack back over the socket. The answer
then arrives through the Web API as in HTTP mode."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from agent.records import TurnRecorder
from agent.service import Agent
from agent.state import Deps
from bots.slack.app import build_app, build_client, socket_mode_handler
from bots.slack.bot import SlackBot
from bots.slack.store import SlackStore
from oncall.core.settings import AgentSettings, RetrievalSettings
from oncall.testing.fake_slack import (
    APP_TOKEN,
    BOT_TOKEN,
    event_body,
    mention_event,
    start_fake_slack,
)
from oncall.testing.fakes import FakeStore, HashEmbedder, ScriptedChatModel

DOC = {"text": "Restart the payments api with kubectl rollout restart.", "doc_id": "runbook.md",
       "title": "Runbook", "section": "", "source": "/docs/runbook.md"}  # fmt: skip


def test_socket_mode_acks_over_the_websocket_and_answers_in_the_thread(tmp_path: Path) -> None:
    acks: list[dict[str, Any]] = []
    envelope = {
        "envelope_id": "env-1",
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "payload": json.loads(event_body(mention_event("how to restart payments?", "9.1"), "E9")),
    }

    def slack_side(ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1}))
        ws.send(json.dumps(envelope))
        acks.append(json.loads(ws.recv(timeout=10)))
        with contextlib.suppress(ConnectionClosed):
            for _ in ws:  # keep the connection until the client goes
                pass

    ws_server = serve(slack_side, "127.0.0.1", 0)
    threading.Thread(target=ws_server.serve_forever, daemon=True).start()
    fake, fake_server = start_fake_slack()
    fake.socket_url = f"ws://127.0.0.1:{ws_server.socket.getsockname()[1]}/link"
    embedder = HashEmbedder()
    model = ScriptedChatModel(replies=["Use kubectl rollout restart [1]."])
    deps = Deps(
        store=FakeStore([DOC], embedder),  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=1, min_similarity=0.0),
        agent=AgentSettings(),
    )
    recorder = TurnRecorder(tmp_path / "turns.sqlite")
    store = SlackStore(tmp_path / "slack.sqlite")
    bot = SlackBot(Agent(deps, recorder=recorder), build_client(BOT_TOKEN, fake.api_url), store)
    handler = socket_mode_handler(build_app(bot, None), APP_TOKEN)
    try:
        handler.connect()
        deadline = time.monotonic() + 15
        while not (acks and bot.stats["received"]) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert bot.wait_idle(30)
        assert acks and acks[0]["envelope_id"] == "env-1"
        [answer] = fake.thread("C1", "9.1")
        assert answer["text"].startswith("Use kubectl rollout restart")
        assert [c.method for c in fake.calls][:2] == ["auth.test", "apps.connections.open"]
    finally:
        handler.close()
        bot.close()
        store.close()
        recorder.close()
        fake_server.shutdown()
        ws_server.shutdown()
