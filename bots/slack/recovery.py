"""Questions a worker took but did not answer are not lost with it.

Slack sees an acknowledged event as delivered and never sends it again, so a worker that
dies between the ack and the answer (a crash, an OOM kill, a node drained without grace)
would silently drop the question. The claim that deduplicates an event therefore also
stores the question, leased to the worker that took it (`SlackState.claim(job=...)`). Each
worker's `JobKeeper` renews its leases every third of `lease_s`; once a worker has stopped
renewing for `lease_s`, the next keeper to look takes its questions over and answers them.
A question that killed two workers in turn is dropped on the third (logged), so one
poisonous message cannot take the whole fleet down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bots.slack.files import SharedFile
from bots.slack.question import Question
from oncall.appstate import SlackState

log = logging.getLogger(__name__)


def job_payload(question: Question, route: str | None) -> dict[str, Any]:
    """What a stored question holds (JSON): enough to ask it again."""
    return {**asdict(question), "route": route}


def question_from(job: dict[str, Any]) -> tuple[Question, Any]:
    fields = {k: str(job[k]) for k in ("channel", "user", "text", "ts", "thread_ts")}
    files = tuple(SharedFile(**f) for f in job.get("files") or [])
    return Question(**fields, files=files), job.get("route")


class JobKeeper:
    """A daemon thread: renew this worker's leases, adopt the orphans of dead workers and
    hand each to `adopt(key, question, route)` (the bot queues it like a new question)."""

    def __init__(
        self, store: SlackState, lease_s: float, adopt: Callable[[str, Question, Any], None]
    ):
        self.store = store
        self.lease_s = lease_s
        self.adopt = adopt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slack-jobs", daemon=True)

    def start(self) -> JobKeeper:
        self._thread.start()
        return self

    def tick(self) -> int:
        """One round (also called by tests): returns how many questions were taken over."""
        self.store.renew_jobs(self.lease_s)
        taken = self.store.take_orphans(self.lease_s)
        for key, job in taken:
            question, route = question_from(job)
            log.warning("answering %s, left unanswered by a worker that stopped", key)
            self.adopt(key, question, route)
        return len(taken)

    def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception as exc:  # the database blinked: the next round retries
                log.warning("Slack job keeper: %s", exc)
            if self._stop.wait(self.lease_s / 3):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
