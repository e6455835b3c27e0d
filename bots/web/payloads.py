"""The JSON the web chat and API return for an answer, and the text the OpenAI-compatible
endpoint sends. Pure functions of `Answer`: no I/O, unit-tested.

No server filesystem path leaves through here: a source is its title, its location
(`doc_id › section`, relative to its source root) and a URL (bots/web/links.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from agent.approvals import PendingAction
from agent.escalation import handover_text
from agent.graph import tool_evidence
from bots.web.links import SourceLinks, absolute
from oncall.core.text import printable

if TYPE_CHECKING:
    from agent.service import Answer
    from tools.search_docs import DocHit

SNIPPET_CHARS = 600


def answer_payload(answer: Answer, links: SourceLinks | None = None) -> dict[str, Any]:
    """Everything the page renders for one turn (also the `POST /api/ask` response)."""
    links = links or SourceLinks()
    files = [
        {"tool": i, "index": j}
        for i, call in enumerate(answer.tool_calls)
        for j, _ in enumerate(call.files)
    ]
    return {
        "question": answer.question,
        "answer": answer.text,
        "thread_id": answer.thread_id,
        "turn_id": answer.turn_id,
        "route": answer.route,
        "route_reason": answer.route_reason,
        "route_confidence": round(answer.route_confidence, 3),
        "abstained": answer.abstained,
        "citations": [{"n": c.number, **source_json(c.hit, links)} for c in answer.citations],
        "leads": [source_json(h, links) for h in answer.hits[:3]] if not answer.citations else [],
        "tools_used": tool_evidence(answer.tool_calls),
        "tool_calls": [
            {"name": c.name, "args": c.args, "ok": c.ok, "ms": round(c.ms, 1),
             "results": len(c.result_ids), "files": len(c.files)}
            for c in answer.tool_calls
        ],
        "files": files,
        "handover": printable(handover_text(answer.handover), multiline=True)
        if answer.handover
        else None,
        "pending": pending_json(answer.pending) if answer.pending else None,
        "computation": computation_json(answer.computation) if answer.computation else None,
        "timings_ms": {k: round(v, 1) for k, v in answer.timings_ms.items()},
        "usage": answer.usage,
    }  # fmt: skip


def source_json(hit: DocHit, links: SourceLinks) -> dict[str, Any]:
    """A cited chunk: what it is, where to open it, and the passage. Names come from
    document authors: control characters are replaced (oncall/core/text.py)."""
    tool = hit.chunk_id.startswith("tool:")  # a tool's result: nothing to open
    return {
        "location": printable(hit.location),
        "title": printable(hit.title),
        "section": printable(hit.section),
        "url": None if tool else links.url(hit.source, hit.chunk_id, hit.text),
        "external": hit.source.startswith(("https://", "http://")),
        "snippet": hit.text[:SNIPPET_CHARS],
    }


def computation_json(computation: dict[str, Any]) -> dict[str, Any]:
    """The program a computation ran and what it printed (agent/compute.py), shown beside
    the answer: code and output keep their lines, control characters are replaced."""
    return {
        "code": printable(computation.get("code", ""), multiline=True),
        "output": printable(computation.get("output", ""), multiline=True),
        "ok": bool(computation.get("ok")),
        "error": printable(computation.get("error") or "", multiline=True),
        "attempts": int(computation.get("attempts", 1)),
        "files": [printable(f) for f in computation.get("files", [])],
    }


def public_turn(payload: dict[str, Any], links: SourceLinks) -> dict[str, Any]:
    """A stored turn as the API returns it: turns stored before sources had URLs carry
    the indexed path in `source`, which becomes a link and is dropped."""
    turn = dict(payload)
    for key in ("citations", "leads"):
        items = []
        for item in turn.get(key) or []:
            item = dict(item)
            source = item.pop("source", None)
            if source and not item.get("url"):
                item["url"] = links.url(str(source))
            items.append(item)
        turn[key] = items
    return turn


def pending_json(action: PendingAction) -> dict[str, Any]:
    data = asdict(action)
    data["tool"] = printable(action.tool)
    data["summary"] = printable(action.description.splitlines()[0] if action.description else "")
    return data


def sources_footer(payload: dict[str, Any], base_url: str = "") -> str:
    """Markdown appended to an OpenAI-compatible reply (from `answer_payload`): the numbered
    sources as links (server-relative ones made absolute with `base_url`), the pending
    approval, or the hand-over (chat UIs have no other place for them)."""
    lines: list[str] = []
    if payload["citations"]:
        lines.append("\n\nSources:")
        for c in payload["citations"]:
            url = absolute(c["url"], base_url) if c.get("url") else ""
            lines.append(
                f"[{c['n']}] [{c['location']}]({url})" if url else f"[{c['n']}] {c['location']}"
            )
    if payload["pending"]:
        p = payload["pending"]
        lines.append(
            f"\n\nThe agent wants to run `{p['tool']}` with {json.dumps(p['args'])} and needs "
            f"approval: open the web chat (conversation {payload['thread_id']}) to approve or "
            "reject it."
        )
    elif payload["handover"]:
        lines.append("\n\n" + payload["handover"])
    return "\n".join(lines)
