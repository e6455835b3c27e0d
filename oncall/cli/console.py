"""What every command shares: the consoles, the one-line error handler, progress bars,
settings, the --groups option and the agent session."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from oncall.core.errors import OncallError
from oncall.core.settings import Settings
from oncall.core.text import printable

if TYPE_CHECKING:
    from agent.service import Agent
    from oncall.appstate import AppState

# soft_wrap: an error or a path is one line whatever the terminal width (a wrapped path
# cannot be pasted back, and tests grep for whole sentences).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Known failures print one clear line (no traceback) and exit non-zero."""
    try:
        yield
    except OncallError as exc:
        err_console.print(f"[bold red]error[/] ({exc.code}): {_shown(exc.detail)}")
        raise typer.Exit(2) from exc
    except (FileNotFoundError, ValueError) as exc:  # messages name paths: never raw
        err_console.print(f"[bold red]error[/]: {_shown(exc)}")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _shown(text: object) -> str:
    return escape(printable(text))


@contextlib.contextmanager
def byte_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    with Progress(
        TextColumn(label), BarColumn(), DownloadColumn(), console=err_console, transient=True
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def load_settings() -> Settings:
    return Settings()


def groups_option(value: str | None) -> list[str]:
    return [g.strip() for g in (value or "").split(",") if g.strip()]


GroupsOpt = Annotated[
    str | None,
    typer.Option(
        "--groups", help="Comma-separated ACL groups to act as (default: public docs only)."
    ),
]


@contextlib.contextmanager
def ingest_progress(
    label: str,
) -> Iterator[tuple[Callable[[int], None], Callable[[str, int], None]]]:
    """A files/chunks progress bar; yields the pipeline's (on_start, on_file) callbacks."""
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} files · {task.fields[chunks]} chunks"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[current]}"),
        console=err_console,
    ) as progress:
        task = progress.add_task(label, total=None, chunks=0, current="")

        def on_start(n: int) -> None:
            progress.update(task, total=n)

        def on_file(doc_id: str, chunks: int) -> None:
            fields = progress.tasks[task].fields
            progress.update(
                task, advance=1, chunks=fields["chunks"] + chunks, current=_shown(doc_id)
            )

        yield on_start, on_file


@contextlib.contextmanager
def reembed_progress() -> Iterator[Callable[[int, int], None]]:
    """A chunks progress bar for `oncall ingest --reembed`; yields (done, total) -> None."""
    with Progress(
        TextColumn("[bold]reembed"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} chunks"),
        TimeRemainingColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task("reembed", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield on_progress


@contextlib.contextmanager
def agent_session(settings: Settings, state: AppState | None = None) -> Iterator[Agent]:
    """The agent for a command; a front end passes the app state it uses too."""
    from oncall.cli.compose import llm_endpoint, running_agent

    with (
        byte_progress("assembling model") as progress,
        llm_endpoint(settings, progress) as url,
        running_agent(settings, url, state) as agent,
    ):
        yield agent
