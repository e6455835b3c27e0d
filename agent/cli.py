"""`oncall` command line: ingest, search, ask, chat, llm serve."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from agent.errors import OncallError
from agent.render import answer_json, render_answer, render_hits, render_report
from agent.settings import Settings
from agent.state import Route

if TYPE_CHECKING:
    from agent.service import Agent

app = typer.Typer(help="oncall-agent: cited answers from internal docs.", no_args_is_help=True)
llm_app = typer.Typer(help="The embedded LLM server (llama.cpp).", no_args_is_help=True)
app.add_typer(llm_app, name="llm")

console = Console()
err_console = Console(stderr=True)


@contextlib.contextmanager
def _friendly_errors() -> Iterator[None]:
    """Known failures print one clear line (no traceback) and exit non-zero."""
    try:
        yield
    except OncallError as exc:
        err_console.print(f"[bold red]error[/] ({exc.code}): {exc.detail}")
        raise typer.Exit(2) from exc
    except (FileNotFoundError, ValueError) as exc:
        err_console.print(f"[bold red]error[/]: {exc}")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@contextlib.contextmanager
def _byte_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    with Progress(
        TextColumn(label), BarColumn(), DownloadColumn(), console=err_console, transient=True
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def _settings() -> Settings:
    return Settings()


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to index.")],
    prune: Annotated[
        bool, typer.Option(help="Remove indexed files that vanished from these folders.")
    ] = False,
) -> None:
    """Index documents (md, rst, txt, html, pdf, docx, pptx); unchanged files are skipped."""
    from ingest.embed import SentenceTransformerEmbedder
    from ingest.pipeline import ingest_paths
    from ingest.store import DocStore

    settings = _settings()
    with _friendly_errors():
        started = time.perf_counter()
        embedder = SentenceTransformerEmbedder(settings.embedding)
        with (
            DocStore(settings.store, settings.data_dir) as store,
            Progress(
                TextColumn("[bold]ingest"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} files · {task.fields[chunks]} chunks"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[current]}"),
                console=err_console,
            ) as progress,
        ):
            task = progress.add_task("ingest", total=None, chunks=0, current="")

            def on_file(doc_id: str, chunks: int) -> None:
                fields = progress.tasks[task].fields
                progress.update(task, advance=1, chunks=fields["chunks"] + chunks, current=doc_id)

            report = ingest_paths(
                paths,
                store,
                embedder,
                settings.ingest,
                prune=prune,
                on_start=lambda n: progress.update(task, total=n),
                on_file=on_file,
            )
            total_chunks = store.count()
        render_report(console, report, time.perf_counter() - started, total_chunks)
        if not report.ok:
            raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="Results to show.")] = 5,
) -> None:
    """Hybrid search over the index, without the LLM."""
    from ingest.embed import SentenceTransformerEmbedder
    from ingest.store import DocStore
    from tools.search_docs import search_docs

    settings = _settings()
    with _friendly_errors(), DocStore(settings.store, settings.data_dir) as store:
        embedder = SentenceTransformerEmbedder(settings.embedding)
        render_hits(console, search_docs(query, store, embedder, k, settings.retrieval.prefetch_k))


@app.command()
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
) -> None:
    """Answer one question from the docs, with numbered citations."""
    if deep and direct:
        err_console.print("[bold red]error[/]: choose one of --deep and --direct")
        raise typer.Exit(2)
    route: Route | None = "deep" if deep else "direct" if direct else None
    settings = _settings()
    with _friendly_errors(), _agent(settings) as agent:
        result = agent.ask(question, thread_id=thread, route=route)
        if as_json:
            console.print_json(json.dumps(answer_json(result)))
        else:
            render_answer(console, result, explain=explain)


@app.command()
def chat(
    thread: Annotated[str | None, typer.Option(help="Resume this thread.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show route and timings.")] = False,
) -> None:
    """Interactive conversation with memory (Ctrl-D or `exit` to leave).

    Start a line with /deep or /direct to force the route for that question.
    """
    settings = _settings()
    thread_id = thread or uuid.uuid4().hex[:12]
    with _friendly_errors(), _agent(settings) as agent:
        console.print(f"[dim]thread {thread_id} · Ctrl-D or 'exit' to leave.[/]")
        while True:
            try:
                line = console.input("[bold cyan]you>[/] ").strip()
            except EOFError:
                break
            if line.lower() in {"exit", "quit"}:
                break
            route, question = _split_command(line)
            if not question:
                continue
            try:
                render_answer(console, agent.ask(question, thread_id, route), explain=explain)
            except (OncallError, ValueError) as exc:  # keep the session: the server may return
                err_console.print(f"[bold red]error[/]: {exc}")


def _split_command(line: str) -> tuple[Route | None, str]:
    for prefix, route in (("/deep", "deep"), ("/direct", "direct")):
        if line.startswith(prefix + " "):
            return route, line[len(prefix) :].strip()  # type: ignore[return-value]
    return None, line


@contextlib.contextmanager
def _agent(settings: Settings) -> Iterator[Agent]:
    from agent.deps import llm_endpoint, running_agent

    with (
        _byte_progress("assembling model") as progress,
        llm_endpoint(settings, progress) as url,
        running_agent(settings, url) as agent,
    ):
        yield agent


@llm_app.command("serve")
def llm_serve() -> None:
    """Run the embedded llama.cpp server in the foreground; other commands reuse it."""
    from agent.local_llm import embedded_server

    settings = _settings()
    if settings.llm.base_url:
        err_console.print(
            f"[yellow]note[/]: ONCALL_LLM__BASE_URL is set ({settings.llm.base_url}); "
            "other commands will use that, not this server"
        )
    with (
        _friendly_errors(),
        _byte_progress("assembling model") as progress,
        embedded_server(settings.llm.embedded, settings.data_dir, progress, publish=True) as srv,
    ):
        console.print(
            f"[green]serving[/] {settings.llm.embedded.model} at {srv.base_url} "
            "(OpenAI-compatible). Ctrl-C to stop."
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        code = srv.wait()
        if code != 0:
            raise OncallError("llama_server_failed", f"llama-server exited with code {code}")
