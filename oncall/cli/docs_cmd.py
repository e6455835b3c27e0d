"""`oncall ingest`, `oncall sync` and `oncall search`: the index, without the LLM."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from oncall.cli.console import (
    GroupsOpt,
    console,
    err_console,
    friendly_errors,
    groups_option,
    ingest_progress,
    load_settings,
    reembed_progress,
)
from oncall.cli.render import render_hits, render_report, shown
from oncall.cli.via_service import ingest_via, running_service, sync_via
from oncall.core.errors import OncallError
from oncall.core.identity import Principal
from oncall.core.settings import Settings

if TYPE_CHECKING:
    from ingest.backends import SearchMode
    from ingest.embed import Embedder
    from ingest.sources import SourceSpec, SyncState
    from ingest.store import DocStore


def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders to index.", show_default=False)
    ] = None,
    prune: Annotated[
        bool, typer.Option(help="Remove indexed files that vanished from these folders.")
    ] = False,
    acl: Annotated[
        str | None,
        typer.Option(help="Comma-separated ACL groups that may read these docs (default: public)."),
    ] = None,
    reembed: Annotated[
        bool,
        typer.Option(
            "--reembed",
            help="Re-embed every indexed chunk with the configured embedding.model (after "
            "changing it); the sources are not re-read.",
        ),
    ] = False,
) -> None:
    """Index documents (md, rst, txt, html, pdf, docx, pptx, code, Slack/Confluence JSON);
    unchanged files are skipped."""
    if not paths and not reembed:
        err_console.print("[bold red]error[/]: give files or folders to index (or --reembed)")
        raise typer.Exit(2)
    settings = load_settings()
    with friendly_errors():
        check_paths(paths or [])  # before the embedder, the index or a progress bar
        service = running_service(settings)
        if service is not None:
            if reembed:
                raise OncallError(
                    "store_busy",
                    f"the running service at {service.url} holds the index: stop it, then "
                    "run oncall ingest --reembed",
                )
            if not ingest_via(service, paths or [], prune, groups_option(acl), console):
                raise typer.Exit(1)
            return
        from ingest.embed import load_embedder
        from ingest.pipeline import ingest_paths
        from ingest.store import DocStore

        started = time.perf_counter()
        embedder = load_embedder(settings.embedding)
        with DocStore(settings.store, settings.data_dir) as store:
            if reembed:
                reembed_index(store, embedder)
            if not paths:
                return
            with ingest_progress("ingest") as (on_start, on_file):
                report = ingest_paths(
                    paths,
                    store,
                    embedder,
                    settings.ingest,
                    prune=prune,
                    acl=groups_option(acl),
                    on_start=on_start,
                    on_file=on_file,
                )
            total_chunks = store.count()
        render_report(console, report, time.perf_counter() - started, total_chunks)
        if not report.ok:
            raise typer.Exit(1)


def check_paths(paths: list[Path]) -> None:
    """Missing paths fail at once, each named (the pipeline checks again, later)."""
    for path in paths:
        if not path.expanduser().exists():
            raise FileNotFoundError(f"{path}: no such file or folder")


def reembed_index(store: DocStore, embedder: Embedder) -> None:
    """Re-embed the whole index with `embedder` (nothing to do if it built the index)."""
    built = store.embedder()
    meta = store.index_meta() or {}
    if built == embedder.name and not meta.get("reembedding"):
        console.print(f"reembed: the index is already embedded with {embedder.name!r}")
        return
    started = time.perf_counter()
    with reembed_progress() as on_progress:
        done = store.reembed(
            embedder.name, embedder.dim, embedder.embed_documents, on_progress=on_progress
        )
    console.print(
        f"[bold]reembed[/]: {done} chunks re-embedded with {embedder.name!r} (was {built!r}) "
        f"· {time.perf_counter() - started:.1f} s"
    )


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

    settings = load_settings()
    with friendly_errors():
        specs = load_registry(sources).select(only)
        state = SyncState(settings.data_dir / "sync_state.json")
        while True:
            todo = [s for s in specs if not (due or watch) or state.due(s)]
            if not todo and not watch:
                console.print("nothing due: every source synced within its schedule")
            failed = sync_sources(settings, todo, state, sources) if todo else False
            if not watch:
                if failed:
                    raise typer.Exit(1)
                return
            time.sleep(30)


def sync_sources(
    settings: Settings, specs: list[SourceSpec], state: SyncState, registry: Path
) -> bool:
    """Sync each source in turn (one failing source never stops the others), through the
    running service when there is one."""
    service = running_service(settings)
    if service is not None:
        return not sync_via(service, registry, [s.name for s in specs], console)
    from ingest.embed import load_embedder
    from ingest.pipeline import sync_source
    from ingest.store import DocStore

    embedder = load_embedder(settings.embedding)
    any_failed = False
    with DocStore(settings.store, settings.data_dir) as store:
        for spec in specs:
            started = time.perf_counter()
            try:
                with ingest_progress(spec.name) as (on_start, on_file):
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
                err_console.print(f"[bold red]{spec.name}[/]: {shown(exc)}")
                any_failed = True
                continue
            console.print(f"[bold]{spec.name}[/] ({spec.type}, acl {', '.join(spec.acl)})")
            render_report(console, report, time.perf_counter() - started, store.count())
            any_failed |= not report.ok
            state.mark(spec.name)
    return any_failed


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="Results to show.")] = 5,
    groups: GroupsOpt = None,
    mode: Annotated[str | None, typer.Option(help="hybrid (default), dense or bm25.")] = None,
) -> None:
    """Search the index as a user of --groups, without the LLM."""
    from ingest.embed import load_embedder
    from ingest.store import DocStore
    from tools.search_docs import search_docs

    settings = load_settings()
    r = settings.retrieval
    mode = mode or r.mode
    if mode not in ("hybrid", "dense", "bm25"):
        err_console.print(f"[bold red]error[/]: --mode {mode!r}: use hybrid, dense or bm25")
        raise typer.Exit(2)
    who = Principal.local(groups_option(groups))
    with friendly_errors():
        if not query.strip():
            raise ValueError(
                "the query is empty: say what to look for, e.g. oncall search 'deploy'"
            )
        service = running_service(settings)
        if service is not None:
            render_hits(console, service.search(query, k, sorted(who.groups), mode))
            return
        with DocStore(settings.store, settings.data_dir) as store:
            embedder = load_embedder(settings.embedding)
            hits = search_docs(
                query,
                store,
                embedder,
                k,
                r.prefetch_k,
                groups=who.read_groups,
                mode=cast("SearchMode", mode),
                rrf_k=r.rrf_k,
                title_boost=r.title_boost,
            )
        render_hits(console, hits)
