"""Per-mode evaluators on fakes: retrieval, routing and the full agent (scripted LLM)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.prompts import NOT_IN_DOCS
from agent.router import RouteDecision
from agent.service import Agent
from agent.state import Deps
from evals.dataset import EvalItem
from evals.evaluators import FullEvaluator, RetrievalEvaluator, RoutingEvaluator
from evals.judge import Judge
from oncall.core.settings import RetrievalSettings
from oncall.testing.fakes import FakeStore, HashEmbedder, ScriptedChatModel
from tests.unit.test_graph import CHUNKS

ROLLBACK = EvalItem(
    id="rb",
    question="How do I roll back payments-api?",
    reference_answer="Run lfctl rollback payments-api --to <previous-sha>.",
    gold_doc_ids=("payments-api-5xx",),  # a file stem, as in the rhdh set
    expected_route="direct",
    expected_tool="none",
    answerable=True,
)


def test_retrieval_evaluator_scores_the_ranking_against_gold_stems() -> None:
    embedder = HashEmbedder()
    store = FakeStore(CHUNKS, embedder)  # type: ignore[arg-type]
    evaluate = RetrievalEvaluator(store, embedder, RetrievalSettings())  # type: ignore[arg-type]
    row = evaluate(EvalItem(**{**ROLLBACK.__dict__, "user_groups": ("payments",)}))
    assert row["scores"]["hit@1"] == 1.0 and row["scores"]["mrr"] == 1.0
    assert row["retrieved"][0]["gold"] == "payments-api-5xx"
    assert row["retrieved"][1]["gold"] is None
    assert store.groups_seen[-1] == ["payments", "public"]  # the asker's groups reach search
    assert row["latency_ms"]["retrieval"] >= 0

    unanswerable = evaluate(EvalItem(id="u", question="Kubernetes version?", answerable=False))
    assert unanswerable["scores"] == {} and unanswerable["retrieved"]


class FakeRouter:
    def decide(self, question: str, override: Any = None) -> RouteDecision:
        route = "deep" if "prove" in question else "direct"
        return RouteDecision(route, 0.9, "fake", "classifier")  # type: ignore[arg-type]

    def p_deep(self, question: str) -> float:
        return 0.9 if "prove" in question else 0.1


def test_routing_evaluator_checks_the_expected_route() -> None:
    evaluate = RoutingEvaluator(FakeRouter())  # type: ignore[arg-type]
    right = evaluate(EvalItem(id="a", question="prove it", expected_route="deep"))
    wrong = evaluate(EvalItem(id="b", question="hello", expected_route="deep"))
    unlabelled = evaluate(EvalItem(id="c", question="hello"))
    assert right["scores"] == {"route_correct": 1.0} and right["p_deep"] == 0.9
    assert wrong["scores"] == {"route_correct": 0.0} and wrong["route"] == "direct"
    assert unlabelled["scores"] == {}


def full_evaluator(replies: list[str], judge_replies: list[str] | None = None) -> FullEvaluator:
    embedder = HashEmbedder()
    deps = Deps(
        store=FakeStore(CHUNKS, embedder),  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=ScriptedChatModel(replies=replies),
        retrieval=RetrievalSettings(top_k=2, min_similarity=0.2),
    )
    judge = Judge(ScriptedChatModel(replies=judge_replies)) if judge_replies else None
    return FullEvaluator(Agent(deps), embedder, judge)


def test_full_evaluator_scores_answer_citations_route_and_tools() -> None:
    evaluate = full_evaluator(["Run lfctl rollback payments-api --to <previous-sha>."])
    row = evaluate(ROLLBACK)
    s = row["scores"]
    assert row["route"] == "direct" and row["tools"] == [] and row["answer"]
    assert s["abstained"] == 0.0 and s["route_correct"] == 1.0 and s["tool_correct"] == 1.0
    assert s["hit@1"] == 1.0
    assert row["cited_docs"] == ["runbooks/payments-api-5xx"] and s["citation_precision"] == 1.0
    assert s["token_f1"] > 0.8 and s["similarity"] > 0.8 and s["correct"] == 1.0
    assert {"route", "retrieval", "llm", "total"} <= set(row["latency_ms"])
    assert row["tokens"]["prompt"] > 0 and row["tokens"]["completion"] > 0


def test_full_evaluator_uses_the_judge_when_given() -> None:
    evaluate = full_evaluator(
        ["Run lfctl rollback payments-api --to <previous-sha>."],
        judge_replies=['{"score": 2, "reason": "wrong"}', '{"score": 5, "reason": "ok"}'],
    )
    row = evaluate(ROLLBACK)
    assert row["scores"]["judge_correctness"] == 0.25
    assert row["scores"]["judge_faithfulness"] == 1.0
    assert row["scores"]["correct"] == 0.0  # the judge overrides the similarity threshold
    assert "wrong" in row["judge"]["correctness"]


@pytest.mark.parametrize(
    ("item", "expected_correct"),
    [
        (EvalItem(id="u", question="Which Kubernetes version runs?", answerable=False), 1.0),
        (ROLLBACK, 0.0),
    ],
)
def test_abstaining_is_right_only_when_the_docs_do_not_answer(
    item: EvalItem, expected_correct: float
) -> None:
    row = full_evaluator([NOT_IN_DOCS])(item)
    assert row["scores"]["abstained"] == 1.0
    assert row["scores"]["correct"] == expected_correct
