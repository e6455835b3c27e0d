"""The Slack bot end to end: the real bolt app served over HTTP by uvicorn, driven with
signed requests exactly as Slack sends them, against a fake Slack Web API on loopback that
records every call (oncall/testing/fake_slack.py). The agent is real (graph, memory, recorder,
approvals) over a scripted model and a fake store, so no LLM runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.records import TurnRecorder
from agent.router import RouteDecision
from agent.service import Agent
from agent.state import Deps
from bots.slack import messages as msg
from bots.slack.app import HttpServer, build_app, build_client, http_app
from bots.slack.bot import SlackBot
from bots.slack.config import ChannelConfig, ChannelsFile, UserDirectory, UsersFile
from bots.slack.files import SlackFiles
from bots.slack.store import SlackStore
from oncall.core.errors import OncallError
from oncall.core.settings import AgentSettings, RetrievalSettings
from oncall.testing.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    action_body,
    event_body,
    find_button,
    mention_event,
    post_signed,
    start_fake_slack,
)
from oncall.testing.fakes import (
    FakeStore,
    HashEmbedder,
    ScriptedChatModel,
    answer_action,
    claims_reply,
    code_reply,
    fake_catalogue,
    plan_reply,
)

DOCS = [
    {"text": "Restart the payments api: kubectl rollout restart deployment/payments-api.",
     "doc_id": "runbooks/payments.md", "title": "Payments runbook", "section": "Restart",
     "source": "/docs/runbooks/payments.md"},
    {"text": "Grafana dashboards for latency and error rates of every service.",
     "doc_id": "wiki/dashboards", "title": "Dashboards", "section": "",
     "source": "https://wiki.example.com/dashboards"},
]  # fmt: skip
RESTART = "kubectl rollout restart deployment/payments-api"
# Replies as the schema-constrained model writes them (agent/answering.py, agent/deep.py).
ANSWER = claims_reply((1, RESTART, f"Run {RESTART}."))
DASHBOARDS = claims_reply(
    (2, "Grafana dashboards for latency", "Then watch the Grafana dashboards.")
)
TICKET = {"title": "payments-api 5xx spike", "severity": "sev2"}
WRITE = plan_reply(("create_ticket", TICKET))  # the DEEP planner choosing the write
# The answer step after the write ran: [1] and [2] are the seed search's passages, [3] the
# write's result.
OPENED = answer_action(
    (3, '"tool": "create_ticket", "ok": true', "Opened the ticket: create_ticket ok.")
)


class KeywordRouter:
    """DEEP for questions about tickets or plots (tool use), else DIRECT."""

    def decide(self, question: str, override: Any = None) -> RouteDecision:
        deep = any(w in question for w in ("ticket", "plot"))
        return RouteDecision(override or ("deep" if deep else "direct"), 1.0, "test", "override")


class FailingModel(ScriptedChatModel):
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise OncallError("llm_timeout", "the LLM server at http://10.0.0.9/v1 timed out")


class FakeSandbox:
    def __init__(self, figure: Path):
        self.figure = figure

    def run(self, conversation: str, code: str) -> Any:
        from tools.sandbox.result import ExecutionResult

        return ExecutionResult("ok", result="done", files=[self.figure])


@dataclass
class Harness:
    fake: FakeSlack
    bot: SlackBot
    url: str
    http: httpx.Client
    model: ScriptedChatModel
    tool_calls: list[Any]

    def send(self, event: dict[str, Any], event_id: str, **kw: Any) -> httpx.Response:
        return post_signed(self.http, self.url, event_body(event, event_id), **kw)

    def click(self, action_id: str, message: dict[str, Any], user: str = "U1") -> None:
        value = find_button(message, action_id)
        reply = post_signed(self.http, self.url, action_body(action_id, value, message, user), True)
        assert reply.status_code == 200

    def settle(self, received: int) -> None:
        """Wait until `received` requests reached the bot and all their work is done."""
        wait_until(lambda: self.bot.stats["received"] >= received)
        assert self.bot.wait_idle(30)

    def thread(self, ts: str, channel: str = "C1") -> list[dict[str, Any]]:
        return self.fake.thread(channel, ts)


def wait_until(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


@contextmanager
def harness(
    tmp_path: Path,
    replies: list[Any],
    model: ScriptedChatModel | None = None,
    channels: dict[str, Any] | None = None,
    sandbox: Any = None,
    web_url: str | None = None,
    max_attachment_kb: int = 256,
) -> Iterator[Harness]:
    fake, fake_server = start_fake_slack()
    model = model or ScriptedChatModel(replies=replies)
    embedder = HashEmbedder()
    calls: list[Any] = []
    deps = Deps(
        store=FakeStore(DOCS, embedder),  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=2, min_similarity=0.0),
        agent=AgentSettings(plan_internal_tools=True),
        router=KeywordRouter(),
        catalogue=fake_catalogue(tmp_path / "audit.jsonl", calls),
        sandbox=sandbox,
    )
    recorder = TurnRecorder(tmp_path / "turns.sqlite")
    client = build_client(BOT_TOKEN, fake.api_url, rate_limit_retries=2)
    store = SlackStore(tmp_path / "slack.sqlite")
    bot = SlackBot(
        Agent(deps, recorder=recorder),
        client,
        store,
        ChannelConfig(ChannelsFile.model_validate(channels or {})),
        UserDirectory(client, UsersFile(users={"U1": ["sre"], "U2": ["sre"]})),
        docs_base_url="https://docs.example.com/handbook",
        escalation_contact="S0ONCALL",
        workers=2,
        web_url=web_url,
        files=SlackFiles(BOT_TOKEN, fake.api_url, max_attachment_kb),
    )
    server = HttpServer(http_app(build_app(bot, SIGNING_SECRET), bot)).start()
    try:
        with httpx.Client(timeout=10) as http:
            yield Harness(fake, bot, f"http://127.0.0.1:{server.port}/slack/events", http,
                          model, calls)  # fmt: skip
    finally:
        server.stop()
        bot.close()
        store.close()
        recorder.close()
        fake_server.shutdown()


def test_mention_gets_a_threaded_answer_with_citation_links(tmp_path: Path) -> None:
    with harness(tmp_path, [ANSWER]) as h:
        started = time.perf_counter()
        reply = h.send(mention_event("how do I restart the payments api?", "100.1"), "Ev1")
        assert reply.status_code == 200 and time.perf_counter() - started < 3
        h.settle(1)
        [answer] = h.thread("100.1")
        text = answer["blocks"][0]["text"]["text"]
        assert "<https://docs.example.com/handbook/runbooks/payments.md|[1]>" in text
        sources = answer["blocks"][1]["text"]["text"]
        assert sources.startswith("*Sources*") and "Payments runbook › Restart" in sources
        assert {"oncall_helpful", "oncall_deeper", "oncall_escalate"} <= {
            e["action_id"] for e in answer["blocks"][-1]["elements"]
        }
        reactions = [(c.method, c.args["name"]) for c in h.fake.calls if "reactions" in c.method]
        assert reactions == [("reactions.add", "eyes"), ("reactions.remove", "eyes")]
        # the question reached the model as the user's words, without the bot mention
        assert "<@UBOT>" not in str(h.model.calls[0][-1].content)


def test_unsigned_wrongly_signed_and_stale_requests_get_401(tmp_path: Path) -> None:
    with harness(tmp_path, []) as h:
        body = event_body(mention_event("hi", "100.2"), "Ev2")
        plain = h.http.post(h.url, content=body, headers={"Content-Type": "application/json"})
        assert plain.status_code == 401
        assert post_signed(h.http, h.url, body, secret="wrong").status_code == 401
        assert post_signed(h.http, h.url, body, age_s=600).status_code == 401
        challenge = '{"type": "url_verification", "challenge": "abc123", "token": "x"}'
        verified = post_signed(h.http, h.url, challenge)  # Slack checking the request URL
        assert verified.status_code == 200 and "abc123" in verified.text
        time.sleep(0.2)
        assert h.bot.stats["received"] == 0 and h.model.calls == []
        assert not h.fake.called("chat.postMessage")


def test_follow_up_in_the_thread_continues_the_conversation(tmp_path: Path) -> None:
    with harness(tmp_path, [ANSWER, DASHBOARDS]) as h:
        h.send(mention_event("how do I restart the payments api?", "100.3"), "Ev3")
        h.settle(1)
        h.send(mention_event("and after that?", "100.4", thread_ts="100.3"), "Ev4")
        h.settle(2)
        prompt = " ".join(str(m.content) for m in h.model.calls[1])
        assert "kubectl rollout restart" in prompt, "the first answer is in the history"
        thread = h.thread("100.3")
        assert len(thread) == 2 and "Grafana" in thread[1]["text"]
        # Citations are numbered 1..n per answer: the dashboards are this answer's [1].
        assert "<https://wiki.example.com/dashboards|[1]>" in thread[1]["blocks"][0]["text"]["text"]
        turns = h.bot.agent.recorder.turns("slack:C1:100.3")  # type: ignore[union-attr]
        assert [t["question"] for t in turns] == [
            "how do I restart the payments api?",
            "and after that?",
        ]


def test_retries_and_duplicate_events_answer_once_even_after_a_restart(tmp_path: Path) -> None:
    auto = {"channels": {"C1": {"mode": "auto"}}}
    event = mention_event("how do I restart the payments api?", "100.5")
    with harness(tmp_path, [ANSWER], channels=auto) as h:
        assert h.send(event, "Ev5").status_code == 200
        assert h.send(event, "Ev5", retry=1).status_code == 200
        assert h.send(event, "Ev5", retry=2).status_code == 200
        as_message = {**event, "type": "message", "channel_type": "channel"}
        h.send(as_message, "Ev5-message")  # the same message, as the auto channel sees it
        h.settle(4)
        assert len(h.thread("100.5")) == 1 and len(h.model.calls) == 1
        assert h.bot.stats["duplicates"] == 2 and h.bot.stats["ignored"] == 1
    with harness(tmp_path, [ANSWER], channels=auto) as h:  # a restart: same data dir
        h.send(event, "Ev5", retry=3)
        h.settle(1)
        assert h.bot.stats["duplicates"] == 1 and h.model.calls == []


def test_empty_and_oversized_questions_get_a_hint_not_a_turn(tmp_path: Path) -> None:
    with harness(tmp_path, []) as h:
        h.send(mention_event("", "102.1"), "Ev21")
        h.send(mention_event("why? " * 1000, "102.2"), "Ev22")
        h.settle(2)
        assert "Ask me a question after the mention" in h.thread("102.1")[0]["text"]
        assert "the limit is 4000" in h.thread("102.2")[0]["text"]
        assert h.model.calls == []


def test_auto_channel_answers_without_mention_and_follows_its_threads(tmp_path: Path) -> None:
    auto = {"channels": {"C9": {"mode": "auto"}}}
    with harness(tmp_path, [ANSWER, ANSWER], channels=auto) as h:
        plain = {"type": "message", "channel_type": "channel", "user": "U1", "channel": "C9"}
        h.send({**plain, "text": "how do I restart payments?", "ts": "300.1"}, "Ev30")
        h.send({**plain, "text": "other channel", "ts": "300.2", "channel": "C1"}, "Ev31")
        h.settle(2)
        h.send({**plain, "text": "really?", "ts": "300.3", "thread_ts": "300.1"}, "Ev32")
        h.settle(3)
        assert len(h.thread("300.1", "C9")) == 2 and h.bot.stats["ignored"] == 1


def test_feedback_and_escalation_buttons(tmp_path: Path) -> None:
    with harness(tmp_path, [ANSWER]) as h:
        h.send(mention_event("how do I restart the payments api?", "100.6"), "Ev6")
        h.settle(1)
        [answer] = h.thread("100.6")
        h.click(msg.HELPFUL, answer)
        h.settle(2)
        [turn] = h.bot.agent.recorder.turns("slack:C1:100.6")  # type: ignore[union-attr]
        assert '"helpful": true' in turn["feedback"]
        h.click(msg.ESCALATE, answer, user="U2")
        h.settle(3)
        handover = h.thread("100.6")[-1]["text"]
        assert handover.startswith("<!subteam^S0ONCALL> <@U2> asked for a human")
        assert "Hand-over to S0ONCALL: the user asked for a human" in handover
        assert "Question: how do I restart the payments api?" in handover
        assert "runbooks/payments.md" in handover, "best leads are handed over"
        [turn] = h.bot.agent.recorder.turns("slack:C1:100.6")  # type: ignore[union-attr]
        assert '"escalated": true' in turn["feedback"]
        h.click(msg.ESCALATE, answer)
        h.settle(4)
        assert len(h.thread("100.6")) == 2, "a second click does not page again"
        told = [c.args["text"] for c in h.fake.called("chat.postEphemeral")]
        assert told == ["Thanks, noted.", "Already escalated in this thread."]


def test_think_harder_reruns_the_question_deep(tmp_path: Path) -> None:
    deeper = answer_action((1, RESTART, f"Deeper: {RESTART}."))
    with harness(tmp_path, [ANSWER, plan_reply(), deeper]) as h:
        h.send(mention_event("how do I restart the payments api?", "100.7"), "Ev7")
        h.settle(1)
        first = h.thread("100.7")[0]
        h.click(msg.DEEPER, first)
        h.click(msg.DEEPER, first)  # a double click runs it once
        h.settle(3)
        assert len(h.thread("100.7")) == 2 and len(h.model.calls) == 3, "planner, one step"
        deep = h.thread("100.7")[-1]
        assert deep["text"].startswith("Deeper") and "thought it through" in str(deep["blocks"])
        assert "one action" in str(h.model.calls[2][0].content), "the DEEP loop's action step"
        with pytest.raises(AssertionError):
            find_button(deep, msg.DEEPER)  # already deep


def test_approval_buttons_run_or_refuse_the_write(tmp_path: Path) -> None:
    channels = {"channels": {"C1": {"approvers": ["U2"]}}}
    with harness(tmp_path, [WRITE, OPENED], channels=channels) as h:
        h.send(mention_event("open a ticket for the payments 5xx", "100.8"), "Ev8")
        h.settle(1)
        [approval] = h.thread("100.8")
        assert "create_ticket" in approval["text"] and h.tool_calls == []
        h.click(msg.APPROVE, approval, user="U3")  # not an approver here
        h.settle(2)
        assert h.tool_calls == []
        h.click(msg.APPROVE, approval, user="U2")
        h.settle(3)
        assert h.tool_calls == [("create_ticket", TICKET, "slack:U1")], "runs as the asker"
        thread = h.thread("100.8")
        assert thread[0]["text"].startswith(":white_check_mark: Approved by <@U2>")
        assert thread[-1]["text"].startswith("Opened the ticket: create_ticket ok")
        h.click(msg.REJECT, approval, user="U2")
        h.settle(4)
        told = [c.args["text"] for c in h.fake.called("chat.postEphemeral")]
        assert told == [
            "Only the approvers of this channel can decide this.",
            "This action was already decided.",
        ]


def test_a_bystander_cannot_approve_someone_elses_write(tmp_path: Path) -> None:
    """No channel approvers: only the asker decides (the write runs with their rights), or
    members of the tool's approver groups. A channel member in no group cannot."""
    with harness(tmp_path, [WRITE, OPENED, WRITE, OPENED]) as h:
        h.send(mention_event("open a ticket for the payments 5xx", "100.10"), "Ev10")
        h.settle(1)
        [approval] = h.thread("100.10")
        h.click(msg.APPROVE, approval, user="U3")  # in the channel, in no group
        h.click(msg.REJECT, approval, user="U2")  # in a group, but not named an approver
        h.settle(3)
        assert h.tool_calls == [] and "Approved" not in h.thread("100.10")[0]["text"]
        told = [c.args["text"] for c in h.fake.called("chat.postEphemeral")]
        assert told == ["Only <@U1>, who asked, or this action's approvers can decide this."] * 2
        h.click(msg.APPROVE, approval, user="U1")  # the asker
        h.settle(4)
        assert h.tool_calls == [("create_ticket", TICKET, "slack:U1")]

        # A tool with approver groups: their members decide for anyone.
        h.bot.agent.deps.catalogue.tools["create_ticket"].approver_groups = ["sre"]
        h.send(mention_event("open another ticket for payments", "100.11"), "Ev11")
        h.settle(5)
        [second] = h.thread("100.11")
        h.click(msg.APPROVE, second, user="U3")
        h.settle(6)
        assert len(h.tool_calls) == 1
        h.click(msg.APPROVE, second, user="U2")  # sre
        h.settle(7)
        assert h.tool_calls[1] == ("create_ticket", TICKET, "slack:U1"), "runs as the asker"


def test_an_old_approve_button_cannot_approve_a_later_action(tmp_path: Path) -> None:
    """The first request is superseded by a new question in the thread; its Approve button
    must not approve the second, different write (even with the same tool-call id)."""
    other = {"title": "page the whole company now", "severity": "sev1"}
    second = plan_reply(("create_ticket", other))
    with harness(tmp_path, [WRITE, second, OPENED]) as h:
        h.send(mention_event("open a ticket for the payments 5xx", "100.12"), "Ev12")
        h.settle(1)
        [old] = h.thread("100.12")
        h.send(mention_event("actually make the ticket sev1", "100.13", thread_ts="100.12"), "Ev13")
        h.settle(2)
        new = h.thread("100.12")[-1]
        assert "sev1" in new["text"] and new["ts"] != old["ts"]
        h.click(msg.APPROVE, old, user="U1")
        h.settle(3)
        assert h.tool_calls == [], "the old button approved nothing"
        told = [c.args["text"] for c in h.fake.called("chat.postEphemeral")]
        assert told and told[-1].startswith("This approval is no longer current")
        h.click(msg.APPROVE, new, user="U1")
        h.settle(4)
        assert h.tool_calls == [("create_ticket", other, "slack:U1")]


def test_rate_limited_web_api_calls_wait_for_retry_after(tmp_path: Path) -> None:
    with harness(tmp_path, [ANSWER]) as h:
        h.fake.rate_limit("chat.update", times=1, retry_after=1)
        h.send(mention_event("how do I restart the payments api?", "100.9"), "Ev9")
        h.settle(1)
        updates = h.fake.called("chat.update")
        assert [c.status for c in updates[:2]] == [429, 200]
        assert updates[1].at - updates[0].at >= 1.0, "Retry-After was respected"
        [answer] = h.thread("100.9")
        assert answer["text"].startswith("Run kubectl"), "answered once, not twice"


def test_long_answer_is_split_at_slack_limits(tmp_path: Path) -> None:
    """A claim far over the schema's 400 characters (a server without structured output
    does not enforce it), with a long code block: Slack's limits must still hold."""
    paragraph = "Restart the payments api, then restart the payments api again. " * 40
    code = "```\n" + "\n".join([RESTART] * 120) + "\n```"
    long = "\n\n".join([paragraph] * 12 + [code] + [paragraph] * 12)
    with harness(tmp_path, [claims_reply((1, RESTART, long))]) as h:
        h.send(mention_event("how do I restart the payments api?", "101.1"), "Ev11")
        h.settle(1)
        thread = h.thread("101.1")
        assert len(thread) >= 2 and RESTART in thread[0]["text"], "the answer itself, split"
        for message in thread:
            assert len(message["text"]) <= 40_000 and len(message["blocks"]) <= 50
            assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"] if "text" in b)
            for block in message["blocks"]:
                if block["type"] == "section":
                    assert block["text"]["text"].count("```") % 2 == 0, "no half code block"
        assert [bool(m["blocks"][-1]["type"] == "actions") for m in thread][-1]
        assert all(m["blocks"][-1]["type"] != "actions" for m in thread[:-1])


def test_failed_turn_apologises_and_offers_escalation(tmp_path: Path) -> None:
    with harness(tmp_path, [], model=FailingModel()) as h:
        h.send(mention_event("how do I restart the payments api?", "101.2"), "Ev12")
        h.settle(1)
        [apology] = h.thread("101.2")
        assert "did not answer in time" in apology["text"] and "10.0.0.9" not in apology["text"]
        h.click(msg.ESCALATE, apology)
        h.settle(2)
        assert "<!subteam^S0ONCALL>" in h.thread("101.2")[-1]["text"]


def test_code_execution_figures_are_uploaded_to_the_thread(tmp_path: Path) -> None:
    figure = tmp_path / "figure-1.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    question = "plot the error rate: 40 errors in 1000 requests, then 55 in 900"  # a computation
    with harness(tmp_path, [code_reply("plot()")], sandbox=FakeSandbox(figure)) as h:
        h.send(mention_event(question, "101.3"), "Ev13")
        h.settle(1)
        [answer] = h.thread("101.3")
        assert answer["text"].startswith("done") and "Show code" in str(answer["blocks"])
        [complete] = h.fake.called("files.completeUploadExternal")
        assert complete.args["channel_id"] == "C1" and complete.args["thread_ts"] == "101.3"
        assert list(h.fake.uploads.values()) == [108]
