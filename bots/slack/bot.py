"""The bot's behaviour, whatever transport delivers the events (HTTP or Socket Mode).

Bolt listeners acknowledge first and then hand the event here; `on_event` (and
`actions.on_click` for buttons) only decide and enqueue (milliseconds), so the 3-second
ack never waits for the agent.
Answers run on a bounded worker pool, one turn at a time per Slack thread (LangGraph
memory is per thread, and two overlapping turns in one thread would interleave).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackApiError

from agent.escalation import build_handover, handover_text
from agent.service import Agent, Answer, validate_question
from agent.state import AgentState, Handover, Route
from bots.attachments import AttachmentRefused
from bots.slack import messages as msg
from bots.slack.config import ChannelConfig, ChannelPolicy, UserDirectory, mention
from bots.slack.files import SlackFiles, shared_files
from bots.slack.formatting import escape
from bots.slack.progress import StatusMessage, explain_failure
from bots.slack.question import Question
from bots.slack.recovery import JobKeeper, job_payload
from oncall.appstate import Leases, MemoryLeases, SlackState, hold

log = logging.getLogger(__name__)

WORKING = "eyes"  # reaction on the question while the agent works
_ALLOWED_SUBTYPES = (None, "file_share", "thread_broadcast")
_LOCK_STRIPES = 64
TURN_WAIT_S = 600.0  # a turn waits this long for another worker's turn in its thread


class SlackBot:
    """Turns Slack events and button clicks into agent turns and thread messages."""

    def __init__(
        self,
        agent: Agent,
        client: Any,
        store: SlackState,
        channels: ChannelConfig | None = None,
        directory: UserDirectory | None = None,
        docs_base_url: str | None = None,
        escalation_contact: str = "the on-call engineer",
        workers: int = 4,
        leases: Leases | None = None,
        lease_s: float = 30.0,
        web_url: str | None = None,
        files: SlackFiles | None = None,
    ):
        self.agent = agent
        self.client = client
        self.store = store
        self.channels = channels or ChannelConfig()
        self.directory = directory or UserDirectory(client)
        self.docs_base_url = docs_base_url
        self.web_url = web_url  # the web chat: file citations open its document view
        self.files = files or SlackFiles.for_client(client, 256)
        self.escalation_contact = escalation_contact
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="slack-turn")
        self._pending: set[Future[None]] = set()
        self._pending_lock = threading.Lock()
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        self._agents: dict[frozenset[str] | None, Agent] = {None: agent}
        self.leases: Leases = leases or MemoryLeases()  # shared: one turn per thread, fleet-wide
        self.lease_s = lease_s
        self._keeper: JobKeeper | None = None

    # --- intake: called from bolt listeners after ack(); must return at once ---------------

    def on_event(self, event: dict[str, Any], event_id: str, bot_user_id: str | None) -> bool:
        """Take a message or app_mention event if it is a question for the bot and not a
        duplicate (retry, or the same message seen as both event types). True if taken."""
        question = self._question(event, bot_user_id)
        key = f"event:{event_id}"
        taken = question is not None and self.store.claim(
            key, f"msg:{question.channel}:{question.ts}",
            job=job_payload(question, None), lease_s=self.lease_s,
        )  # fmt: skip
        if question is None:
            self.count("ignored")
        elif not taken:
            self.count("duplicates")
        else:
            self.count("questions")
            self.submit(self.answer_job, key, question, None)
        self.count("received")  # last: once counted, the turn is queued (tests wait on it)
        return taken

    def count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def _question(self, event: dict[str, Any], bot_user_id: str | None) -> Question | None:
        if event.get("subtype") not in _ALLOWED_SUBTYPES or event.get("bot_id"):
            return None  # edits, joins, other bots (never answer a bot: loops)
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        if not (user and channel and ts):
            return None
        raw = str(event.get("text", ""))
        bot_tag = f"<@{bot_user_id}>" if bot_user_id else None
        text = raw.replace(bot_tag, " ").strip() if bot_tag else raw.strip()
        question = Question(
            channel, user, re.sub(r"\s+", " ", text), ts, event.get("thread_ts") or ts,
            shared_files(event),
        )  # fmt: skip
        if event.get("type") == "app_mention" or event.get("channel_type") == "im":
            return question
        if bot_tag and bot_tag in raw:
            return None  # the app_mention event for this message does it
        if self.channels.policy(channel).mode != "auto":
            return None
        top_level = question.thread_ts == ts
        return question if top_level or self.store.has_thread(question.thread_id) else None

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                fn(*args)
            except Exception:  # a worker must never die silently
                self.count("errors")
                log.exception("Slack job %s failed", getattr(fn, "__name__", fn))

        future = self._pool.submit(run)
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Block until every queued turn and click is handled (tests, benchmarks)."""
        with self._pending_lock:
            pending = set(self._pending)
        return not wait(pending, timeout=timeout_s).not_done

    def start_recovery(self) -> None:
        """Renew this worker's claimed questions and answer those a dead worker left
        (bots/slack/recovery.py), on a daemon thread until `close`."""
        if self._keeper is None:
            self._keeper = JobKeeper(self.store, self.lease_s, self._adopt).start()

    def _adopt(self, key: str, question: Question, route: Route | None) -> None:
        self.count("recovered")
        self.submit(self.answer_job, key, question, route)

    def close(self) -> None:
        """Finish the turns under way; questions still queued are handed back at once
        (another worker, or this one after a restart, answers them)."""
        if self._keeper is not None:
            self._keeper.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.files.close()
        try:
            self.store.release_jobs()
        except Exception as exc:  # the store is gone: the leases lapse on their own
            log.warning("could not hand back open Slack questions: %s", exc)

    # --- answering ---------------------------------------------------------------------

    def answer_job(self, key: str, q: Question, route: Route | None) -> None:
        """`answer` a claimed question, then forget it (answered, or apologised for)."""
        try:
            self.answer(q, route)
        finally:
            self.store.finish_job(key)

    def answer(self, q: Question, route: Route | None) -> None:
        """One turn: :eyes: on the question, a status message, the answer in its place."""
        policy = self.channels.policy(q.channel)
        with self.thread_lock(q.thread_id):
            self.call("reactions_add", channel=q.channel, timestamp=q.ts, name=WORKING)
            status = StatusMessage(self.status_sender(q.channel, q.thread_ts))
            status.show("Got it, working on it…", force=True)
            try:
                self._turn(q, route, policy, status)
            except Exception as exc:
                self.count("failed_turns")
                self.apologise(exc, q, policy, status)
            finally:
                self.call("reactions_remove", channel=q.channel, timestamp=q.ts, name=WORKING)

    def _turn(
        self, q: Question, route: Route | None, policy: ChannelPolicy, status: StatusMessage
    ) -> None:
        try:
            validate_question(q.text)
        except ValueError as exc:  # empty, or longer than the agent takes
            self.finish(status, q, msg.notice(f":warning: {exc}" if q.text else _EMPTY_QUESTION))
            return
        try:
            attachments = self.files.attachments(q.files)
        except AttachmentRefused as exc:  # not text, too large, gone: say so, run nothing
            self.finish(status, q, msg.notice(f":warning: {escape(str(exc))}"))
            return
        user = self.directory.principal(q.user, policy)
        answer = None
        turn = self.agent_for(policy).stream(q.text, q.thread_id, route, user, attachments)
        for event in turn:
            if event.answer is not None:
                answer = event.answer
            else:
                status.on_event(event)
        if answer is None:
            raise RuntimeError("the agent's stream ended without an answer")
        self.deliver(answer, q, policy, status)

    @contextlib.contextmanager
    def thread_lock(self, thread_id: str) -> Iterator[None]:
        """One turn at a time per conversation: in this process (striped locks: bounded
        memory) and across workers (a lease, waited for while another worker answers)."""
        with (
            self._locks[hash(thread_id) % _LOCK_STRIPES],
            hold(self.leases, f"slack-turn:{thread_id}", TURN_WAIT_S),
        ):
            yield

    def agent_for(self, policy: ChannelPolicy) -> Agent:
        """The agent with this channel's tool allowance (sharing memory and records)."""
        key = frozenset(policy.tools) if policy.tools is not None else None
        with self._stats_lock:
            if key not in self._agents:
                deps = replace(self.agent.deps, allowed_tools=key)
                self._agents[key] = self.agent.with_deps(deps)
            return self._agents[key]

    def deliver(
        self, answer: Answer, q: Question, policy: ChannelPolicy, status: StatusMessage
    ) -> None:
        self.store.add_thread(q.thread_id)
        base = {"channel": q.channel, "thread_ts": q.thread_ts, "thread_id": q.thread_id}
        if answer.pending is not None:
            ref = self.store.put_ref(
                {**base, "kind": "approval", "asker": q.user,
                 "action_id": answer.pending.action_id}
            )  # fmt: skip
            self.finish(status, q, msg.approval_message(answer.pending, ref))
            return
        contact = self.contact(policy)
        handover = _handover(answer, self.escalation_contact)  # a name; the mention leads
        ref = self.store.put_ref(
            {**base, "kind": "answer", "asker": q.user, "question": answer.question,
             "turn_id": answer.turn_id, "handover": handover_text(handover),
             "computation": msg.computation_ref(answer.computation)}
        )  # fmt: skip
        parts = msg.answer_messages(
            answer, ref, self.docs_base_url, mention(contact), web_url=self.web_url
        )
        self.finish(status, q, parts[0])
        for part in parts[1:]:
            self.post(q.channel, q.thread_ts, part)
        self._upload_files(answer, q)
        self.count("answers")

    def _upload_files(self, answer: Answer, q: Question) -> None:
        """Code-execution figures (run_python PNGs) into the thread, in one upload."""
        paths = [Path(f) for call in answer.tool_calls for f in call.files if Path(f).is_file()]
        if paths:
            uploads = [{"file": str(p), "title": p.name} for p in paths]
            self.call(
                "files_upload_v2", file_uploads=uploads, channel=q.channel, thread_ts=q.thread_ts
            )

    def apologise(
        self, exc: Exception, q: Question, policy: ChannelPolicy, status: StatusMessage
    ) -> None:
        problem, what_to_do = explain_failure(exc)
        contact = self.contact(policy)
        handover = f"Hand-over to {contact}: the agent failed ({problem})\nQuestion: {q.text}"
        ref = self.store.put_ref(
            {"channel": q.channel, "thread_ts": q.thread_ts, "thread_id": q.thread_id,
             "kind": "failure", "asker": q.user, "question": q.text, "turn_id": None,
             "handover": handover}
        )  # fmt: skip
        self.finish(status, q, msg.apology_message(problem, what_to_do, ref, mention(contact)))

    def contact(self, policy: ChannelPolicy) -> str:
        return policy.escalate_to or self.escalation_contact

    # --- Slack calls -------------------------------------------------------------------

    def call(self, method: str, **kwargs: Any) -> dict[str, Any] | None:
        """One Web API call (429s are retried by the client after Retry-After); a refusal
        is logged and returned as None, so one failed reaction never loses an answer."""
        try:
            return dict(getattr(self.client, method)(**kwargs).data)
        except SlackApiError as exc:
            self.count(f"slack_error:{method}")
            log.warning("Slack %s failed: %s", method, exc.response.get("error"))
            return None

    def post(self, channel: str, thread_ts: str, message: msg.Message) -> str | None:
        sent = self.call("chat_postMessage", channel=channel, thread_ts=thread_ts, **message)
        return sent.get("ts") if sent else None

    def status_sender(self, channel: str, thread_ts: str) -> Callable[..., str | None]:
        def send(message: msg.Message, ts: str | None) -> str | None:
            if ts is None:
                return self.post(channel, thread_ts, message)
            self.call("chat_update", channel=channel, ts=ts, **message)
            return ts

        return send

    def finish(self, status: StatusMessage, q: Question, message: msg.Message) -> None:
        """Put the final message where the status message is (or post it, if none)."""
        if status.ts is None or not self.call(
            "chat_update", channel=q.channel, ts=status.ts, **message
        ):
            self.post(q.channel, q.thread_ts, message)


def _handover(answer: Answer, contact: str) -> Handover:
    """What Escalate hands over: the agent's own hand-over when it gave up, else one built
    from the turn (the user decided the answer was not enough), addressed to `contact`."""
    if answer.handover is not None:
        return replace(answer.handover, contact=contact)
    turn: AgentState = {
        "question": answer.question,
        "escalate_requested": True,
        "tool_calls": answer.tool_calls,
        "hits": answer.hits,
        "answer": answer.text,
    }
    return build_handover(turn, contact)


_EMPTY_QUESTION = (
    "Ask me a question after the mention, e.g. `@oncall how do I roll back payments-api?`"
)
