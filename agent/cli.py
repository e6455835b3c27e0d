"""`oncall` command line: ingest, sync, search, ask, chat, serve, llm serve."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from agent.errors import OncallError
from agent.identity import Principal
from agent.render import answer_json, render_answer, render_hits, render_report
from agent.settings import Settings
from agent.state import Route
from evals.cli import eval_app

if TYPE_CHECKING:
    from agent.service import Agent, Answer
    from ingest.backends import SearchMode
    from ingest.sources import SourceSpec, SyncState
    from tools.papers.model import Paper

app = typer.Typer(help="oncall-agent: cited answers from internal docs.", no_args_is_help=True)
llm_app = typer.Typer(
    help="The LLM server: embedded llama.cpp, or vLLM on a GPU host.", no_args_is_help=True
)
app.add_typer(llm_app, name="llm")
app.add_typer(eval_app, name="eval")

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


def _groups_option(value: str | None) -> list[str]:
    return [g.strip() for g in (value or "").split(",") if g.strip()]


GroupsOpt = Annotated[
    str | None,
    typer.Option(
        "--groups", help="Comma-separated ACL groups to act as (default: public docs only)."
    ),
]


@contextlib.contextmanager
def _ingest_progress(
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
            progress.update(task, advance=1, chunks=fields["chunks"] + chunks, current=doc_id)

        yield on_start, on_file


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to index.")],
    prune: Annotated[
        bool, typer.Option(help="Remove indexed files that vanished from these folders.")
    ] = False,
    acl: Annotated[
        str | None,
        typer.Option(help="Comma-separated ACL groups that may read these docs (default: public)."),
    ] = None,
) -> None:
    """Index documents (md, rst, txt, html, pdf, docx, pptx, code, Slack/Confluence JSON);
    unchanged files are skipped."""
    from ingest.embed import SentenceTransformerEmbedder
    from ingest.pipeline import ingest_paths
    from ingest.store import DocStore

    settings = _settings()
    with _friendly_errors():
        started = time.perf_counter()
        embedder = SentenceTransformerEmbedder(settings.embedding)
        with (
            DocStore(settings.store, settings.data_dir) as store,
            _ingest_progress("ingest") as (on_start, on_file),
        ):
            report = ingest_paths(
                paths,
                store,
                embedder,
                settings.ingest,
                prune=prune,
                acl=_groups_option(acl),
                on_start=on_start,
                on_file=on_file,
            )
            total_chunks = store.count()
        render_report(console, report, time.perf_counter() - started, total_chunks)
        if not report.ok:
            raise typer.Exit(1)


@app.command()
def sync(
    sources: Annotated[
        Path, typer.Option("--sources", help="Source registry (YAML or TOML).")
    ] = Path("sources.yaml"),
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Sync just this source (repeatable).")
    ] = None,
    due: Annotated[
        bool, typer.Option("--due", help="Skip sources synced more recently than their schedule.")
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep running: sync each source when it is due.")
    ] = False,
) -> None:
    """Mirror the sources of a registry into the index: add, update, delete, per source."""
    from ingest.sources import SyncState, load_registry

    settings = _settings()
    with _friendly_errors():
        specs = load_registry(sources).select(only)
        state = SyncState(settings.data_dir / "sync_state.json")
        while True:
            todo = [s for s in specs if not (due or watch) or state.due(s)]
            if not todo and not watch:
                console.print("nothing due: every source synced within its schedule")
            failed = _sync_sources(settings, todo, state) if todo else False
            if not watch:
                if failed:
                    raise typer.Exit(1)
                return
            time.sleep(30)


def _sync_sources(settings: Settings, specs: list[SourceSpec], state: SyncState) -> bool:
    """Sync each source in turn (one failing source never stops the others)."""
    from ingest.embed import SentenceTransformerEmbedder
    from ingest.pipeline import sync_source
    from ingest.store import DocStore

    embedder = SentenceTransformerEmbedder(settings.embedding)
    any_failed = False
    with DocStore(settings.store, settings.data_dir) as store:
        for spec in specs:
            started = time.perf_counter()
            try:
                with _ingest_progress(spec.name) as (on_start, on_file):
                    report = sync_source(
                        spec,
                        store,
                        embedder,
                        settings.ingest,
                        settings.data_dir / "sources",
                        on_start=on_start,
                        on_file=on_file,
                    )
            except (FileNotFoundError, RuntimeError, ValueError, OSError) as exc:
                err_console.print(f"[bold red]{spec.name}[/]: {exc}")
                any_failed = True
                continue
            console.print(f"[bold]{spec.name}[/] ({spec.type}, acl {', '.join(spec.acl)})")
            render_report(console, report, time.perf_counter() - started, store.count())
            any_failed |= not report.ok
            state.mark(spec.name)
    return any_failed


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="Results to show.")] = 5,
    groups: GroupsOpt = None,
    mode: Annotated[str | None, typer.Option(help="hybrid (default), dense or bm25.")] = None,
) -> None:
    """Search the index as a user of --groups, without the LLM."""
    from ingest.embed import SentenceTransformerEmbedder
    from ingest.store import DocStore
    from tools.search_docs import search_docs

    settings = _settings()
    r = settings.retrieval
    mode = mode or r.mode
    if mode not in ("hybrid", "dense", "bm25"):
        err_console.print(f"[bold red]error[/]: --mode {mode!r}: use hybrid, dense or bm25")
        raise typer.Exit(2)
    who = Principal.local(_groups_option(groups))
    with _friendly_errors(), DocStore(settings.store, settings.data_dir) as store:
        embedder = SentenceTransformerEmbedder(settings.embedding)
        hits = search_docs(
            query,
            store,
            embedder,
            k,
            r.prefetch_k,
            groups=who.read_groups,
            mode=cast("SearchMode", mode),
        )
        render_hits(console, hits)


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
    groups: GroupsOpt = None,
) -> None:
    """Answer one question from the docs, with numbered citations."""
    if deep and direct:
        err_console.print("[bold red]error[/]: choose one of --deep and --direct")
        raise typer.Exit(2)
    route: Route | None = "deep" if deep else "direct" if direct else None
    settings = _settings()
    with _friendly_errors(), _agent(settings) as agent:
        who = Principal.local(_groups_option(groups))
        result = agent.ask(question, thread_id=thread, route=route, user=who)
        result = _settle_approvals(agent, result, who)
        if as_json:
            console.print_json(json.dumps(answer_json(result)))
        else:
            render_answer(console, result, explain=explain)


@app.command()
def chat(
    thread: Annotated[str | None, typer.Option(help="Resume this thread.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show route and timings.")] = False,
    groups: GroupsOpt = None,
) -> None:
    """Interactive conversation with memory (Ctrl-D or `exit` to leave).

    Start a line with /deep or /direct to force the route for that question.
    """
    settings = _settings()
    thread_id = thread or uuid.uuid4().hex[:12]
    who = Principal.local(_groups_option(groups))
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
                answer = agent.ask(question, thread_id, route, user=who)
                answer = _settle_approvals(agent, answer, who)
                render_answer(console, answer, explain=explain)
            except (OncallError, ValueError) as exc:  # keep the session: the server may return
                err_console.print(f"[bold red]error[/]: {exc}")


def _settle_approvals(agent: Agent, answer: Answer, who: Principal) -> Answer:
    """Ask y/N for each write action the agent wants to run (no answer, or no terminal,
    means no); the turn then goes on with the decision."""
    from rich.panel import Panel

    from agent.approvals import pending_text

    while answer.pending is not None:
        err_console.print(Panel(pending_text(answer.pending), title="approval needed"))
        try:
            reply = err_console.input("Run it? [y/N] ").strip().lower()
        except EOFError:
            reply = ""
        approved = reply in {"y", "yes"}
        answer = agent.resume(answer.thread_id, approved, approver=who.user_id, user=who)
    return answer


@app.command()
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

    from agent.demo import DEMO_CATALOGUE, DEMO_DIR, DEMO_GROUPS, DEMO_QUESTION, demo_platform

    settings = _settings()
    if settings.tools.catalogue_path is None:
        settings.tools.catalogue_path = DEMO_CATALOGUE
    with (
        _friendly_errors(),
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
        _ensure_index(settings, DEMO_DIR.parent / "handbook")
        who = Principal.local(DEMO_GROUPS)
        with _agent(settings) as agent:
            text = question or DEMO_QUESTION
            console.print(f"[bold]Q:[/] {text}")
            answer = _settle_approvals(agent, agent.ask(text, route="deep", user=who), who)
            render_answer(console, answer, explain=explain)


def _ensure_index(settings: Settings, handbook: Path) -> None:
    """The demo answers from the sample handbook too: index it if the index is empty."""
    from ingest.store import DocStore

    with DocStore(settings.store, settings.data_dir) as store:
        empty = store.count() == 0
    if empty:
        err_console.print(f"[dim]the index is empty: indexing {handbook} first[/]")
        ingest([handbook])


def _split_command(line: str) -> tuple[Route | None, str]:
    for prefix, route in (("/deep", "deep"), ("/direct", "direct")):
        if line.startswith(prefix + " "):
            return route, line[len(prefix) :].strip()  # type: ignore[return-value]
    return None, line


@app.command()
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

    settings = _settings()
    who = Principal.local(_groups_option(groups))
    with _friendly_errors():
        if parse_only:
            reader = build_paper_reader(settings, None)
            try:
                parsed = [reader.load(r, who.read_groups, allow_local=True) for r in refs]
            finally:
                reader.close()
            for p in parsed:
                console.print(p.model_dump_json(indent=2) if as_json else _paper_outline(p))
            return
        from agent.deps import llm_endpoint
        from agent.llm import build_chat_model

        with (
            _byte_progress("assembling model") as progress,
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


def _paper_outline(p: Paper) -> str:
    lines = [f"{p.title} ({p.label}, {p.pages} pages)", f"authors: {', '.join(p.authors)}"]
    lines += [f"  {s.label}  p. {s.page}-{s.page_end}  {len(s.text)} chars" for s in p.sections]
    lines += [f"  {t.caption} (p. {t.page}, {t.section})" for t in p.tables]
    lines.append(f"  {len(p.references)} references")
    return "\n".join(lines)


@contextlib.contextmanager
def _agent(settings: Settings) -> Iterator[Agent]:
    from agent.deps import llm_endpoint, running_agent

    with (
        _byte_progress("assembling model") as progress,
        llm_endpoint(settings, progress) as url,
        running_agent(settings, url) as agent,
    ):
        yield agent


@app.command()
def slack(
    socket_mode: Annotated[
        bool, typer.Option("--socket", help="Socket Mode (needs an app token, no public URL).")
    ] = False,
    http: Annotated[
        bool, typer.Option("--http", help="HTTP events on --port (needs the signing secret).")
    ] = False,
    port: Annotated[
        int | None, typer.Option(help="HTTP mode port (default: slack.port, 3000).")
    ] = None,
) -> None:
    """Run the Slack bot (README "Slack bot"). Without --socket/--http: Socket Mode when
    an app token is set, else HTTP."""
    import logging
    import os

    from bots.slack.run import choose_mode, serve, with_env_fallback

    if socket_mode and http:
        err_console.print("[bold red]error[/]: choose one of --socket and --http")
        raise typer.Exit(2)
    settings = _settings()
    slack_settings = with_env_fallback(settings.slack, os.environ)  # entry point: env ok
    if port is not None:
        slack_settings = slack_settings.model_copy(update={"port": port})
    settings = settings.model_copy(update={"slack": slack_settings})
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with _friendly_errors():
        mode = choose_mode(settings.slack, "socket" if socket_mode else "http" if http else None)
        with _agent(settings) as agent:
            serve(settings, agent, mode)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: web.host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: web.port, 8080).")] = None,
) -> None:
    """Web chat, JSON API (/docs) and OpenAI-compatible /v1/chat/completions, with the
    configured auth (README "Web chat and API")."""
    from bots.web.server import serve as serve_web

    settings = _settings()
    with _friendly_errors(), _agent(settings) as agent:
        serve_web(settings, agent, host or settings.web.host, port or settings.web.port)


class ServeBackend(StrEnum):
    embedded = "embedded"
    vllm = "vllm"


@llm_app.command("serve")
def llm_serve(
    backend: Annotated[
        ServeBackend,
        typer.Option(help="embedded: llama.cpp on this CPU; vllm: vLLM on a GPU host."),
    ] = ServeBackend.embedded,
    profile: Annotated[
        str | None,
        typer.Option(help="vLLM profile: default, long-context or fp8 (README)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="vLLM: print the command line and exit.")
    ] = False,
) -> None:
    """Run the LLM server in the foreground; other commands on this host reuse it."""
    from agent.local_llm import embedded_server

    settings = _settings()
    if backend is ServeBackend.vllm:
        _serve_vllm(settings, profile, dry_run)
        return
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


def _serve_vllm(settings: Settings, profile: str | None, dry_run: bool) -> None:
    """`oncall llm serve --backend vllm`: launch the configured profile, publish its URL."""
    import shlex

    from agent.vllm_serve import PROFILES, build_vllm_command, describe, vllm_server

    with _friendly_errors():
        if profile is not None:
            if profile not in PROFILES:
                raise ValueError(f"--profile {profile!r}: choose one of {', '.join(PROFILES)}")
            vllm = settings.llm.vllm.model_copy(update={"profile": profile})
            settings = settings.model_copy(
                update={"llm": settings.llm.model_copy(update={"vllm": vllm})}
            )
        console.print(describe(settings.llm))
        if dry_run:
            console.print(shlex.join(build_vllm_command(settings.llm)), soft_wrap=True)
            return
        with vllm_server(settings.llm, settings.data_dir, publish=True) as srv:
            console.print(
                f"[green]serving[/] at {srv.base_url} (OpenAI-compatible). Point the agent at "
                f"it with ONCALL_LLM__BASE_URL={srv.base_url} "
                "ONCALL_LLM__SUPPORTS_THINKING=true. Ctrl-C to stop."
            )
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            code = srv.wait()
            if code != 0:
                raise OncallError("vllm_failed", f"vllm exited with code {code}")
