"""`oncall ask` and `oncall chat`: questions to the agent, with y/N for write actions."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from agent.router import Route
from oncall.cli.console import (
    GroupsOpt,
    agent_session,
    console,
    err_console,
    friendly_errors,
    groups_option,
    load_settings,
)
from oncall.cli.render import answer_json, render_answer, shown
from oncall.core.errors import OncallError
from oncall.core.identity import Principal

if TYPE_CHECKING:
    from agent.service import Agent, Answer


def ask(
    question: Annotated[str, typer.Argument(help="Your question, in quotes.")],
    deep: Annotated[bool, typer.Option("--deep", help="Force deep reasoning with tools.")] = False,
    direct: Annotated[bool, typer.Option("--direct", help="Force a direct answer.")] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show route, tool calls and timings.")
    ] = False,
    thread: Annotated[
        str | None, typer.Option(help="Continue this conversation thread (memory).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    groups: GroupsOpt = None,
) -> None:
    """Answer one question from the docs, with numbered citations."""
    if deep and direct:
        err_console.print("[bold red]error[/]: choose one of --deep and --direct")
        raise typer.Exit(2)
    route: Route | None = "deep" if deep else "direct" if direct else None
    settings = load_settings()
    with friendly_errors(), agent_session(settings) as agent:
        who = Principal.local(groups_option(groups))
        result = agent.ask(question, thread_id=thread, route=route, user=who)
        result = settle_approvals(agent, result, who)
        if as_json:
            console.print_json(json.dumps(answer_json(result)))
        else:
            render_answer(console, result, explain=explain)


def chat(
    thread: Annotated[str | None, typer.Option(help="Resume this thread.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show route and timings.")] = False,
    groups: GroupsOpt = None,
) -> None:
    """Interactive conversation with memory (Ctrl-D or `exit` to leave).

    Start a line with /deep or /direct to force the route for that question.
    """
    settings = load_settings()
    thread_id = thread or uuid.uuid4().hex[:12]
    who = Principal.local(groups_option(groups))
    with friendly_errors(), agent_session(settings) as agent:
        console.print(f"[dim]thread {thread_id} · Ctrl-D or 'exit' to leave.[/]")
        while True:
            try:
                line = console.input("[bold cyan]you>[/] ").strip()
            except EOFError:
                break
            if line.lower() in {"exit", "quit"}:
                break
            route, question = split_command(line)
            if not question:
                continue
            try:
                answer = agent.ask(question, thread_id, route, user=who)
                answer = settle_approvals(agent, answer, who)
                render_answer(console, answer, explain=explain)
            except (OncallError, ValueError) as exc:  # keep the session: the server may return
                err_console.print(f"[bold red]error[/]: {shown(exc)}")


def settle_approvals(agent: Agent, answer: Answer, who: Principal) -> Answer:
    """Ask y/N for each write action the agent wants to run (no answer, or no terminal,
    means no); the turn then goes on with the decision."""
    from rich.panel import Panel
    from rich.text import Text

    from agent.approvals import pending_text

    while answer.pending is not None:
        err_console.print(Panel(Text(pending_text(answer.pending)), title="approval needed"))
        try:
            reply = err_console.input("Run it? [y/N] ").strip().lower()
        except EOFError:
            reply = ""
        approved = reply in {"y", "yes"}
        answer = agent.resume(answer.thread_id, approved, approver=who.user_id, user=who)
    return answer


def split_command(line: str) -> tuple[Route | None, str]:
    for prefix, route in (("/deep", "deep"), ("/direct", "direct")):
        if line.startswith(prefix + " "):
            return route, line[len(prefix) :].strip()  # type: ignore[return-value]
    return None, line
