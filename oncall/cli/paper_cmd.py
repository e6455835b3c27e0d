"""`oncall paper`: reading notes on papers, and answers from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from oncall.cli.console import (
    GroupsOpt,
    byte_progress,
    console,
    err_console,
    friendly_errors,
    groups_option,
    load_settings,
)
from oncall.core.identity import Principal

if TYPE_CHECKING:
    from tools.papers.model import Paper


def paper(
    refs: Annotated[
        list[str],
        typer.Argument(
            help="arXiv ids or URLs, PDF URLs, PDF paths, or titles in the papers collection."
        ),
    ],
    question: Annotated[
        str | None, typer.Option("--question", "-q", help="What you want to know about it.")
    ] = None,
    parse_only: Annotated[
        bool, typer.Option("--parse-only", help="Show the parsed structure; no LLM.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    groups: GroupsOpt = None,
) -> None:
    """Reading notes on papers (problem, method, key results, limitations) with section and
    page cites; with --question, also an answer from the papers."""
    from tools.papers import build_paper_reader, render_report

    settings = load_settings()
    who = Principal.local(groups_option(groups))
    with friendly_errors():
        if parse_only:
            reader = build_paper_reader(settings, None)
            try:
                parsed = [reader.load(r, who.read_groups, allow_local=True) for r in refs]
            finally:
                reader.close()
            for p in parsed:
                console.print(p.model_dump_json(indent=2) if as_json else paper_outline(p))
            return
        from oncall.cli.compose import llm_endpoint
        from oncall.llm.client import build_chat_model

        with (
            byte_progress("assembling model") as progress,
            llm_endpoint(settings, progress) as url,
        ):
            reader = build_paper_reader(settings, url)
            try:
                model = build_chat_model(settings.llm, url, thinking=False)
                with console.status("reading (long papers take minutes on a CPU)..."):
                    report = reader.read(refs, model, question or "", who.read_groups, True)
            finally:
                reader.close()
        if as_json:
            console.print_json(report.model_dump_json())
        else:
            console.print(render_report(report), markup=False, highlight=False)
            stages = " · ".join(f"{k} {v / 1000:.1f} s" for k, v in report.timings_ms.items())
            err_console.print(f"[dim]{stages}[/]")


def paper_outline(p: Paper) -> str:
    lines = [f"{p.title} ({p.label}, {p.pages} pages)", f"authors: {', '.join(p.authors)}"]
    lines += [f"  {s.label}  p. {s.page}-{s.page_end}  {len(s.text)} chars" for s in p.sections]
    lines += [f"  {t.caption} (p. {t.page}, {t.section})" for t in p.tables]
    lines.append(f"  {len(p.references)} references")
    return "\n".join(lines)
