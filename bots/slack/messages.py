"""Block Kit messages the bot posts (pure: dicts in, dicts out, no Slack client).

Every message is `{"text": fallback, "blocks": [...]}`; `text` is what notifications and
screen readers show. Button values carry a short reference (`ref`) that the bot resolves
from its own store, never the data itself (a value is capped at 2,000 characters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.approvals import pending_text
from bots.slack.formatting import (
    MESSAGE_BLOCKS,
    SECTION_CHARS,
    escape,
    group_sections,
    link_markers,
    sources_text,
    split_text,
    to_mrkdwn,
)
from oncall.core.text import printable

if TYPE_CHECKING:
    from agent.approvals import PendingAction
    from agent.service import Answer

Message = dict[str, Any]

HELPFUL = "oncall_helpful"
UNHELPFUL = "oncall_unhelpful"
DEEPER = "oncall_deeper"
ESCALATE = "oncall_escalate"
APPROVE = "oncall_approve"
REJECT = "oncall_reject"
SHOW_CODE = "oncall_show_code"
ACTION_IDS = (HELPFUL, UNHELPFUL, DEEPER, ESCALATE, APPROVE, REJECT, SHOW_CODE)
_TAIL_BLOCKS = 4  # sources, computation line, context line, buttons
MAX_CODE_CHARS = 6000  # kept for "Show code" (agent/compute.py caps programs at 4,000)


def section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn[:SECTION_CHARS]}}


def context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn[:SECTION_CHARS]}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def answer_messages(
    answer: Answer,
    ref: str,
    docs_base_url: str | None,
    contact: str,
    web_url: str | None = None,
) -> list[Message]:
    """The answer as one or more thread messages; the last carries the sources, what a
    computation ran, a line on how it was answered, and the buttons (feedback, show code,
    think harder, escalate). `web_url`: the web chat, whose document view file citations
    open."""
    body = link_markers(to_mrkdwn(answer.text), answer.citations, docs_base_url, web_url)
    sections = split_text(body or "_(no answer text)_")
    messages: list[Message] = [
        {"text": "\n\n".join(group), "blocks": [section(s) for s in group]}
        for group in group_sections(sections, reserved_blocks=_TAIL_BLOCKS)
    ]
    last: list[dict[str, Any]] = messages[-1]["blocks"]
    if answer.citations:
        last.append(section(sources_text(answer.citations, docs_base_url, web_url)))
    if answer.computation:
        last.append(context(_computed_line(answer.computation)))
    last.append(context(_how_answered(answer, contact)))
    last.append({"type": "actions", "elements": _answer_buttons(answer, ref)})
    return messages


def _how_answered(answer: Answer, contact: str) -> str:
    how = "thought it through" if answer.route == "deep" else "quick answer"
    seconds = answer.timings_ms.get("total", 0.0) / 1000
    line = f"{how} · {seconds:.1f} s"
    if answer.handover is not None:
        line = (
            f":warning: I could not answer this from the docs I can search "
            f"({escape(answer.handover.reason)}). Escalate to bring in {contact}. · {line}"
        )
    elif not answer.citations:
        line = f"no source supports this answer, check it · {line}"
    return line


def _computed_line(computation: dict[str, Any]) -> str:
    """What ran: a program in the sandbox, on which files, and whether it worked."""
    files = ", ".join(f"`{escape(printable(f))}`" for f in computation.get("files") or [])
    tries = int(computation.get("attempts", 1))
    line = ":gear: Computed by a Python program run in the sandbox"
    if files:
        line += f" on {files}"
    if tries > 1:
        line += " (fixed after a failed run)" if computation.get("ok") else " (2 runs failed)"
    return line + ". *Show code* posts the program and its full output here."


def computation_ref(computation: dict[str, Any] | None) -> dict[str, Any] | None:
    """What "Show code" posts later, kept with the button's reference."""
    if not computation:
        return None
    return {
        "code": str(computation.get("code", ""))[:MAX_CODE_CHARS],
        "output": str(computation.get("output", ""))[:MAX_CODE_CHARS],
        "ok": bool(computation.get("ok")),
        "error": str(computation.get("error") or "")[:MAX_CODE_CHARS],
    }


def code_message(computation: dict[str, Any], asker: str) -> Message:
    """The program of a computed answer and what it printed, as code blocks (posted in the
    thread by "Show code", once)."""
    code = printable(computation.get("code", ""), multiline=True).strip() or "(no program)"
    output = printable(computation.get("output", ""), multiline=True).strip() or "(nothing)"
    title = "*The program* (Python, run in the sandbox)"
    label = "*What it printed*" if computation.get("ok") else "*How it failed*"
    text = f"{title}\n```\n{code}\n```\n\n{label}\n```\n{output}\n```"
    sections = split_text(escape(text))  # code blocks are not exempt from escaping
    blocks: list[dict[str, Any]] = [section(s) for s in sections[: MESSAGE_BLOCKS - 1]]
    blocks.append(context(f"Shown for <@{asker}>."))
    return {"text": "The program behind the answer, and its output", "blocks": blocks}


def _answer_buttons(answer: Answer, ref: str) -> list[dict[str, Any]]:
    buttons = []
    if answer.turn_id:
        buttons += [
            button(":+1: Helpful", HELPFUL, ref),
            button(":-1: Not helpful", UNHELPFUL, ref),
        ]
    if answer.computation:
        buttons.append(button(":page_facing_up: Show code", SHOW_CODE, ref))
    if answer.route != "deep":
        buttons.append(button(":brain: Think harder", DEEPER, ref))
    style = "danger" if answer.handover is not None else None
    buttons.append(button(":sos: Escalate to on-call", ESCALATE, ref, style))
    return buttons


def approval_message(action: PendingAction, ref: str) -> Message:
    """A write waiting for a human: what it would do, with Approve / Reject."""
    text = pending_text(action)
    return {
        "text": text,
        "blocks": [
            section(f":raised_hand: *Approval needed*\n```{escape(text)}```"),
            {
                "type": "actions",
                "elements": [
                    button("Approve", APPROVE, ref, "primary"),
                    button("Reject", REJECT, ref, "danger"),
                ],
            },
        ],
    }


def decided_message(action: PendingAction, approved: bool, approver: str) -> Message:
    """The approval message once answered: the decision replaces the buttons."""
    verdict = ":white_check_mark: Approved" if approved else ":no_entry: Rejected"
    text = f"{verdict} by <@{approver}>: `{escape(printable(action.tool))}`"
    return {"text": text, "blocks": [section(text)]}


def status_message(text: str) -> Message:
    return {"text": text, "blocks": [context(f":hourglass_flowing_sand: {text}")]}


def handover_message(handover_text: str, contact_mention: str, asker: str) -> Message:
    """Escalation: mention the on-call contact with what the agent tried."""
    handover = escape(printable(handover_text, multiline=True))
    text = f"{contact_mention} <@{asker}> asked for a human here.\n{handover}"
    return {"text": text, "blocks": [section(text)]}


def apology_message(problem: str, what_to_do: str, ref: str, contact: str) -> Message:
    """A failed turn: what went wrong, what to do, and the way to a person."""
    text = (
        f":warning: Sorry, I could not answer: {escape(printable(problem))}\n"
        f"{escape(printable(what_to_do))} "
        f"If it is urgent, escalate to {contact}."
    )
    return {
        "text": text,
        "blocks": [
            section(text),
            {"type": "actions", "elements": [button(":sos: Escalate to on-call", ESCALATE, ref)]},
        ],
    }


def notice(text: str) -> Message:
    return {"text": text, "blocks": [section(text)]}
