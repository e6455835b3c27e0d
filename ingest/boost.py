"""Prefer the near-duplicate document the question names.

Guides that exist once per platform ("Installing ... on EKS", "... on AKS", "... on GKE")
share almost every sentence, so both retrieval arms rank them nearly alike and the one the
question names can lose to a sibling. Among the candidates of one search, a title or section
term that some candidates have and others lack is a *distinguishing* term ("eks", "aks",
"helm", "operator"); each candidate's fused score is raised in proportion to the share of
the question's distinguishing terms its title and section contain. A question naming none
changes nothing. `title_boost` is in units of a first-rank RRF score, chosen by
cross-validation (benchmarks/retrieval_bench.py --cv).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ingest.sparse import tokenize


def _label_terms(payload: dict[str, Any]) -> set[str]:
    return set(tokenize(f"{payload.get('title', '')} {payload.get('section', '')}"))


def boost_named(hits: Sequence[Any], query: str, weight: float, rrf_k: int) -> list[Any]:
    """`hits` (with `.score` and `.payload`) re-sorted after the boost; others unchanged."""
    if weight <= 0 or len(hits) < 2:
        return list(hits)
    labels = [_label_terms(h.payload) for h in hits]
    everywhere = set.intersection(*labels)
    asked = set(tokenize(query)) & (set.union(*labels) - everywhere)
    if not asked:
        return list(hits)
    unit = weight / (rrf_k + 1)  # a first-ranked RRF contribution
    boosted = [
        replace(h, score=h.score + unit * len(asked & label) / len(asked))
        for h, label in zip(hits, labels, strict=True)
    ]
    return sorted(boosted, key=lambda h: -h.score)
