"""Build the evaluator for a mode from settings, with its run configuration.

The configuration returned next to the evaluator is what the per-item cache key hashes:
everything that can change an item's result (mode, retrieval knobs, models, the router
artefact, a fingerprint of the indexed corpus, the seed). Change any of it and cached
results are not reused.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from evals.runner import Evaluate
from ingest.embed import Embedder
from oncall.core.errors import OncallError
from oncall.core.settings import Settings

if TYPE_CHECKING:
    from agent.state import Deps

Mode = Literal["retrieval", "routing", "full"]


@dataclass(frozen=True)
class EvalOptions:
    mode: Mode
    corpus: Path | None = None
    judge: bool = False
    correct_threshold: float = 0.7
    seed: int = 0
    # Full mode only: how to reach the LLM and build the agent's dependencies. The
    # composition root (oncall.cli) passes its own; evals never builds them itself.
    llm_endpoint: Callable[[Settings], contextlib.AbstractContextManager[str]] | None = None
    build_deps: Callable[[Settings, str, Embedder], Deps] | None = None


@contextlib.contextmanager
def open_evaluator(
    options: EvalOptions, settings: Settings, embedder: Embedder, console: Console | None
) -> Iterator[tuple[Evaluate, dict[str, Any]]]:
    """The evaluator for `options.mode` and its cache-relevant config; resources (index,
    model server) are released after the block."""
    config: dict[str, Any] = {
        "mode": options.mode,
        "seed": options.seed,
        "embedding": settings.embedding.model,
    }
    if options.mode == "routing":
        from agent.router import DEFAULT_ARTEFACT, Router, load_router_artefact

        config["router"] = hashlib.sha256(DEFAULT_ARTEFACT.read_bytes()).hexdigest()[:16]
        yield _routing(Router(embedder, load_router_artefact(embedder=embedder.name))), config
        return
    index_settings = _index_settings(options.corpus, settings, embedder, console)
    config["retrieval"] = settings.retrieval.model_dump(mode="json")
    if options.mode == "retrieval":
        with _retrieval(index_settings, embedder, config) as evaluate:
            yield evaluate, config
        return
    with _full(options, index_settings, embedder, config, console) as evaluate:
        yield evaluate, config


def _routing(router: Any) -> Evaluate:
    from evals.evaluators import RoutingEvaluator

    return RoutingEvaluator(router)


@contextlib.contextmanager
def _retrieval(
    settings: Settings, embedder: Embedder, config: dict[str, Any]
) -> Iterator[Evaluate]:
    from evals.evaluators import RetrievalEvaluator
    from evals.retrieval import index_fingerprint
    from ingest.store import DocStore

    with DocStore(settings.store, settings.data_dir) as store:
        config["index"] = _checked_fingerprint(store, index_fingerprint)
        yield RetrievalEvaluator(store, embedder, settings.retrieval)


@contextlib.contextmanager
def _full(
    options: EvalOptions,
    settings: Settings,
    embedder: Embedder,
    config: dict[str, Any],
    console: Console | None,
) -> Iterator[Evaluate]:
    from agent.service import Agent
    from evals.evaluators import FullEvaluator
    from evals.judge import Judge
    from evals.retrieval import index_fingerprint
    from oncall.llm.client import build_chat_model

    if options.llm_endpoint is None or options.build_deps is None:
        raise ValueError("full mode needs EvalOptions.llm_endpoint and build_deps")
    llm_endpoint, build_deps = options.llm_endpoint, options.build_deps

    config["llm"] = settings.llm.model_dump(mode="json", exclude={"api_key"})
    config["agent"] = settings.agent.model_dump(mode="json")
    config["judge"] = options.judge
    config["correct_threshold"] = options.correct_threshold
    if console is not None:
        console.print("[dim]connecting to the LLM (the embedded one starts if needed)...[/]")
    with llm_endpoint(settings) as url:
        deps = build_deps(settings, url, embedder)
        try:
            config["index"] = _checked_fingerprint(deps.store, index_fingerprint)
            judge = (
                Judge(build_chat_model(settings.llm, url, thinking=False))
                if options.judge
                else None
            )
            # No checkpointer and no recorder: items are independent and eval traffic must
            # not end up in turns.sqlite (the flywheel's real-user data).
            agent = Agent(deps)
            yield FullEvaluator(agent, embedder, judge, options.correct_threshold)
        finally:
            deps.store.close()
            for extra in (deps.catalogue, deps.sandbox):  # internal tools, run_python kernels
                if extra is not None:
                    extra.close()


def _checked_fingerprint(store: Any, fingerprint: Callable[[Any], str]) -> str:
    if not store.exists() or store.count() == 0:
        raise OncallError(
            "index_empty",
            f"no documents indexed in {store.location}; pass --corpus FOLDER to index one for "
            "this eval, or run `oncall ingest PATH` first",
        )
    return fingerprint(store)


def _index_settings(
    corpus: Path | None, settings: Settings, embedder: Embedder, console: Console | None
) -> Settings:
    """Settings pointing at the index to evaluate: the corpus's own (ingested or brought
    up to date now) or, without --corpus, the configured one."""
    if corpus is None:
        return settings
    from evals.retrieval import prepare_corpus

    with Progress(
        TextColumn("[bold]index corpus"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} files"),
        console=console or Console(stderr=True, quiet=True),
        transient=True,
    ) as progress:
        task = progress.add_task("index", total=None)
        index = prepare_corpus(
            corpus,
            settings,
            embedder,
            on_start=lambda n: progress.update(task, total=n),
            on_file=lambda _doc, _chunks: progress.update(task, advance=1),
        )
    if console is not None:
        r = index.report
        console.print(
            f"corpus {corpus}: {len(r.added)} added, {len(r.updated)} updated, "
            f"{len(r.unchanged)} unchanged, {len(r.deleted)} removed"
            + (f", [yellow]{len(r.failed)} failed[/] ({next(iter(r.failed))})" if r.failed else "")
        )
    return index.settings
