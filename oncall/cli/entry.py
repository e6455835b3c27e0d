"""The console script: the Typer app, with usage errors as one line.

Typer draws a usage error (a missing argument, `-k 500`) in a box as wide as the terminal,
so the message wraps at 40 columns and a long path breaks across lines. Every error of
this command is one line that names the problem and where to look next, whatever the
terminal width (oncall/cli/console.py prints the others the same way).
"""

from __future__ import annotations

import sys

import typer

from oncall.cli.console import err_console
from oncall.cli.main import app as typer_app
from oncall.cli.render import shown


def app() -> None:
    """Run `oncall` (pyproject's console script)."""
    try:
        code = typer_app(standalone_mode=False)
    except typer.Abort:
        err_console.print("[yellow]aborted[/]")
        sys.exit(1)
    except typer.TyperException as exc:  # Typer's click exceptions (usage errors) derive from it
        exit_code = getattr(exc, "exit_code", 2)
        # Help was printed already for a bare group command (Typer skips this one too).
        if type(exc).__name__ != "NoArgsIsHelpError":
            ctx = getattr(exc, "ctx", None)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            err_console.print(f"[bold red]error[/]: {shown(message)}{hint}")
        sys.exit(exit_code)
    sys.exit(code if isinstance(code, int) else 0)
