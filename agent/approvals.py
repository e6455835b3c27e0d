"""Human approval of write tools: the graph pauses with LangGraph's `interrupt()`.

A write (opening a ticket, silencing an alert) never runs on the model's word alone, and
so never on the word of a retrieved document either: whatever the text said, the call
stops here until a person answers. The pause is a checkpointed interrupt, so the question
survives a restart and any front end can answer it later with `Agent.resume`.

The interrupt carries a plain-JSON payload (the pending action); the resume value is a
plain-JSON decision. Both are what Slack/web buttons need to render and send back.

Who decides (`may_decide`, enforced by `Agent.resume` for every front end):
- Each pending action has its own random `action_id`. A decision names the action it was
  shown for; a button from an earlier, superseded request never decides a later one.
- Approving: when approvers are named, only they approve: members of the tool's
  `approver_groups` (catalogue) and the users a front end names (a Slack channel's
  `approvers`). When none are named, only the asker approves their own write, which runs
  with the asker's rights. Nobody else ever does: a bystander cannot approve for you.
- Rejecting: anyone who may approve, and always the asker (withdrawing their request).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.types import interrupt

from agent.state import Deps
from oncall.core.identity import Principal
from oncall.core.text import printable

APPROVAL_KIND = "tool_approval"
Decision = Literal["approved", "rejected", "timeout", "superseded"]


@dataclass(frozen=True)
class PendingAction:
    """A write waiting for a human: what to show next to Approve / Reject."""

    thread_id: str
    call_id: str
    tool: str
    args: dict[str, Any]
    description: str
    requested_by: str  # user id of the asker
    requested_by_name: str
    requested_groups: list[str]
    requested_at: float  # epoch seconds
    question: str
    action_id: str = ""  # unique per pending action: what a decision must name

    def asker(self) -> Principal:
        """The asker as recorded (no token: front ends pass the live principal if they
        have it, so pass-through credentials never sit in the checkpoint)."""
        return Principal(
            self.requested_by, frozenset(self.requested_groups), self.requested_by_name
        )

    def age_s(self, now: float | None = None) -> float:
        return (now if now is not None else time.time()) - self.requested_at


def approval_payload(
    call: dict[str, Any], description: str, deps: Deps, question: str
) -> dict[str, Any]:
    """The interrupt payload for one write call (JSON only: it is checkpointed)."""
    who = deps.principal
    return {
        "kind": APPROVAL_KIND,
        # Random, not the model's call id: small models reuse ids like "call_0", and an old
        # button must never match a later action.
        "action_id": uuid.uuid4().hex,
        "call_id": call["id"],
        "tool": call["name"],
        "args": call["args"],
        "description": description,
        "requested_by": who.user_id,
        "requested_by_name": who.name,
        "requested_groups": sorted(who.groups),
        "requested_at": time.time(),
        "question": question,
    }


def request_approvals(
    writes: list[tuple[dict[str, Any], str]], deps: Deps, question: str
) -> dict[str, dict[str, Any]]:
    """A decision for every write call (`writes`: (call, tool description) pairs), asked
    one at a time. On the first run each `interrupt()` pauses the graph; on resume
    LangGraph re-runs the node and each `interrupt()` returns its answer in order, so this
    must run before any tool does (nothing before it may have side effects)."""
    decisions: dict[str, dict[str, Any]] = {}
    for call, description in writes:
        answer = interrupt(approval_payload(call, description, deps, question))
        decisions[call["id"]] = decision_from(answer)
    return decisions


def decision_from(answer: Any) -> dict[str, Any]:
    """A resume value normalised; anything that is not an explicit approval rejects."""
    if isinstance(answer, dict):
        status = answer.get("status")
        if status not in ("approved", "rejected", "timeout", "superseded"):
            status = "approved" if answer.get("approved") is True else "rejected"
        return {"status": status, "approver": str(answer.get("approver") or "unknown")}
    return {"status": "approved" if answer is True else "rejected", "approver": "unknown"}


def rejection_message(tool: str, decision: dict[str, Any]) -> str:
    """What the model reads instead of a result (it should tell the user, not retry)."""
    reasons = {
        "rejected": f"{decision['approver']} rejected it",
        "timeout": "nobody approved it in time",
        "superseded": "the user asked something else instead of approving it",
    }
    reason = reasons.get(decision["status"], "it was not approved")
    return f"{tool} was NOT run: {reason}. Tell the user it was not done; do not retry it."


def pending_actions(snapshot: Any, thread_id: str) -> list[PendingAction]:
    """The approval interrupts waiting in a thread's state snapshot, oldest first."""
    found = []
    for item in getattr(snapshot, "interrupts", ()) or ():
        value = getattr(item, "value", None)
        if isinstance(value, dict) and value.get("kind") == APPROVAL_KIND:
            found.append(
                PendingAction(
                    thread_id=thread_id,
                    call_id=str(value["call_id"]),
                    tool=str(value["tool"]),
                    args=dict(value["args"]),
                    description=str(value.get("description", "")),
                    requested_by=str(value["requested_by"]),
                    requested_by_name=str(value.get("requested_by_name", "")),
                    requested_groups=list(value.get("requested_groups", [])),
                    requested_at=float(value["requested_at"]),
                    question=str(value.get("question", "")),
                    # Checkpoints from before action ids: still unique enough to bind to.
                    action_id=str(
                        value.get("action_id") or f"{value['call_id']}@{value['requested_at']}"
                    ),
                )
            )
    return found


def may_decide(
    action: PendingAction,
    decider: Principal,
    approved: bool,
    approver_groups: Collection[str] = (),
    approver_ids: Collection[str] = (),
) -> bool:
    """The approval rule (module docstring): may `decider` approve (`approved`) or reject
    `action`? `approver_groups` are the tool's, `approver_ids` the user ids a front end
    names; with neither, only the asker approves."""
    is_asker = decider.user_id == action.requested_by
    if not approved and is_asker:
        return True  # withdrawing one's own request is always allowed
    if approver_groups or approver_ids:
        return decider.user_id in approver_ids or bool(set(approver_groups) & decider.groups)
    return is_asker


def pending_text(action: PendingAction) -> str:
    """Plain-text rendering for terminals and chat messages (pure). Arguments are the
    model's words and names come from outside: control characters never reach the reader."""
    args = "\n".join(f"  {printable(k)}: {printable(v)}" for k, v in action.args.items())
    who = printable(action.requested_by_name or action.requested_by)
    summary = action.description.splitlines()[0] if action.description else "no description"
    return (
        f"The agent wants to run a write action for {who}:\n"
        f"{printable(action.tool)}\n{args or '  (no arguments)'}\n({printable(summary)})"
    )
