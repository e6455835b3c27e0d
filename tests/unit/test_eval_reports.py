"""Summaries, the HTML report, and the compare regression gate (also through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evals.compare import compare, load_summary, regressions, warnings
from evals.report import render_report
from evals.summary import metric_direction, summarize
from oncall.cli.eval_cmd import eval_app

ROWS: list[dict[str, Any]] = [
    {"id": "a", "category": "plugins", "language": "en", "question": "q1", "error": None,
     "route": "direct", "expected_route": "direct", "answer": "x",
     "scores": {"hit@5": 1.0, "mrr": 1.0, "abstained": 0.0, "correct": 1.0, "route_correct": 1.0},
     "latency_ms": {"retrieval": 10.0, "llm": 100.0}, "tokens": {"prompt": 100, "completion": 10}},
    {"id": "b", "category": "plugins", "language": "zh", "question": "q<script>", "error": None,
     "route": "direct", "expected_route": "deep",
     "scores": {"hit@5": 0.0, "mrr": 0.0, "abstained": 1.0, "correct": 0.0, "route_correct": 0.0},
     "latency_ms": {"retrieval": 30.0}, "tokens": {"prompt": 50, "completion": 0}},
    {"id": "c", "category": "rbac", "language": "en", "question": "q3", "error": None,
     "route": "deep", "expected_route": "deep",
     "scores": {"hit@5": 1.0, "mrr": 0.5, "abstained": 0.0, "correct": 0.0, "route_correct": 1.0},
     "latency_ms": {"retrieval": 20.0}, "tokens": {"prompt": 150, "completion": 20}},
    {"id": "d", "category": "rbac", "language": "en", "question": "q4",
     "error": "ValueError: too long"},
]  # fmt: skip


def test_summary_aggregates_scores_latency_tokens_and_breakdowns() -> None:
    s = summarize(ROWS, "full", "d.jsonl", {"mode": "full"})
    m = s["metrics"]
    assert m["items"] == 4 and m["error_rate"] == 0.25
    assert m["hit@5"] == pytest.approx(2 / 3) and m["mrr"] == pytest.approx(0.5)
    assert m["route_accuracy"] == pytest.approx(2 / 3)
    assert m["abstention_rate"] == pytest.approx(1 / 3)
    assert m["answer_accuracy"] == pytest.approx(1 / 3)
    assert m["precision_when_answered"] == 0.5  # a right, c wrong; b abstained
    assert m["latency.retrieval.p50_ms"] == 20.0 and m["latency.llm.p95_ms"] == 100.0
    assert m["tokens.prompt.mean"] == 100.0 and m["tokens.total"] == 330.0
    assert s["by_category"]["plugins"]["hit@5"] == 0.5
    assert s["by_category"]["rbac"]["items"] == 2
    assert set(s["by_language"]) == {"en", "zh"}
    assert s["route_confusion"] == {"deep->deep": 1, "deep->direct": 1, "direct->direct": 1}
    assert s["errors"] == [{"id": "d", "error": "ValueError: too long"}]


def test_metric_directions() -> None:
    assert metric_direction("hit@5") == "higher"
    assert metric_direction("latency.llm.p95_ms") == "lower"
    assert metric_direction("tokens.total") == "lower" and metric_direction("error_rate") == "lower"
    assert metric_direction("abstention_rate") == "neutral"


def test_report_is_self_contained_html_with_plots_and_escaped_text() -> None:
    rows = [r for r in ROWS]
    html = render_report(summarize(rows, "full", "d.jsonl", {}), rows)
    assert html.startswith("<!doctype html>") and html.count("<svg") >= 3
    assert "q&lt;script&gt;" in html and "<script" not in html
    assert "src=" not in html and "<link" not in html  # nothing fetched from elsewhere
    assert "By category" in html and "plugins" in html and "Failed items" in html
    assert "ValueError: too long" in html and "route direct (expected deep)" in html


def summary_with(**metrics: float) -> dict[str, Any]:
    return {"mode": "retrieval", "dataset": "d", "metrics": {"items": 10.0, **metrics}}


def test_gate_flags_quality_drops_beyond_the_threshold() -> None:
    before = summary_with(**{"hit@5": 0.90, "mrr": 0.80, "latency.retrieval.p95_ms": 50.0})
    after = summary_with(**{"hit@5": 0.87, "mrr": 0.79, "latency.retrieval.p95_ms": 500.0})
    deltas = {d.name: d for d in compare(before, after, max_drop=0.02)}
    assert deltas["hit@5"].regressed and deltas["hit@5"].delta == pytest.approx(-0.03)
    assert not deltas["mrr"].regressed  # -0.01 is within 0.02
    assert not deltas["latency.retrieval.p95_ms"].gated  # latency not gated by default
    assert [d.name for d in regressions(compare(before, after, max_drop=0.05))] == []
    gated = compare(before, after, max_drop=0.05, max_increase=0.2)
    assert [d.name for d in regressions(gated)] == ["latency.retrieval.p95_ms"]
    only = compare(before, after, max_drop=0.02, only=["mrr"])
    assert regressions(only) == []


def test_gate_flags_vanished_metrics_and_error_rate_and_refuses_mixed_modes() -> None:
    before = summary_with(**{"hit@5": 0.9, "error_rate": 0.0})
    after = summary_with(error_rate=0.1)
    names = {d.name for d in regressions(compare(before, after))}
    assert names == {"hit@5", "error_rate"}
    new_metric = compare(summary_with(), summary_with(mrr=0.1))
    assert regressions(new_metric) == []
    with pytest.raises(ValueError, match="same mode"):
        compare(before, {**after, "mode": "full"})
    other = {**after, "dataset": "e", "metrics": {"items": 5.0}}
    assert len(warnings(before, other)) == 2


def test_compare_cli_exit_codes_for_ci(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, hit in ((a, 0.9), (b, 0.8)):
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps(summary_with(**{"hit@5": hit})))
    runner = CliRunner()
    failed = runner.invoke(eval_app, ["compare", str(a), str(b)])
    assert failed.exit_code == 1 and "REGRESSED" in failed.output
    passed = runner.invoke(
        eval_app, ["compare", str(a), str(b / "summary.json"), "--max-drop", "0.2"]
    )
    assert passed.exit_code == 0 and "gate passed" in passed.output
    missing = runner.invoke(eval_app, ["compare", str(a), str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert load_summary(a)["metrics"]["hit@5"] == 0.9
