"""Running one step's tool calls: approvals for writes, refusals, the pool, the audit.

`run_calls` is what the graph's `act` node does, minus the state bookkeeping: writes wait
for a human (LangGraph `interrupt()`, so it must run before any tool does), calls past the
per-step cap or already made this turn are refused, the rest run in parallel. Every call
comes back as a `CallResult`; the caller turns results into evidence.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from agent.actions import call_key
from agent.approvals import rejection_message, request_approvals
from agent.state import Deps, ToolCallRecord
from agent.tooling import Tool, ToolOutput, execute_tool_call, tools_for
from oncall.core.errors import ToolError
from oncall.llm.toolcalls import MALFORMED

REPEATED = "this exact call was already made; its result is above"


@dataclass(frozen=True)
class CallResult:
    call: dict[str, Any]
    record: ToolCallRecord
    output: ToolOutput | None  # None when refused or failed
    error: str = ""

    refused: bool = False  # never ran: past the cap, a repeat, malformed arguments

    @property
    def repeated(self) -> bool:
        return self.error == REPEATED


def run_calls(
    deps: Deps, calls: list[dict[str, Any]], done: list[ToolCallRecord], question: str
) -> list[CallResult]:
    """Run `calls` for the asker in `deps` (module docstring). `done`: this turn's calls so
    far (a repeat is refused, not run again)."""
    cap = deps.agent_settings.max_tool_calls_per_step
    offered = {t.name: t for t in tools_for(deps)}
    writes = _writes_to_approve(calls[:cap], offered)
    decisions = request_approvals(writes, deps, question)
    _audit_decisions(deps, writes, decisions)
    made = {call_key(c.name, c.args) for c in done if c.ok}

    def run_one(index_call: tuple[int, dict[str, Any]]) -> CallResult:
        index, call = index_call
        started = time.perf_counter()
        try:
            _check(call, index, len(calls), cap, made)
        except ToolError as exc:
            record = ToolCallRecord(call["name"], call["args"], False, _ms(started), [])
            return CallResult(call, record, None, str(exc), refused=True)
        try:
            decision = decisions.get(call["id"])
            if decision is not None and decision["status"] != "approved":
                raise ToolError(rejection_message(call["name"], decision))
            out = execute_tool_call(deps, call["name"], call["args"], approved=decision is not None)
        except ToolError as exc:
            record = ToolCallRecord(call["name"], call["args"], False, _ms(started), [])
            return CallResult(call, record, None, str(exc))
        record = ToolCallRecord(
            call["name"],
            call["args"],
            True,
            _ms(started),
            [h.chunk_id for h in out.hits],
            [str(f) for f in out.files],
        )
        return CallResult(call, record, out)

    with ThreadPoolExecutor(max_workers=deps.agent_settings.max_parallel_tools) as pool:
        return list(pool.map(run_one, enumerate(calls)))


def _check(call: dict[str, Any], index: int, total: int, cap: int, made: set[str]) -> None:
    """Refuse a call whose arguments did not parse, one past the per-step cap, or a repeat."""
    if MALFORMED in call["args"]:
        raise ToolError(
            f"the arguments of this {call['name']} call are not a valid JSON object "
            f"({call['args'][MALFORMED]})"
        )
    if index >= cap:
        raise ToolError(f"not run: {total} tool calls in one step, at most {cap} run")
    if call_key(call["name"], call["args"]) in made:
        raise ToolError(REPEATED)


def _writes_to_approve(
    calls: list[dict[str, Any]], tools: dict[str, Tool]
) -> list[tuple[dict[str, Any], str]]:
    """(call, description) for each write call with valid arguments: invalid ones are
    refused without bothering a human."""
    writes = []
    for call in calls:
        tool = tools.get(call["name"])
        if tool is None or not tool.write or MALFORMED in call["args"]:
            continue
        try:
            tool.args_model.model_validate(call["args"])
        except ValueError:
            continue
        writes.append((call, tool.args_model.__doc__ or ""))
    return writes


def _audit_decisions(
    deps: Deps, writes: list[tuple[dict[str, Any], str]], decisions: dict[str, dict[str, Any]]
) -> None:
    if deps.catalogue is None:
        return
    for call, _ in writes:
        decision = decisions[call["id"]]
        deps.catalogue.record_decision(
            call["name"], call["args"], deps.principal, decision["status"], decision["approver"]
        )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
