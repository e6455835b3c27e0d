"""`Agent.ask`: the one call front ends make."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from agent.answer import Answer
from agent.approvals import PendingAction, pending_actions
from agent.faults import best_effort, storage_errors
from agent.graph import build_graph
from agent.memory import serializer
from agent.records import TurnRecorder
from agent.state import Deps, Route
from agent.streaming import AgentEvent, TurnEvents
from oncall.core.identity import Principal
from oncall.core.redact import redact_text

MAX_QUESTION_CHARS = 4000


class Agent:
    """A compiled graph bound to its dependencies, memory and turn recorder."""

    def __init__(
        self,
        deps: Deps,
        checkpointer: Any = None,
        recorder: TurnRecorder | None = None,
        approval_timeout_s: float = 900.0,
    ):
        self.deps = deps
        self.recorder = recorder
        self.approval_timeout_s = approval_timeout_s
        # Approvals pause the graph, which needs a checkpointer: in-process memory if the
        # caller gave none (tests, one-off scripts).
        self._checkpointer = checkpointer or InMemorySaver(serde=serializer())
        self._graph = build_graph(self._checkpointer)

    def with_deps(self, deps: Deps) -> Agent:
        """Another agent over `deps` sharing this one's memory, recorder and approval
        timeout (a front end's per-channel tool policy): threads continue across both."""
        return Agent(deps, self._checkpointer, self.recorder, self.approval_timeout_s)

    def ask(
        self,
        question: str,
        thread_id: str | None = None,
        route: Route | None = None,
        user: Principal | None = None,
    ) -> Answer:
        """Answer one question in a thread (new thread if none) for `user` (default: the
        local operator, public docs only); `route` forces DIRECT/DEEP."""
        question = validate_question(question)
        thread_id = thread_id or uuid.uuid4().hex
        started = time.perf_counter()
        deps = self.deps if user is None else replace(self.deps, principal=user)
        with storage_errors():  # disk full: a clear error, earlier turns kept
            for action in self.pending(thread_id):  # a new question instead of an answer
                self._drop(action, deps)
            state = self._graph.invoke(
                {"question": question, "route_override": route},
                config={"configurable": {"thread_id": thread_id}},
                context=deps,
            )
        return self._answer(state, thread_id, started)

    def stream(
        self,
        question: str,
        thread_id: str | None = None,
        route: Route | None = None,
        user: Principal | None = None,
    ) -> Iterator[AgentEvent]:
        """`ask`, live: yields the route decision, tool calls as they start and finish,
        answer tokens as the model writes them, and last an `answer` event with the same
        `Answer` (recorded the same way) that `ask` would have returned. Closing the
        generator early abandons the turn (nothing is recorded)."""
        question = validate_question(question)
        thread_id = thread_id or uuid.uuid4().hex
        started = time.perf_counter()
        deps = self.deps if user is None else replace(self.deps, principal=user)
        for action in self.pending(thread_id):
            self._drop(action, deps)
        config: Any = {"configurable": {"thread_id": thread_id}}
        events = TurnEvents()
        parts = self._graph.stream(
            {"question": question, "route_override": route},
            config=config,
            context=deps,
            stream_mode=["updates", "messages"],
        )
        with storage_errors():
            for mode, chunk in parts:
                yield from events.feed(mode, chunk)
        snapshot = self._graph.get_state(config)
        state = {**snapshot.values, "__interrupt__": snapshot.interrupts}
        yield AgentEvent("answer", answer=self._answer(state, thread_id, started))

    def pending(self, thread_id: str | None) -> list[PendingAction]:
        """Write actions in this thread waiting for a human (normally zero or one)."""
        if not thread_id:
            return []
        snapshot = self._graph.get_state({"configurable": {"thread_id": thread_id}})
        return pending_actions(snapshot, thread_id)

    def resume(
        self, thread_id: str, approved: bool, approver: str, user: Principal | None = None
    ) -> Answer:
        """Answer the pending approval of `thread_id` and continue the turn. `approver` is
        recorded in the audit log; `user` is the original asker (pass the live principal
        so pass-through tokens work; default: the asker as recorded, without a token).
        An approval older than `approval_timeout_s` is recorded as a timeout, not run.
        Works from a fresh process: the pause lives in the checkpointer."""
        actions = self.pending(thread_id)
        if not actions:
            raise ValueError(f"thread {thread_id!r} has no action waiting for approval")
        action = actions[0]
        started = time.perf_counter()
        status = "approved" if approved else "rejected"
        if action.age_s() > self.approval_timeout_s:
            status = "timeout"
        deps = replace(self.deps, principal=user or action.asker())
        return self._answer(self._decide(action, status, approver, deps), thread_id, started)

    def _drop(self, action: PendingAction, deps: Deps) -> None:
        """Record an approval never given: the new input starts a fresh turn and LangGraph
        discards the paused one, so the write never runs."""
        expired = action.age_s() > self.approval_timeout_s
        if deps.catalogue is not None and action.tool in deps.catalogue.tools:
            status = "timeout" if expired else "superseded"
            deps.catalogue.record_decision(action.tool, action.args, action.asker(), status, "-")

    def _decide(self, action: PendingAction, status: str, approver: str, deps: Deps) -> Any:
        with storage_errors():
            return self._graph.invoke(
                Command(resume={"status": status, "approver": approver}),
                config={"configurable": {"thread_id": action.thread_id}},
                context=deps,
            )

    def _answer(self, state: dict[str, Any], thread_id: str, started: float) -> Answer:
        waiting = pending_actions(_Interrupts(state.get("__interrupt__", ())), thread_id)
        timings = dict(state.get("timings_ms", {}))
        timings["total"] = (time.perf_counter() - started) * 1000
        answer = Answer(
            question=state["question"],
            text=state.get("answer", "") if not waiting else "",
            citations=state.get("citations", []),
            hits=state.get("hits", []),
            abstained=state.get("abstained", False),
            thread_id=thread_id,
            route=state["route"],
            route_reason=state.get("route_reason", ""),
            route_confidence=state.get("route_confidence", 1.0),
            tool_calls=state.get("tool_calls", []),
            handover=state.get("handover"),
            timings_ms=timings,
            usage=state.get("usage", {}),
            pending=waiting[0] if waiting else None,
        )
        if self.recorder is not None and not waiting:  # recorded once the turn completes
            try:
                answer.turn_id = self.recorder.record(thread_id, answer)
            except Exception as exc:  # a storage failure: the user still gets the answer
                if not best_effort("turn record", exc):
                    raise
        return answer


@dataclass(frozen=True)
class _Interrupts:
    """Adapts `invoke`'s `__interrupt__` list to the snapshot shape `pending_actions` reads."""

    interrupts: Any


def validate_question(question: str) -> str:
    """The question, stripped, with any secret pasted into it cut (oncall/core/redact.py) before
    it is sent to the model or stored; empty and over-long questions raise `ValueError`."""
    question = question.strip()
    if not question:
        raise ValueError("the question is empty: ask something, e.g. oncall ask 'how do I ...'")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(
            f"the question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}. "
            "Shorten it, or put long logs in a file and ask about the relevant part"
        )
    return redact_text(question)


def answer_question(question: str, deps: Deps, route: Route | None = None) -> Answer:
    """One question, no memory, no recording (tests and one-off scripts)."""
    return Agent(deps).ask(question, route=route)
