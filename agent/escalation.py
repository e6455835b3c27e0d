"""Hand-over to the human on call: when to do it and what to give them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from agent.state import Handover

if TYPE_CHECKING:
    from agent.state import AgentState

MAX_LEADS = 3

_ASK_HUMAN = re.compile(
    r"\b(escalate|page (a|the) (human|on-?call)|talk to (a|the) human|get (a|the) human)\b"
    r"|转人工|找值班",
    re.IGNORECASE,
)


def wants_human(question: str) -> bool:
    """The user explicitly asks for a person ("escalate", "page the on-call", "转人工")."""
    return bool(_ASK_HUMAN.search(question))


def build_handover(state: AgentState, contact: str) -> Handover:
    """Summarise the turn for a person: question, why, what was searched, best leads."""
    if state.get("escalate_requested"):
        reason = "the user asked for a human"
    elif state.get("abstained"):
        reason = "the docs I can search do not answer this"
    else:
        reason = "no retrieved document supports my answer"
    calls = state.get("tool_calls", [])
    # Only what really ran: a refused or failed call searched nothing and obtained nothing.
    searched = [str(c.args.get("query", "")) for c in calls if c.ok and c.name == "search_docs"]
    if not any(c.name == "search_docs" for c in calls):
        searched = [state["question"]]  # DIRECT and the computation path search the question
    obtained = [_result_line(h) for h in state.get("hits", []) if h.chunk_id.startswith("tool:")]
    leads = []
    for hit in state.get("hits", []):
        if hit.chunk_id.startswith("tool:"):
            continue
        if hit.location not in leads:
            leads.append(hit.location)
        if len(leads) == MAX_LEADS:
            break
    return Handover(
        question=state["question"],
        reason=reason,
        searched=list(dict.fromkeys(q for q in searched if q)),
        leads=leads,
        attempt=state.get("answer", ""),
        contact=contact,
        obtained=[o for o in obtained if not o.endswith(": error")],
    )


def _result_line(hit: Any) -> str:
    """`tool(args): first line of its result`, or `...: error` for a failed call."""
    first = " ".join(hit.text.split())[:160]
    return f"{hit.location}: {'error' if first.startswith('error:') else first}"


def handover_text(handover: Handover) -> str:
    """Plain-text hand-over, ready to paste into a channel or a ticket."""
    lines = [
        f"Hand-over to {handover.contact}: {handover.reason}.",
        f"Question: {handover.question}",
        "Searched: " + "; ".join(f'"{q}"' for q in handover.searched),
    ]
    if handover.obtained:
        lines.append("Tool results: " + "; ".join(handover.obtained))
    if handover.leads:
        lines.append("Best leads: " + "; ".join(handover.leads))
    if handover.attempt:
        lines.append(f"My attempt: {handover.attempt}")
    return "\n".join(lines)
