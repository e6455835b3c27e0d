"""`oncall eval run | compare | export`: the eval suite's command line (a typer sub-app that
oncall/cli/main.py registers). Heavy imports stay inside the commands so `oncall --help` is fast.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from oncall.cli.console import console, err_console
from oncall.core.errors import OncallError
from oncall.core.settings import Settings

eval_app = typer.Typer(
    help="Offline evals: score retrieval, routing and answers on a Q&A set; compare runs; "
    "export recorded feedback.",
    no_args_is_help=True,
)


class Only(StrEnum):
    retrieval = "retrieval"
    routing = "routing"


class ExportFormat(StrEnum):
    eval = "eval"
    chat = "chat"
    preference = "preference"


@contextlib.contextmanager
def _friendly_errors() -> Iterator[None]:
    """Known failures print one line naming the problem and the fix, and exit 2."""
    try:
        yield
    except OncallError as exc:
        err_console.print(f"[bold red]error[/] ({exc.code}): {exc.detail}")
        raise typer.Exit(2) from exc
    except (FileNotFoundError, ValueError, KeyError) as exc:
        err_console.print(f"[bold red]error[/]: {exc}")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: finished items are cached; rerun to resume")
        raise typer.Exit(130) from None


def _load_settings(config: Path | None, seed: int) -> Settings:
    if config is not None and not config.is_file():
        raise FileNotFoundError(
            f"{config}: no such config file (an .env file of ONCALL_ variables)"
        )
    settings = Settings(_env_file=config) if config else Settings()
    return settings.model_copy(update={"llm": settings.llm.model_copy(update={"seed": seed})})


@eval_app.command("run")
def run(
    dataset: Annotated[Path, typer.Argument(help="JSONL questions (format: docs/evals.md).")],
    corpus: Annotated[
        Path | None,
        typer.Option(help="Folder of documents to index for this eval (reused when unchanged)."),
    ] = None,
    only: Annotated[
        Only | None, typer.Option(help="retrieval: search only, no LLM; routing: router only.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help=".env file of ONCALL_ settings for this run.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="First N items only.")] = None,
    sample: Annotated[int | None, typer.Option(min=1, help="Random N items (by --seed).")] = None,
    split: Annotated[
        str | None,
        typer.Option(help="Only items of this split: dev (tune on it) or holdout (report)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling and LLM seed.")] = 0,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Items evaluated at once.")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default: DATA_DIR/evals/runs/DATASET-MODE).")
    ] = None,
    fresh: Annotated[bool, typer.Option(help="Ignore cached item results.")] = False,
    judge: Annotated[
        bool, typer.Option(help="Full mode: LLM-judge correctness and faithfulness.")
    ] = False,
    correct_threshold: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Full mode without judge: similarity counted correct."),
    ] = 0.7,
) -> None:
    """Evaluate a dataset; writes results.jsonl, summary.json and report.html."""
    from evals.dataset import load_dataset, select
    from evals.modes import EvalOptions, open_evaluator
    from evals.report import render_report
    from evals.runner import run_items
    from evals.summary import summarize
    from ingest.embed import load_embedder
    from oncall.cli.compose import build_deps, llm_endpoint

    with _friendly_errors():
        settings = _load_settings(config, seed)
        if split not in (None, "dev", "holdout"):
            raise ValueError(f"--split {split!r}: use dev or holdout")
        items = select(load_dataset(dataset), limit, sample, seed, split)
        mode = only.value if only else "full"
        if corpus is not None and mode == "routing":
            err_console.print("[yellow]note[/]: --corpus is not used by --only routing")
            corpus = None
        if corpus is None and mode != "routing":
            refuse_if_served(settings)
        run_dir = out or settings.data_dir / "evals" / "runs" / f"{dataset.stem}-{mode}"
        random.seed(seed)
        embedder = load_embedder(settings.embedding)
        options = EvalOptions(
            mode,  # type: ignore[arg-type]
            corpus,
            judge,
            correct_threshold,
            seed,
            llm_endpoint=llm_endpoint,
            build_deps=build_deps,
        )
        with open_evaluator(options, settings, embedder, err_console) as (evaluate, run_config):
            outcome = run_items(
                items, evaluate, run_dir, run_config, concurrency, fresh, err_console
            )
        summary = summarize(outcome.results, mode, str(dataset), run_config)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        (run_dir / "report.html").write_text(
            render_report(summary, outcome.results), encoding="utf-8"
        )
    _print_summary(summary)
    console.print(
        f"{outcome.evaluated} evaluated, {outcome.reused} from cache · {run_dir}/summary.json · "
        f"{run_dir}/report.html"
    )


def refuse_if_served(settings: Settings) -> None:
    """`eval run` does not go through a running service yet (it builds an agent of its own,
    which records nothing, over the index), so an eval of the configured index cannot run
    beside one: say so at once, with the ways out, not as `store_busy` after loading the
    embedder (docs/service.md)."""
    from oncall.cli.service import find_service

    service = find_service(settings.data_dir)
    if service is not None:
        raise OncallError(
            "store_busy",
            f"the index is held by the running service at {service.url}; evaluate a corpus "
            "of its own with --corpus FOLDER, or stop `oncall serve` for this run",
        )


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table("metric", "value", title=f"{summary['mode']} · {summary['dataset']}")
    for name, value in summary["metrics"].items():
        if name in ("items", "tokens.total"):
            table.add_row(name, f"{int(value):,}")
        else:
            table.add_row(name, f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}")
    console.print(table)


@eval_app.command("compare")
def compare_runs(
    baseline: Annotated[Path, typer.Argument(help="Run folder or summary.json (before).")],
    candidate: Annotated[Path, typer.Argument(help="Run folder or summary.json (after).")],
    max_drop: Annotated[
        float, typer.Option(min=0.0, help="Largest allowed absolute drop of a quality metric.")
    ] = 0.02,
    max_increase: Annotated[
        float | None,
        typer.Option(min=0.0, help="Gate latency/tokens too: largest relative rise (0.2 = 20%)."),
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option(help="Gate only these metrics (repeatable).")
    ] = None,
) -> None:
    """Per-metric deltas; exits 1 when a gated metric regressed (for CI)."""
    from evals.compare import compare, load_summary, regressions, warnings

    with _friendly_errors():
        before, after = load_summary(baseline), load_summary(candidate)
        deltas = compare(before, after, max_drop, max_increase, metric or ())
    for note in warnings(before, after):
        err_console.print(f"[yellow]warning[/]: {note}")
    # The verdict column never shrinks: on a narrow terminal "REGRESSED" must stay whole.
    gate = Column("gate", min_width=len("REGRESSED"), no_wrap=True)
    table = Table("metric", "before", "after", "delta", gate, title="eval compare")
    for d in deltas:
        status = "[red]REGRESSED[/]" if d.regressed else "ok" if d.gated else "[dim]-[/]"
        table.add_row(d.name, _num(d.before), _num(d.after), _num(d.delta, signed=True), status)
    console.print(table)
    failed = regressions(deltas)
    if failed:
        names = ", ".join(d.name for d in failed)
        err_console.print(f"[bold red]gate failed[/]: {len(failed)} metric(s) regressed: {names}")
        raise typer.Exit(1)
    console.print("[green]gate passed[/]")


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


@eval_app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="Output JSONL file.")],
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", help="eval items, chat fine-tuning lines, or preference pairs."),
    ] = ExportFormat.eval,
    db: Annotated[
        Path | None,
        typer.Option(
            help="turns.sqlite to read (default: the shared database when "
            "ONCALL_APPSTATE__URL is set, else DATA_DIR/turns.sqlite)."
        ),
    ] = None,
) -> None:
    """Export recorded turns with feedback (the data flywheel)."""
    from evals.export import to_chat_examples, to_eval_items, to_preference_pairs, write_jsonl

    with _friendly_errors():
        settings = Settings()
        turns = _recorded_turns(settings, db)
        skipped = 0
        if fmt is ExportFormat.preference:
            rows = to_preference_pairs(turns)
        else:
            with _chunk_lookup(settings) as lookup:
                if fmt is ExportFormat.eval:
                    rows = to_eval_items(turns, lookup)
                else:
                    rows, skipped = to_chat_examples(turns, lookup)
        write_jsonl(out, rows)
    console.print(f"{len(rows)} {fmt.value} lines from {len(turns)} turns -> {out}")
    if skipped:
        err_console.print(f"[yellow]note[/]: {skipped} turns skipped: their passages changed since")


def _recorded_turns(settings: Settings, db: Path | None) -> list[dict[str, Any]]:
    """The turn records of `--db`, of the shared database, or of DATA_DIR/turns.sqlite."""
    from agent.records import TurnRecorder
    from oncall.appstate import AppState

    if db is None and settings.appstate.url is not None:
        with AppState(settings.appstate, settings.data_dir) as state:
            return state.turns().rows()
    path = db or settings.data_dir / "turns.sqlite"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no recorded turns; answer questions first or pass --db")
    recorder = TurnRecorder(path)
    try:
        return recorder.turns()
    finally:
        recorder.close()


@contextlib.contextmanager
def _chunk_lookup(settings: Settings) -> Iterator[Any]:
    """Chunk id -> hit from the configured index (empty lookups if it cannot be opened)."""
    from evals.retrieval import fetch_chunks
    from ingest.store import DocStore

    try:
        store = DocStore(settings.store, settings.data_dir)
    except OncallError as exc:
        err_console.print(f"[yellow]note[/]: index not available ({exc.detail}); no passages")
        yield lambda ids: {}
        return
    with store:
        yield lambda ids: fetch_chunks(store, ids)
