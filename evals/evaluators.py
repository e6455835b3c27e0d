"""What one eval item runs in each mode, and the per-item scores it produces.

- retrieval: the search stack only (no LLM): hit@k, MRR, nDCG against `gold_doc_ids`.
- routing: the auto-think router only: route accuracy against `expected_route`.
- full: `Agent.ask` with the configured LLM: everything above plus answer, citation,
  abstention, tool-choice and (with a judge) correctness/faithfulness scores.

Each evaluator returns a JSON-ready dict; the runner adds id, key, category and timing.
Scores are floats in [0, 1] (booleans as 0.0/1.0) under `scores`, so the summary can
average any of them without knowing what it is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from agent.pasted import Attachment
from agent.router import Router
from agent.service import Agent, Answer
from agent.state import Route
from evals.answer_checks import expected_calls_made, keywords_present, numeric_correct
from evals.dataset import EvalItem
from evals.judge import Judge
from evals.metrics import (
    citation_precision,
    gold_match,
    hit_at_k,
    ndcg_at_k,
    reciprocal_rank,
    semantic_similarity,
    token_f1,
    tool_choice_correct,
)
from evals.retrieval import retrieve
from ingest.embed import Embedder
from ingest.store import DocStore
from oncall.core.identity import Principal
from oncall.core.settings import RetrievalSettings
from tools.search_docs import DocHit

HIT_KS = (1, 3, 5, 10)
NDCG_KS = (5, 10)
RANK_DEPTH = max(HIT_KS)  # chunks retrieved per question in retrieval mode


def retrieval_scores(hits: Sequence[DocHit], gold: Sequence[str]) -> dict[str, float]:
    """hit@k, MRR@10 and nDCG@k of a chunk ranking against the gold documents."""
    matches = [gold_match(h.doc_id, h.source, gold) for h in hits]
    scores = {f"hit@{k}": hit_at_k(matches, k) for k in HIT_KS}
    scores["mrr"] = reciprocal_rank(matches, RANK_DEPTH)
    for k in NDCG_KS:
        scores[f"ndcg@{k}"] = ndcg_at_k(matches, len(set(gold)), k)
    return scores


def ranked_rows(hits: Sequence[DocHit], gold: Sequence[str]) -> list[dict[str, Any]]:
    """The ranking as stored in results.jsonl (enough to debug a miss, without the text)."""
    return [
        {
            "doc": h.doc_id,
            "source": h.source,
            "chunk": h.chunk_id,
            "section": h.section,
            "similarity": round(h.similarity, 4),
            "gold": gold_match(h.doc_id, h.source, gold),
        }
        for h in hits
    ]


class RetrievalEvaluator:
    """Search only; items without gold documents are run (latency) but not scored."""

    def __init__(self, store: DocStore, embedder: Embedder, retrieval: RetrievalSettings):
        self._store, self._embedder, self._retrieval = store, embedder, retrieval

    def __call__(self, item: EvalItem) -> dict[str, Any]:
        started = time.perf_counter()
        hits = retrieve(
            item.question,
            self._store,
            self._embedder,
            self._retrieval,
            RANK_DEPTH,
            item.user_groups,
        )
        ms = (time.perf_counter() - started) * 1000
        gold = item.gold_doc_ids
        return {
            "mode": "retrieval",
            "gold_doc_ids": list(gold),
            "retrieved": ranked_rows(hits, gold),
            "scores": retrieval_scores(hits, gold) if gold else {},
            "latency_ms": {"retrieval": round(ms, 3)},
        }


class RoutingEvaluator:
    """The router's decision; `p_deep` is recomputed outside the timed call."""

    def __init__(self, router: Router):
        self._router = router

    def __call__(self, item: EvalItem) -> dict[str, Any]:
        started = time.perf_counter()
        decision = self._router.decide(item.question)
        ms = (time.perf_counter() - started) * 1000
        scores = {}
        if item.expected_route:
            scores["route_correct"] = float(decision.route == item.expected_route)
        return {
            "mode": "routing",
            "route": decision.route,
            "expected_route": item.expected_route,
            "route_source": decision.source,
            "confidence": decision.confidence,
            "p_deep": round(self._router.p_deep(item.question), 4),
            "scores": scores,
            "latency_ms": {"route": round(ms, 3)},
        }


class FullEvaluator:
    """`Agent.ask` per item (no memory, no turn records), scored against the references.

    An answer is counted correct when the judge gives it >= 4/5 or, without a judge, when
    its semantic similarity to the reference is >= `correct_threshold`; on an unanswerable
    item (`answerable: false`) declining is the correct outcome.
    """

    def __init__(
        self,
        agent: Agent,
        embedder: Embedder,
        judge: Judge | None = None,
        correct_threshold: float = 0.7,
        route: Route | None = None,
    ):
        self._agent, self._embedder, self._judge = agent, embedder, judge
        self._threshold = correct_threshold
        self._route = route  # forced DIRECT/DEEP (auto-think comparisons); None: the router

    def __call__(self, item: EvalItem) -> dict[str, Any]:
        user = Principal.local(list(item.user_groups)) if item.user_groups else None
        attachment = item.extra.get("attachment")
        files = [Attachment(**attachment)] if isinstance(attachment, dict) else []
        started = time.perf_counter()
        answer = self._agent.ask(item.question, route=self._route, user=user, attachments=files)
        wall_ms = (time.perf_counter() - started) * 1000
        tools = [c.name for c in answer.tool_calls]
        cited = _cited_docs(answer)
        scores: dict[str, float] = {"abstained": float(answer.abstained)}
        if item.gold_doc_ids:
            scores.update(retrieval_scores(answer.hits, item.gold_doc_ids))
            precision = citation_precision(
                [gold_match(h.doc_id, h.source, item.gold_doc_ids) for h in cited]
            )
            if precision is not None:
                scores["citation_precision"] = precision
        if item.expected_route:
            scores["route_correct"] = float(answer.route == item.expected_route)
        if item.expected_tool:
            scores["tool_correct"] = float(tool_choice_correct(tools, item.expected_tool))
        expected_calls = item.extra.get("expected_calls")
        if isinstance(expected_calls, list):
            made = [(c.name, c.args) for c in answer.tool_calls if c.ok]
            optional = item.extra.get("optional_args", [])
            scores["calls_made"] = float(expected_calls_made(made, expected_calls, optional))
        judged = self._answer_scores(item, answer, cited, scores)
        return {
            "mode": "full",
            "answer": answer.text,
            "route": answer.route,
            "expected_route": item.expected_route,
            "tools": tools,
            "cited_docs": [h.doc_id for h in cited],
            "gold_doc_ids": list(item.gold_doc_ids),
            "retrieved": ranked_rows(answer.hits, item.gold_doc_ids),
            "judge": judged,
            "scores": scores,
            "mode_path": answer.mode,
            "dropped": answer.dropped,
            "computation": answer.computation,
            "correct_by": judged.pop("_rule", ""),
            "latency_ms": {
                **{k: round(v, 3) for k, v in answer.timings_ms.items()},
                "wall": round(wall_ms, 3),
            },
            "llm_steps": answer.llm_steps,
            "tokens": {
                "prompt": answer.usage.get("prompt_tokens", 0),
                "cached": answer.usage.get("cached_tokens", 0),
                "completion": answer.usage.get("completion_tokens", 0),
            },
        }

    def _answer_scores(
        self, item: EvalItem, answer: Answer, cited: list[DocHit], scores: dict[str, float]
    ) -> dict[str, str]:
        """Fills answer-quality scores in place; returns the judge's raw replies."""
        raw: dict[str, str] = {}
        reference = item.reference_answer if item.answerable is not False else None
        if reference:
            scores["token_f1"] = token_f1(answer.text, reference)
            scores["similarity"] = semantic_similarity(self._embedder, answer.text, reference)
        if self._judge is not None and reference and not answer.abstained:
            verdict = self._judge.correctness(item.question, reference, answer.text)
            raw["correctness"] = verdict.raw
            if verdict.score is not None:
                scores["judge_correctness"] = verdict.score
        if self._judge is not None and cited and not answer.abstained:
            passages = list(dict.fromkeys(c.hit.text for c in answer.citations))
            verdict = self._judge.faithfulness(answer.text, passages)
            raw["faithfulness"] = verdict.raw
            if verdict.score is not None:
                scores["judge_faithfulness"] = verdict.score
        correct, rule = self._is_correct(item, answer, scores)
        raw["_rule"] = rule
        if correct is not None:
            scores["correct"] = float(correct)
            answerable = item.answerable is not False
            # Both failure rates, side by side: a wrong answer is worse than "I don't know",
            # and "I don't know" to an answerable question is a failure too.
            scores["false_answer"] = float(not correct and not answer.abstained)
            if answerable:
                scores["false_abstention"] = float(answer.abstained)
        return raw

    def _is_correct(
        self, item: EvalItem, answer: Answer, scores: dict[str, float]
    ) -> tuple[bool | None, str]:
        """The rubric of evals/answer_checks.py, and which rule decided."""
        if item.answerable is False:
            return answer.abstained, "abstained"
        keywords = item.extra.get("answer_keywords")
        expected = item.extra.get("answer")
        if answer.abstained:
            has_reference = item.reference_answer or item.gold_doc_ids or keywords or expected
            return (False if has_reference else None), "abstained"
        if isinstance(keywords, list) and keywords:
            return keywords_present(answer.text, keywords), "keywords"
        if expected is not None:
            tolerance = float(item.extra.get("tolerance", 0.0))
            return numeric_correct(answer.text, expected, tolerance), "numeric"
        if "judge_correctness" in scores:
            return scores["judge_correctness"] >= 0.75, "judge"
        if "similarity" in scores:
            return scores["similarity"] >= self._threshold, "similarity"
        return None, ""


def _cited_docs(answer: Answer) -> list[DocHit]:
    """One hit per distinct cited document, in citation order."""
    seen: dict[str, DocHit] = {}
    for c in answer.citations:
        seen.setdefault(c.hit.doc_id, c.hit)
    return list(seen.values())
