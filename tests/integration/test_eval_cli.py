"""`oncall eval run` end to end on real components: the handbook index and its question set
(retrieval only), a small corpus folder indexed by the eval itself, and the real router."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.pipeline import IngestReport
from oncall.cli.main import app
from tests.conftest import HANDBOOK_QUESTIONS

runner = CliRunner()


def run_eval(*args: str) -> str:
    result = runner.invoke(app, ["eval", "run", *args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines


def test_retrieval_eval_on_the_handbook(
    handbook_index: tuple[Path, IngestReport], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONCALL_DATA_DIR", str(handbook_index[0]))
    out = tmp_path / "run"
    output = run_eval(str(HANDBOOK_QUESTIONS), "--only", "retrieval", "--out", str(out))

    summary = json.loads((out / "summary.json").read_text())
    m = summary["metrics"]
    assert summary["mode"] == "retrieval" and m["error_rate"] == 0.0
    assert m["hit@5"] >= 0.9 and m["mrr"] >= 0.75, m  # same bar as test_retrieval.py
    assert m["hit@1"] <= m["hit@3"] <= m["hit@5"] <= m["hit@10"]
    assert 0 < m["ndcg@5"] <= 1 and m["latency.retrieval.p95_ms"] > 0
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == m["items"] and all(r["retrieved"] for r in rows)
    html = (out / "report.html").read_text()
    assert "<svg" in html and "hit@5" in html
    assert f"{len(rows)} evaluated, 0 from cache" in output

    again = run_eval(str(HANDBOOK_QUESTIONS), "--only", "retrieval", "--out", str(out))
    assert f"0 evaluated, {len(rows)} from cache" in again


def test_corpus_folder_is_indexed_once_and_reused(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "deploys.md").write_text(
        "# Deploys\n\n## Freeze\n\nNo production deploys on Fridays after 14:00 UTC.\n"
    )
    (corpus / "backups.md").write_text(
        "# Backups\n\n## Schedule\n\nPostgres base backups run nightly at 02:00 UTC.\n"
    )
    dataset = tmp_path / "qs.jsonl"
    dataset.write_text(
        '{"id": "1", "question": "When are production deploys frozen?", '
        '"gold_doc_ids": ["deploys"]}\n'
        '{"id": "2", "question": "When do Postgres backups run?", "gold_doc_ids": ["backups"]}\n'
    )
    out = tmp_path / "run"
    first = run_eval(
        str(dataset), "--corpus", str(corpus), "--only", "retrieval", "--out", str(out)
    )
    assert "2 added" in first
    assert json.loads((out / "summary.json").read_text())["metrics"]["hit@1"] == 1.0
    second = run_eval(
        str(dataset), "--corpus", str(corpus), "--only", "retrieval", "--out", str(out)
    )
    assert "0 added, 0 updated, 2 unchanged" in second and "0 evaluated" in second


def test_routing_eval_with_the_trained_router(tmp_path: Path) -> None:
    dataset = tmp_path / "routing.jsonl"
    lines = [
        {"id": "r1", "question": "thanks so much", "needs_deep_reasoning": False,
         "route_hint": "direct_chitchat", "language": "en"},
        {"id": "r2", "question": "Prove that the sum of two odd integers is even, step by step.",
         "needs_deep_reasoning": True, "route_hint": "deep_math", "language": "en"},
        {"id": "r3", "question": "你好", "needs_deep_reasoning": False, "language": "zh",
         "route_hint": "direct_chitchat"},
    ]  # fmt: skip
    dataset.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines))
    out = tmp_path / "run"
    run_eval(str(dataset), "--only", "routing", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["metrics"]["route_accuracy"] <= 1.0
    assert sum(summary["route_confusion"].values()) == 3
    assert set(summary["by_language"]) == {"en", "zh"}
    assert summary["metrics"]["latency.route.p50_ms"] > 0
