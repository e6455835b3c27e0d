"""`oncall eval compare A B`: per-metric deltas between two runs and a regression gate.

A is the baseline, B the candidate. A quality metric (higher is better) regresses when it
drops by more than `max_drop` (absolute, metrics are in [0, 1]); the error rate regresses
when it rises by more than `max_drop`. Latency and token metrics (lower is better) are
gated only when `max_increase` is given, as a relative rise (0.2 = 20% slower), because
timings on a shared CI box are noisy. A gated metric present in A but missing in B counts
as a regression: the candidate stopped measuring something.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.summary import Direction, metric_direction

SUMMARY = "summary.json"


@dataclass(frozen=True)
class Delta:
    name: str
    before: float | None
    after: float | None
    direction: Direction
    gated: bool
    regressed: bool

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


def load_summary(path: Path) -> dict[str, Any]:
    """A run folder (its summary.json) or a summary.json file."""
    file = path / SUMMARY if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"{path}: no {SUMMARY} here; pass a run folder written by `oncall eval run` "
            "or its summary.json"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise ValueError(f"{file}: not an eval summary (no 'metrics' object)")
    return data


def compare(
    before: dict[str, Any],
    after: dict[str, Any],
    max_drop: float = 0.02,
    max_increase: float | None = None,
    only: Sequence[str] = (),
) -> list[Delta]:
    """Deltas for every metric in either summary; `only` restricts the gate (not the
    listing) to the named metrics."""
    if before.get("mode") != after.get("mode"):
        raise ValueError(
            f"cannot compare a {before.get('mode')!r} run with a {after.get('mode')!r} run; "
            "compare two runs of the same mode"
        )
    a, b = before["metrics"], after["metrics"]
    deltas = []
    for name in sorted(set(a) | set(b)):
        direction = metric_direction(name)
        gated = _is_gated(name, direction, max_increase) and (not only or name in only)
        va, vb = a.get(name), b.get(name)
        regressed = gated and _regressed(name, direction, va, vb, max_drop, max_increase)
        deltas.append(Delta(name, va, vb, direction, gated, regressed))
    return deltas


def regressions(deltas: Sequence[Delta]) -> list[Delta]:
    return [d for d in deltas if d.regressed]


def warnings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Differences that make the comparison less meaningful (not failures)."""
    notes = []
    if before.get("dataset") != after.get("dataset"):
        notes.append(f"different datasets: {before.get('dataset')} vs {after.get('dataset')}")
    n_a, n_b = before["metrics"].get("items"), after["metrics"].get("items")
    if n_a != n_b:
        notes.append(f"different item counts: {n_a} vs {n_b} (--limit or --sample?)")
    return notes


def _is_gated(name: str, direction: Direction, max_increase: float | None) -> bool:
    if name == "error_rate" or direction == "higher":
        return True
    return direction == "lower" and max_increase is not None


def _regressed(
    name: str,
    direction: Direction,
    before: float | None,
    after: float | None,
    max_drop: float,
    max_increase: float | None,
) -> bool:
    if before is None:
        return False  # a new metric cannot regress
    if after is None:
        return True
    if name == "error_rate":
        return after - before > max_drop
    if direction == "higher":
        return before - after > max_drop
    if direction == "lower" and max_increase is not None:
        return after > before * (1 + max_increase) + 1e-9
    return False
