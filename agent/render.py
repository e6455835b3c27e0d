"""Terminal output for the CLI. Pure formatting: no I/O besides the console passed in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from tools.search_docs import DocHit

if TYPE_CHECKING:
    from agent.service import Answer
    from ingest.pipeline import IngestReport

MAX_LEADS = 3


def render_answer(console: Console, answer: Answer) -> None:
    """The answer, its cited sources, then a dim line of timings."""
    console.print(Markdown(answer.text))
    if answer.abstained:
        leads = answer.hits[:MAX_LEADS]
        if leads:
            console.print("\n[bold]Closest matches[/] (may help, or ask the on-call human):")
            for hit in leads:
                console.print(f"  - {hit.location}  [dim]{hit.source}[/]")
    elif answer.citations:
        console.print("\n[bold]Sources[/]")
        for c in answer.citations:
            console.print(f"  [{c.number}] {c.hit.location}  [dim]{c.hit.source}[/]")
    else:
        console.print(
            "\n[yellow]No retrieved document supports this answer[/]: verify it, or ask the "
            "on-call human. Retrieved for this question:"
        )
        for n, hit in enumerate(answer.hits[:MAX_LEADS], start=1):
            console.print(f"  ({n}) {hit.location}  [dim]{hit.source}[/]")
    console.print(f"\n[dim]{timing_line(answer)}[/]")


def timing_line(answer: Answer) -> str:
    t = answer.timings_ms
    parts = [f"retrieval {t.get('retrieval', 0):.0f} ms"]
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
        table.add_row(str(n), hit.location, f"{hit.similarity:.2f}", snippet)
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
        console.print(f"  [red]failed[/] {path}: {reason}")
