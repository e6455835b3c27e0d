"""Terminal output for the CLI. Pure formatting: no I/O besides the console passed in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from oncall.core.text import printable

if TYPE_CHECKING:
    from agent.service import Answer
    from ingest.pipeline import IngestReport
    from tools.search_docs import DocHit


def render_answer(console: Console, answer: Answer, explain: bool = False) -> None:
    """The answer, its cited sources, a hand-over if any, then a dim line of timings."""
    # Imported here: input checks and `oncall search` start without the agent stack.
    from agent.escalation import MAX_LEADS, handover_text
    from agent.graph import tool_evidence

    console.print(Markdown(printable(answer.text, multiline=True)))
    used_tools = tool_evidence(answer.tool_calls)
    if used_tools and not answer.abstained:
        console.print(f"\n[bold]From internal tools[/]: {shown(', '.join(used_tools))}")
    if answer.abstained:
        leads = answer.hits[:MAX_LEADS]
        if leads:
            console.print("\n[bold]Closest matches[/] (may help, or ask the on-call human):")
            for hit in leads:
                console.print(f"  - {shown(hit.location)}  [dim]{shown(hit.source)}[/]")
    elif answer.citations:
        console.print("\n[bold]Sources[/]")
        for c in answer.citations:
            console.print(f"  [{c.number}] {shown(c.hit.location)}  [dim]{shown(c.hit.source)}[/]")
    elif not used_tools:
        console.print(
            "\n[yellow]No retrieved document supports this answer[/]: verify it, or ask the "
            "on-call human. Retrieved for this question:"
        )
        for n, hit in enumerate(answer.hits[:MAX_LEADS], start=1):
            console.print(f"  ({n}) {shown(hit.location)}  [dim]{shown(hit.source)}[/]")
    if answer.handover is not None:
        handover = Text(printable(handover_text(answer.handover), multiline=True))
        console.print(Panel(handover, title="hand-over", style="yellow"))
    if explain:
        render_explain(console, answer)
    console.print(f"\n[dim]{answer.route} · {timing_line(answer)}[/]")


def render_explain(console: Console, answer: Answer) -> None:
    console.print(
        f"\n[bold]route[/] {answer.route} (confidence {answer.route_confidence:.2f}): "
        f"{shown(answer.route_reason)}"
    )
    for call in answer.tool_calls:
        status = "ok" if call.ok else "[red]error[/]"
        console.print(
            f"  tool {shown(call.name)}({shown(json.dumps(call.args, ensure_ascii=False))}) "
            f"{status} {call.ms:.0f} ms, {len(call.result_ids)} results"
        )
    stages = ", ".join(f"{k} {v:.0f} ms" for k, v in answer.timings_ms.items())
    console.print(f"  timings: {stages}")
    console.print(f"  thread: {answer.thread_id}  turn: {answer.turn_id or '-'}")


def answer_json(answer: Answer) -> dict[str, Any]:
    """The answer as plain JSON (for `--json` and scripts)."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "route": answer.route,
        "route_reason": answer.route_reason,
        "abstained": answer.abstained,
        "citations": [
            {"n": c.number, "doc_id": c.hit.doc_id, "section": c.hit.section,
             "page": c.hit.page, "source": c.hit.source}
            for c in answer.citations
        ],
        "tool_calls": [asdict(c) for c in answer.tool_calls],
        "handover": asdict(answer.handover) if answer.handover else None,
        "thread_id": answer.thread_id,
        "turn_id": answer.turn_id,
        "timings_ms": answer.timings_ms,
        "usage": answer.usage,
    }  # fmt: skip


def shown(text: object) -> str:
    """`text` ready for a Rich console string: control characters replaced, markup escaped.

    Names, paths, titles and model text come from documents and their authors: each goes
    through `shown` (or `printable` into a `Text`) before it reaches the console, so a file
    name cannot send escape sequences to the terminal or restyle the output."""
    return escape(printable(text))


def timing_line(answer: Answer) -> str:
    t = answer.timings_ms
    parts = [f"retrieval {t.get('retrieval', t.get('tools', 0)):.0f} ms"]
    if "llm" in t:
        parts.append(f"LLM {t['llm'] / 1000:.1f} s")
    u = answer.usage
    if u:
        parts.append(f"{u.get('prompt_tokens', 0)} prompt + {u.get('completion_tokens', 0)} "
                     "generated tokens")  # fmt: skip
    return " · ".join(parts)


def render_hits(console: Console, hits: Sequence[DocHit]) -> None:
    if not hits:
        console.print("No matches.")
        return
    table = Table("#", "where", "sim", "text", show_lines=True)
    for n, hit in enumerate(hits, start=1):
        snippet = " ".join(hit.text.split())[:160]
        table.add_row(
            str(n), Text(printable(hit.location)), f"{hit.similarity:.2f}", Text(printable(snippet))
        )
    console.print(table)


def render_report(
    console: Console, report: IngestReport, seconds: float, total_chunks: int
) -> None:
    console.print(
        f"[bold]ingest[/]: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.deleted)} deleted, "
        f"{len(report.failed)} failed · {report.chunks_written} chunks written · "
        f"{total_chunks} chunks in index · {seconds:.1f} s"
    )
    if report.ignored:
        console.print(f"[dim]{report.ignored} files of unsupported types ignored[/]")
    for path, reason in report.failed.items():
        console.print(f"  [red]failed[/] {shown(path)}: {shown(reason)}")
