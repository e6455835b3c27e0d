"""Per-item results -> `summary.json`: flat metric names, per-category and per-language
breakdowns, latency percentiles per stage and token use.

Metric names are flat strings (`hit@5`, `route_accuracy`, `latency.retrieval.p95_ms`) so
`oncall eval compare` can diff any two summaries, and `metric_direction` says which way is
better for each.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from evals.metrics import abstention_rate, latency_summary, mean, precision_when_answered

SUMMARY_FORMAT = 1
# Per-item score key -> summary metric name (anything else keeps its own name).
RENAMED = {
    "route_correct": "route_accuracy",
    "tool_correct": "tool_choice_accuracy",
    "correct": "answer_accuracy",
}
Direction = Literal["higher", "lower", "neutral"]


def metric_direction(name: str) -> Direction:
    """Which way is better: latencies, tokens and errors should go down; the abstention
    rate depends on how many items are answerable, so it is reported but not gated."""
    if name.startswith(("latency.", "tokens.")) or name == "error_rate":
        return "lower"
    if name in {"abstention_rate", "items"}:
        return "neutral"
    return "higher"


def score_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Means of every per-item score, plus abstention rate and precision when answered."""
    ok = [r for r in rows if not r.get("error")]
    names = sorted({k for r in ok for k in r.get("scores", {})})
    out: dict[str, float] = {}
    for name in names:
        if name == "abstained":
            continue
        value = mean(r["scores"].get(name) for r in ok)
        if value is not None:
            out[RENAMED.get(name, name)] = value
    judged = [r for r in ok if "abstained" in r.get("scores", {})]
    abstained = [bool(r["scores"]["abstained"]) for r in judged]
    rate = abstention_rate(abstained)
    if rate is not None:
        out["abstention_rate"] = rate
    graded = [r for r in judged if "correct" in r["scores"]]
    pwa = precision_when_answered(
        [bool(r["scores"]["abstained"]) for r in graded],
        [bool(r["scores"]["correct"]) for r in graded],
    )
    if pwa is not None:
        out["precision_when_answered"] = pwa
    return out


def summarize(
    rows: Sequence[dict[str, Any]], mode: str, dataset: str, config: dict[str, Any]
) -> dict[str, Any]:
    """The whole summary.json for one run."""
    ok = [r for r in rows if not r.get("error")]
    metrics: dict[str, float] = {"items": float(len(rows))}
    metrics["error_rate"] = (len(rows) - len(ok)) / len(rows) if rows else 0.0
    metrics.update(score_metrics(rows))
    latency = latency_summary([r.get("latency_ms", {}) for r in ok])
    for stage, stats in latency.items():
        metrics[f"latency.{stage}.p50_ms"] = stats["p50"]
        metrics[f"latency.{stage}.p95_ms"] = stats["p95"]
    tokens = [r["tokens"] for r in ok if r.get("tokens")]
    if tokens:
        for kind in ("prompt", "completion"):
            metrics[f"tokens.{kind}.mean"] = sum(t.get(kind, 0) for t in tokens) / len(tokens)
        metrics["tokens.total"] = float(
            sum(t.get("prompt", 0) + t.get("completion", 0) for t in tokens)
        )
    summary: dict[str, Any] = {
        "format": SUMMARY_FORMAT,
        "mode": mode,
        "dataset": dataset,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": config,
        "metrics": metrics,
        "latency_ms": latency,
        "by_category": breakdown(rows, "category"),
        "errors": [{"id": r["id"], "error": r["error"]} for r in rows if r.get("error")][:50],
    }
    languages = {r.get("language") for r in rows}
    if len(languages) > 1:
        summary["by_language"] = breakdown(rows, "language")
    confusion = route_confusion(ok)
    if confusion:
        summary["route_confusion"] = confusion
    return summary


def breakdown(rows: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """The score metrics per value of `key` (category, language), with the item count."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r.get(key) or "unknown"), []).append(r)
    return {
        name: {"items": float(len(group)), **score_metrics(group)}
        for name, group in sorted(groups.items())
    }


def route_confusion(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """`expected->predicted` counts, e.g. `deep->direct` = deep questions sent DIRECT."""
    pairs = Counter(
        f"{r['expected_route']}->{r['route']}"
        for r in rows
        if r.get("expected_route") and r.get("route")
    )
    return dict(sorted(pairs.items()))
