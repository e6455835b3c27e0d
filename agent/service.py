"""`Agent.ask`: the one call front ends make."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from agent.answer import Answer
from agent.approvals import PendingAction, may_decide, pending_actions
from agent.faults import best_effort, storage_errors
from agent.graph import build_graph
from agent.memory import serializer
from agent.pasted import Attachment
from agent.records import TurnRecorder
from agent.state import Deps, Route
from agent.streaming import AgentEvent, TurnEvents
from oncall.core.errors import OncallError
from oncall.core.identity import Principal

# Re-exported: front ends and tests import them from here (checked in oncall/core/questions.py).
from oncall.core.questions import MAX_QUESTION_CHARS as MAX_QUESTION_CHARS
from oncall.core.questions import validate_question as validate_question


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
        attachments: Sequence[Attachment] = (),
    ) -> Answer:
        """Answer one question in a thread (new thread if none) for `user` (default: the
        local operator, public docs only); `route` forces DIRECT/DEEP; `attachments` are
        data files for a computation (handed to the sandbox as files)."""
        question = validate_question(question)
        thread_id = thread_id or uuid.uuid4().hex
        started = time.perf_counter()
        deps = self.deps if user is None else replace(self.deps, principal=user)
        with storage_errors():  # disk full: a clear error, earlier turns kept
            for action in self.pending(thread_id):  # a new question instead of an answer
                self._drop(action, deps)
            state = self._graph.invoke(
                _turn_input(question, route, attachments),
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
        attachments: Sequence[Attachment] = (),
        cancel: threading.Event | None = None,
    ) -> Iterator[AgentEvent]:
        """`ask`, live: yields the route decision, each node as it starts, searches and
        tool calls as they start and finish, answer tokens as the model writes them, and
        last an `answer` event with the same `Answer` (recorded the same way) that `ask`
        would have returned (event names: agent/streaming.py).

        Setting `cancel` stops the turn: at the next token the model stream is closed (the
        LLM server stops generating), at the latest before the next node; the generator
        then yields `cancelled` and ends, nothing is recorded, and the thread takes the
        next question as usual. Closing the generator early also abandons the turn."""
        question = validate_question(question)
        thread_id = thread_id or uuid.uuid4().hex
        started = time.perf_counter()
        deps = self.deps if user is None else replace(self.deps, principal=user)
        for action in self.pending(thread_id):
            self._drop(action, deps)
        config: Any = {"configurable": {"thread_id": thread_id}}
        if cancel is not None:
            config["callbacks"] = [_CancelWatch(cancel)]
        events = TurnEvents()
        parts = self._graph.stream(
            _turn_input(question, route, attachments),
            config=config,
            context=deps,
            stream_mode=["tasks", "updates", "messages", "custom"],
        )
        try:
            with storage_errors():
                for mode, chunk in parts:
                    if cancel is not None and cancel.is_set():
                        raise TurnCancelled
                    yield from events.feed(mode, chunk)
        except TurnCancelled:
            parts.close()
            yield AgentEvent("cancelled")
            return
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
        self,
        thread_id: str,
        approved: bool,
        approver: str,
        user: Principal | None = None,
        *,
        action_id: str | None = None,
        decider: Principal | None = None,
        approver_ids: Collection[str] = (),
    ) -> Answer:
        """Answer the pending approval of `thread_id` and continue the turn. `approver` is
        recorded in the audit log; `user` is the original asker (pass the live principal
        so pass-through tokens work; default: the asker as recorded, without a token).
        The decision is checked first (`check_decision`): front ends where someone other
        than the asker can click pass `decider` and the `action_id` they showed.
        An approval older than `approval_timeout_s` is recorded as a timeout, not run.
        Works from a fresh process: the pause lives in the checkpointer."""
        action = self.check_decision(thread_id, approved, decider or user, action_id, approver_ids)
        started = time.perf_counter()
        status = "approved" if approved else "rejected"
        if action.age_s() > self.approval_timeout_s:
            status = "timeout"
        deps = replace(self.deps, principal=user or action.asker())
        return self._answer(self._decide(action, status, approver, deps), thread_id, started)

    def check_decision(
        self,
        thread_id: str,
        approved: bool,
        decider: Principal | None = None,
        action_id: str | None = None,
        approver_ids: Collection[str] = (),
    ) -> PendingAction:
        """The action a decision applies to, if `decider` (default: the asker) may make it
        (agent/approvals.py `may_decide`). Raises ValueError when nothing waits,
        `approval_stale` when `action_id` names an action that is no longer the one
        waiting, `approval_refused` when the rule says no."""
        actions = self.pending(thread_id)
        if not actions:
            raise ValueError(f"thread {thread_id!r} has no action waiting for approval")
        action = actions[0]
        if action_id is not None and action_id != action.action_id:
            raise OncallError(
                "approval_stale",
                "this approval is no longer current: the request it was shown for was "
                "answered or replaced; decide on the latest one",
            )
        tool = self.deps.catalogue.tools.get(action.tool) if self.deps.catalogue else None
        groups = tool.approver_groups if tool is not None else ()
        if not may_decide(action, decider or action.asker(), approved, groups, approver_ids):
            named = ", ".join([*groups, *approver_ids]) or f"the asker ({action.requested_by})"
            raise OncallError(
                "approval_refused",
                f"you may not {'approve' if approved else 'reject'} {action.tool} for "
                f"{action.requested_by_name or action.requested_by}; approvers: {named}",
            )
        return action

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
            computation=state.get("computation"),
            dropped=list(state.get("dropped", [])),
            llm_steps=list(state.get("llm_steps", [])),
            mode=state.get("mode", "docs"),
        )
        if self.recorder is not None and not waiting:  # recorded once the turn completes
            try:
                answer.turn_id = self.recorder.record(thread_id, answer)
            except Exception as exc:  # a storage failure: the user still gets the answer
                if not best_effort("turn record", exc):
                    raise
        return answer


class TurnCancelled(Exception):
    """The asker stopped the turn (`Agent.stream(cancel=...)`)."""


class _CancelWatch(BaseCallbackHandler):
    """Raises `TurnCancelled` inside the graph run once `cancel` is set: on the next model
    token (which closes the model's HTTP stream, so the server stops generating) or when
    the next node or model call starts. `raise_error`: LangChain otherwise only logs
    exceptions raised by callbacks."""

    raise_error = True

    def __init__(self, cancel: threading.Event):
        self.cancel = cancel

    def _check(self) -> None:
        if self.cancel.is_set():
            raise TurnCancelled("stopped by the user")

    def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        self._check()

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self._check()

    def on_llm_start(self, serialized: Any, prompts: Any, **kwargs: Any) -> None:
        self._check()

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self._check()


@dataclass(frozen=True)
class _Interrupts:
    """Adapts `invoke`'s `__interrupt__` list to the snapshot shape `pending_actions` reads."""

    interrupts: Any


def _turn_input(
    question: str, route: Route | None, attachments: Sequence[Attachment]
) -> dict[str, Any]:
    files = [{"name": a.name, "content": a.content} for a in attachments]
    return {"question": question, "route_override": route, "attachments": files}


def answer_question(question: str, deps: Deps, route: Route | None = None) -> Answer:
    """One question, no memory, no recording (tests and one-off scripts)."""
    return Agent(deps).ask(question, route=route)
