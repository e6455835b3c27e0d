"""Run an evaluator over dataset items: progress bar, per-item cache, concurrency.

Each finished item is appended to `results.jsonl` at once (flushed), tagged with a key that
hashes the item and the run configuration. A rerun into the same folder reuses every line
whose key still matches and evaluates only the rest, so an interrupted run resumes where it
stopped and a changed config or corpus re-evaluates everything. Items that failed are not
reused. When the run ends the file is rewritten in dataset order, without stale lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from evals.dataset import EvalItem
from oncall.core.errors import OncallError

Evaluate = Callable[[EvalItem], dict[str, Any]]
RESULTS = "results.jsonl"


@dataclass(frozen=True)
class RunOutcome:
    results: list[dict[str, Any]]  # one per item, dataset order
    reused: int  # taken from the cache
    evaluated: int  # computed in this run


def item_key(item: EvalItem, config: dict[str, Any]) -> str:
    """Cache key: the item's content plus everything in the run config (mode, k, models,
    corpus fingerprint, seed)."""
    blob = json.dumps({"item": item.as_dict(), "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load_cached(path: Path, keys: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Results in `path` whose id and key match `keys` (id -> key) and that did not fail.
    A half-written last line (the run was killed mid-write) is ignored."""
    if not path.is_file():
        return {}
    cached: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (
            isinstance(row, dict)
            and not row.get("error")
            and keys.get(str(row.get("id"))) == row.get("key")
        ):
            cached[row["id"]] = row
    return cached


def run_items(
    items: Sequence[EvalItem],
    evaluate: Evaluate,
    out_dir: Path,
    config: dict[str, Any],
    concurrency: int = 1,
    fresh: bool = False,
    console: Console | None = None,
) -> RunOutcome:
    """Evaluate every item not already cached in `out_dir`; see the module docstring.

    An `OncallError` (model server or index down) stops the run: every later item would fail
    the same way. What finished is kept, so the next run resumes from there.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESULTS
    if fresh:
        path.unlink(missing_ok=True)
    keys = {it.id: item_key(it, config) for it in items}
    done = load_cached(path, keys)
    todo = [it for it in items if it.id not in done]
    lock, stop = threading.Lock(), threading.Event()

    with path.open("a", encoding="utf-8") as sink, _progress(console, len(items)) as advance:
        advance(len(done))

        def one(item: EvalItem) -> None:
            if stop.is_set():  # an earlier item hit an infrastructure error
                return
            try:
                row = _evaluate_one(item, evaluate, keys[item.id])
            except OncallError:
                stop.set()
                raise
            with lock:
                sink.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                sink.flush()
                done[item.id] = row
            advance(1)

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = [pool.submit(one, it) for it in todo]
            _wait_or_raise(futures)

    ordered = [done[it.id] for it in items]
    _rewrite(path, ordered)
    return RunOutcome(ordered, reused=len(items) - len(todo), evaluated=len(todo))


def _evaluate_one(item: EvalItem, evaluate: Evaluate, key: str) -> dict[str, Any]:
    started = time.perf_counter()
    row: dict[str, Any] = {
        "id": item.id,
        "key": key,
        "category": item.category,
        "language": item.language,
        "question": item.question,
    }
    try:
        row.update(evaluate(item))
        row["error"] = None
    except OncallError:
        raise
    except Exception as exc:  # one bad item never stops the run; its row says why
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return row


def _wait_or_raise(futures: list[Future[None]]) -> None:
    finished, pending = wait(futures, return_when=FIRST_EXCEPTION)
    for f in finished:
        if f.exception() is not None:
            for p in pending:
                p.cancel()
            raise f.exception()  # type: ignore[misc]


def _rewrite(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


@contextmanager
def _progress(console: Console | None, total: int) -> Iterator[Callable[[int], None]]:
    if console is None:
        yield lambda n: None
        return
    with Progress(
        TextColumn("[bold]eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("eval", total=total)
        yield lambda n: progress.update(task, advance=n)
