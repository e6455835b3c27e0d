"""The eval runner: per-item cache, resume after a crash, concurrency, error handling."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from evals.dataset import EvalItem
from evals.runner import RESULTS, item_key, run_items
from oncall.core.errors import OncallError

ITEMS = [EvalItem(id=f"q{i}", question=f"question {i}", category="c") for i in range(6)]
CONFIG = {"mode": "retrieval", "index": "abc"}


class Counting:
    """An evaluator that records the items it saw and can fail on chosen ids."""

    def __init__(self, crash_on: str | None = None, fail_on: str | None = None):
        self.seen: list[str] = []
        self.crash_on, self.fail_on = crash_on, fail_on
        self._lock = threading.Lock()

    def __call__(self, item: EvalItem) -> dict[str, Any]:
        with self._lock:
            self.seen.append(item.id)
        if item.id == self.crash_on:
            raise OncallError("llm_unreachable", "server down")
        if item.id == self.fail_on:
            raise ValueError("question too long")
        return {"scores": {"hit@5": 1.0}, "latency_ms": {"retrieval": 1.0}}


def lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / RESULTS).read_text().splitlines()]


def test_an_interrupted_run_resumes_with_the_remaining_items(tmp_path: Path) -> None:
    first = Counting(crash_on="q3")
    with pytest.raises(OncallError):
        run_items(ITEMS, first, tmp_path, CONFIG)
    assert first.seen == ["q0", "q1", "q2", "q3"]
    assert [r["id"] for r in lines(tmp_path)] == ["q0", "q1", "q2"]  # kept on disk

    second = Counting()
    outcome = run_items(ITEMS, second, tmp_path, CONFIG)
    assert second.seen == ["q3", "q4", "q5"]
    assert (outcome.reused, outcome.evaluated) == (3, 3)
    assert [r["id"] for r in outcome.results] == [i.id for i in ITEMS]
    assert [r["id"] for r in lines(tmp_path)] == [i.id for i in ITEMS]

    third = Counting()
    assert run_items(ITEMS, third, tmp_path, CONFIG).evaluated == 0 and third.seen == []


def test_a_changed_config_or_item_is_evaluated_again(tmp_path: Path) -> None:
    run_items(ITEMS, Counting(), tmp_path, CONFIG)
    other = Counting()
    run_items(ITEMS, other, tmp_path, {**CONFIG, "index": "changed"})
    assert len(other.seen) == len(ITEMS)

    edited = [*ITEMS[:-1], EvalItem(id="q5", question="reworded", category="c")]
    again = Counting()
    run_items(edited, again, tmp_path, {**CONFIG, "index": "changed"})
    assert again.seen == ["q5"]
    assert item_key(ITEMS[5], CONFIG) != item_key(edited[5], CONFIG)


def test_failed_items_are_recorded_and_retried_next_time(tmp_path: Path) -> None:
    outcome = run_items(ITEMS, Counting(fail_on="q2"), tmp_path, CONFIG)
    failed = outcome.results[2]
    assert failed["error"] == "ValueError: question too long" and "scores" not in failed
    assert outcome.results[1]["error"] is None
    retry = Counting()
    run_items(ITEMS, retry, tmp_path, CONFIG)
    assert retry.seen == ["q2"]


def test_a_half_written_line_and_stale_lines_are_dropped(tmp_path: Path) -> None:
    run_items(ITEMS[:2], Counting(), tmp_path, CONFIG)
    with (tmp_path / RESULTS).open("a") as fh:
        fh.write('{"id": "q2", "key": "trunc')  # killed mid-write
    again = Counting()
    outcome = run_items(ITEMS[1:3], again, tmp_path, CONFIG)
    assert again.seen == ["q2"] and outcome.reused == 1
    assert [r["id"] for r in lines(tmp_path)] == ["q1", "q2"]  # q0 is not in this run


def test_fresh_ignores_the_cache(tmp_path: Path) -> None:
    run_items(ITEMS, Counting(), tmp_path, CONFIG)
    again = Counting()
    assert run_items(ITEMS, again, tmp_path, CONFIG, fresh=True).evaluated == len(ITEMS)


def test_concurrency_runs_items_in_parallel_and_keeps_dataset_order(tmp_path: Path) -> None:
    # Every item waits until all six are running at once: only a parallel run gets past it.
    barrier = threading.Barrier(len(ITEMS), timeout=10)

    def together(item: EvalItem) -> dict[str, Any]:
        barrier.wait()
        return {"scores": {}}

    outcome = run_items(ITEMS, together, tmp_path, CONFIG, concurrency=len(ITEMS))
    assert [r["error"] for r in outcome.results] == [None] * len(ITEMS)
    assert [r["id"] for r in outcome.results] == [i.id for i in ITEMS]
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        run_items(ITEMS, together, tmp_path, CONFIG, concurrency=0)


def test_rows_carry_id_category_and_timing(tmp_path: Path) -> None:
    row = run_items(ITEMS[:1], Counting(), tmp_path, CONFIG).results[0]
    assert row["id"] == "q0" and row["category"] == "c" and row["question"] == "question 0"
    assert row["key"] == item_key(ITEMS[0], CONFIG) and row["elapsed_ms"] >= 0
