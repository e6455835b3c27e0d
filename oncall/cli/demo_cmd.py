"""`oncall demo`: start the demo internal platform and ask the agent about it."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from oncall.cli.ask_cmd import settle_approvals
from oncall.cli.console import agent_session, console, err_console, friendly_errors, load_settings
from oncall.cli.docs_cmd import ingest
from oncall.cli.render import render_answer
from oncall.core.identity import Principal
from oncall.core.settings import Settings


def demo(
    question: Annotated[
        str | None, typer.Argument(help="Question for the agent (default: the on-call one).")
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Only run the demo platform until Ctrl-C.")
    ] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Show tool calls, timings.")] = False,
) -> None:
    """Start the demo internal platform (REST service + MCP server) and ask the agent about
    it: "Who is on call for payments and is it healthy?" Writes ask you first."""
    import os

    from oncall.cli.demo import DEMO_CATALOGUE, DEMO_DIR, DEMO_GROUPS, DEMO_QUESTION, demo_platform

    settings = load_settings()
    if settings.tools.catalogue_path is None:
        settings.tools.catalogue_path = DEMO_CATALOGUE
    with (
        friendly_errors(),
        demo_platform(settings.tools.demo_port, settings.data_dir / "logs") as platform,
    ):
        os.environ.update(platform.env())  # read by the catalogue loader (entry point)
        if serve:
            console.print(f"[green]demo platform[/] at {platform.url} (spec: /openapi.json)")
            console.print("In another shell, to use it from ask/chat:")
            for name, value in {
                "ONCALL_TOOLS__CATALOGUE_PATH": str(DEMO_CATALOGUE),
                **platform.env(),
            }.items():
                console.print(f"  export {name}={value}")
            console.print("Ctrl-C to stop.")
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            while True:
                time.sleep(3600)
        ensure_index(settings, DEMO_DIR.parent / "handbook")
        who = Principal.local(DEMO_GROUPS)
        with agent_session(settings) as agent:
            text = question or DEMO_QUESTION
            console.print(f"[bold]Q:[/] {text}")
            answer = settle_approvals(agent, agent.ask(text, route="deep", user=who), who)
            render_answer(console, answer, explain=explain)


def ensure_index(settings: Settings, handbook: Path) -> None:
    """The demo answers from the sample handbook too: index it if the index is empty."""
    from ingest.store import DocStore

    with DocStore(settings.store, settings.data_dir) as store:
        empty = store.count() == 0
    if empty:
        err_console.print(f"[dim]the index is empty: indexing {handbook} first[/]")
        ingest([handbook])
