"""Two Slack workers on one store (SQLite file here: two processes on one host behave the
same; tests/integration/test_appstate_replicas.py covers Postgres): a question the first
worker took and never answered is answered by the second, once, with its turn record."""

from __future__ import annotations

import time
from pathlib import Path

from agent.records import TurnRecorder
from agent.service import Agent
from agent.state import Deps
from bots.slack.app import build_client
from bots.slack.bot import SlackBot
from bots.slack.question import Question
from bots.slack.recovery import job_payload
from bots.slack.store import SlackStore
from oncall.core.settings import AgentSettings, RetrievalSettings
from oncall.testing.fake_slack import BOT_TOKEN, start_fake_slack
from oncall.testing.fakes import FakeStore, HashEmbedder, ScriptedChatModel

ANSWER = "Roll back with lfctl rollback payments-api [1]."
DOCS = [{"text": "Roll back: lfctl rollback payments-api.", "doc_id": "runbooks/pay.md",
         "title": "Payments", "section": "Rollback", "source": "/docs/pay.md"}]  # fmt: skip


def test_a_question_left_by_a_dead_worker_is_answered_once_by_another(tmp_path: Path) -> None:
    fake, fake_server = start_fake_slack()
    embedder = HashEmbedder()
    deps = Deps(
        store=FakeStore(DOCS, embedder),  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=ScriptedChatModel(replies=[ANSWER]),
        retrieval=RetrievalSettings(top_k=1, min_similarity=0.0),
        agent=AgentSettings(),
    )
    recorder = TurnRecorder(tmp_path / "turns.sqlite")
    dead_store, live_store = (
        SlackStore(tmp_path / "slack.sqlite"),
        SlackStore(tmp_path / "slack.sqlite"),
    )
    question = Question("C1", "U1", "how do I roll back payments-api?", "100.1", "100.1")
    # What the dead worker's on_event did before it died: claim, with the question leased.
    assert dead_store.claim("event:Ev1", "msg:C1:100.1", job=job_payload(question, None),
                            lease_s=0.2)  # fmt: skip
    bot = SlackBot(
        Agent(deps, recorder=recorder),
        build_client(BOT_TOKEN, fake.api_url),
        live_store,
        workers=1,
        lease_s=0.6,
    )
    try:
        assert not bot.on_event(  # Slack's retry reaches the live worker: a duplicate
            {"type": "app_mention", "user": "U1", "text": question.text, "ts": "100.1",
             "channel": "C1"}, "Ev1", None,
        )  # fmt: skip
        time.sleep(0.3)  # the dead worker's lease runs out
        bot.start_recovery()
        deadline = time.monotonic() + 15
        while not recorder.turns() and time.monotonic() < deadline:
            time.sleep(0.05)
        bot.wait_idle(15)
        answers = [m for m in fake.thread("C1", "100.1") if m["text"].startswith("Roll back")]
        assert len(answers) == 1
        assert [t["question"] for t in recorder.turns()] == [question.text]
        assert live_store.jobs() == [], "answered: the question is done"
        assert bot.stats["recovered"] == 1
    finally:
        bot.close()
        for store in (dead_store, live_store):
            store.close()
        recorder.close()
        fake_server.shutdown()
