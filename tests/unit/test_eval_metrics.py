"""Every eval metric on hand-made cases whose values were worked out by hand."""

from __future__ import annotations

import math
from typing import ClassVar

import pytest

from evals.judge import Judge, parse_score
from evals.metrics import (
    abstention_rate,
    accuracy,
    citation_precision,
    cosine,
    gold_match,
    hit_at_k,
    latency_summary,
    mean,
    ndcg_at_k,
    percentile,
    precision_when_answered,
    reciprocal_rank,
    route_accuracy,
    semantic_similarity,
    token_f1,
    tool_choice_accuracy,
    tool_choice_correct,
)
from oncall.testing.fakes import ScriptedChatModel


def test_gold_match_accepts_stems_doc_ids_and_paths() -> None:
    src = "/data/corpus/plugins-rhdh-configure.txt"
    assert gold_match("plugins-rhdh-configure", src, ["plugins-rhdh-configure"]) is not None
    # rhdh style: the gold is a file stem; the doc id may carry a folder
    assert gold_match("guides/audit-log", "/c/guides/audit-log.txt", ["audit-log"]) == "audit-log"
    # handbook style: doc id relative to the ingested folder, with or without suffix
    hb = "/kb/runbooks/payments-api-5xx.md"
    assert gold_match("runbooks/payments-api-5xx", hb, ["runbooks/payments-api-5xx"])
    assert gold_match("runbooks/payments-api-5xx", hb, ["runbooks/payments-api-5xx.md"])
    assert gold_match("x", hb, [hb]) == hb  # a full source path
    assert gold_match("runbooks/payments-api-5xx", hb, ["payments-api"]) is None
    assert gold_match("runbooks/payments-api-5xx", hb, ["other/payments-api-5xx"]) is None
    assert gold_match("a", "/kb/a.md", []) is None


def test_hit_at_k_and_reciprocal_rank() -> None:
    ranking = [None, None, "a", "a"]
    assert hit_at_k(ranking, 2) == 0.0
    assert hit_at_k(ranking, 3) == 1.0
    assert reciprocal_rank(ranking) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranking, k=2) == 0.0
    assert reciprocal_rank([]) == 0.0
    assert hit_at_k(["b"], 1) == 1.0 and reciprocal_rank(["b"]) == 1.0


def test_ndcg_counts_each_gold_document_once() -> None:
    # gains at ranks 2 and 4 (the second "a" at rank 5 adds nothing); ideal: ranks 1 and 2
    ranking = [None, "a", None, "b", "a"]
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at_k(ranking, n_gold=2, k=5) == pytest.approx(dcg / ideal)  # 0.6509
    assert ndcg_at_k(ranking, n_gold=2, k=5) == pytest.approx(0.65092, abs=1e-5)
    assert ndcg_at_k(["a", "b"], n_gold=2, k=5) == pytest.approx(1.0)
    # one gold doc at rank 1 of k=1 is perfect even if three docs are gold
    assert ndcg_at_k(["a"], n_gold=3, k=1) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "a", "a"], n_gold=1, k=3) == pytest.approx(1.0)
    assert ndcg_at_k([None, None], n_gold=1, k=2) == 0.0
    assert ndcg_at_k(["a"], n_gold=0, k=5) == 0.0


def test_token_f1_squad_style() -> None:
    # pred tokens: cat sat on mat (articles dropped); ref: cat on mat -> P 3/4, R 1
    assert token_f1("The cat sat on the mat.", "cat on a mat") == pytest.approx(6 / 7)
    assert token_f1("Port 50051", "50051") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("nothing shared", "entirely different") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0
    # CJK: one token per character; 重启服务 vs 重启 -> P 2/4, R 1
    assert token_f1("重启服务", "重启") == pytest.approx(2 / 3)


class _FixedEmbedder:
    vectors: ClassVar[dict[str, list[float]]] = {"a": [1.0, 0.0], "b": [0.6, 0.8], "c": [0.0, 0.0]}

    def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]


def test_cosine_and_semantic_similarity() -> None:
    assert cosine([1, 2], [2, 4]) == pytest.approx(1.0)
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([0, 0], [1, 1]) == 0.0
    assert semantic_similarity(_FixedEmbedder(), "a", "b") == pytest.approx(0.6)
    assert semantic_similarity(_FixedEmbedder(), "a", "c") == 0.0


def test_citation_precision() -> None:
    assert citation_precision(["a", None, None]) == pytest.approx(1 / 3)
    assert citation_precision(["a", "b"]) == 1.0
    assert citation_precision([]) is None


def test_abstention_and_precision_when_answered() -> None:
    abstained = [True, False, False, False]
    correct = [False, True, False, True]
    assert abstention_rate(abstained) == 0.25
    assert precision_when_answered(abstained, correct) == pytest.approx(2 / 3)
    assert precision_when_answered([True], [False]) is None
    assert abstention_rate([]) is None


def test_route_and_tool_choice_accuracy() -> None:
    assert route_accuracy(["direct", "deep", "deep"], ["direct", "direct", None]) == 0.5
    assert accuracy(["x"], [None]) is None
    assert tool_choice_correct(["search_docs", "run_python"], "search_docs")
    assert tool_choice_correct([], "none") and not tool_choice_correct(["search_docs"], "none")
    called = [["search_docs"], [], ["search_docs"], []]
    assert tool_choice_accuracy(called, ["search_docs", "none", "none", "run_python"]) == 0.5
    assert tool_choice_accuracy([], []) is None


def test_percentiles_mean_and_latency_per_stage() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([7], 95) == 7 and percentile([], 50) is None
    assert mean([1.0, None, 0.0]) == 0.5 and mean([None]) is None
    stats = latency_summary([{"retrieval": 10, "llm": 100}, {"retrieval": 30}])
    assert stats["retrieval"] == {"p50": 20.0, "p95": pytest.approx(29.0), "mean": 20.0}
    assert stats["llm"]["p95"] == 100.0


def test_judge_score_parsing() -> None:
    assert parse_score('{"score": 5, "reason": "same"}') == 1.0
    assert parse_score('{"score": "3"}') == 0.5
    assert parse_score("Score: 2/5") == 0.25
    assert parse_score("4") == 0.75
    assert parse_score("no idea, 10 out of 10") is None


def test_judge_sends_the_documented_prompts() -> None:
    model = ScriptedChatModel(replies=['{"score": 4, "reason": "minor omission"}', "1"])
    judge = Judge(model)
    verdict = judge.correctness("Which port?", "50051", "It listens on 50051.")
    assert verdict.score == 0.75 and "minor omission" in verdict.raw
    assert "REFERENCE: 50051" in str(model.calls[0][1].content)
    assert judge.faithfulness("Made up.", ["passage one"]).score == 0.0
    assert "[1] passage one" in str(model.calls[1][1].content)
