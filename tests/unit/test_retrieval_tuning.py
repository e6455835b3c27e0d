"""Retrieval tuning machinery: grouped k-fold CV of a parameter grid, the title boost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from evals.retrieval_cv import cross_validate, fold_of
from ingest.boost import boost_named


def test_folds_keep_a_group_together_and_cover_every_fold() -> None:
    groups = [i // 2 for i in range(40)]  # pairs: a question and its translation
    fold = fold_of(groups, 5)
    assert all(fold[i] == fold[i + 1] for i in range(0, 40, 2))
    assert set(fold) == set(range(5))
    assert fold == fold_of(groups, 5)  # seeded: the same split every run


def test_cv_scores_each_fold_with_a_pick_made_without_it() -> None:
    # Grid point "a" is perfect on questions 0-9 and useless elsewhere; "b" scores 0.6
    # everywhere. Picking on all questions prefers "b"; a fold holding 0-9 never saw "a" win.
    grid: list[dict[str, Any]] = [{"p": "a"}, {"p": "b"}]

    def score(params: Any, i: int) -> tuple[float, float]:
        if params["p"] == "a":
            return (1.0, 1.0) if i < 10 else (0.0, 0.0)
        return 0.6, 0.6

    result = cross_validate(grid, list(range(50)), ["en"] * 50, score, folds=5)
    assert result.chosen == {"p": "b"}
    assert result.hit5 == pytest.approx(0.6)
    assert {f["params"]["p"] for f in result.per_fold} == {"b"}
    assert sum(f["n"] for f in result.per_fold) == 50


def test_cv_weighs_languages_alike() -> None:
    # 40 English questions favour "a" a little, 10 Chinese ones favour "b" a lot.
    grid: list[dict[str, Any]] = [{"p": "a"}, {"p": "b"}]
    langs = ["en"] * 40 + ["zh"] * 10

    def score(params: Any, i: int) -> tuple[float, float]:
        if langs[i] == "en":
            return (0.8, 0.8) if params["p"] == "a" else (0.7, 0.7)
        return (0.2, 0.2) if params["p"] == "a" else (0.9, 0.9)

    assert cross_validate(grid, list(range(50)), langs, score).chosen == {"p": "b"}


@dataclass(frozen=True)
class FakeHit:
    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


def guide(name: str, score: float, platform: str) -> FakeHit:
    title = f"Installing Red Hat Developer Hub on {platform}"
    return FakeHit(name, score, {"title": title, "section": "Installing by using the Operator"})


def test_boost_lifts_the_guide_the_question_names() -> None:
    hits = [guide("aks", 0.033, "Azure Kubernetes Service (AKS)"),
            guide("eks", 0.032, "Amazon Elastic Kubernetes Service (EKS)"),
            guide("gke", 0.031, "Google Kubernetes Engine (GKE)")]  # fmt: skip
    ranked = boost_named(hits, "How do I install RHDH on EKS with the Operator?", 0.5, 60)
    assert [h.id for h in ranked] == ["eks", "aks", "gke"]
    # Words every candidate's title has ("operator", "installing") decide nothing.
    same = boost_named(hits, "How do I install it with the Operator?", 0.5, 60)
    assert [h.id for h in same] == ["aks", "eks", "gke"]


def test_no_boost_without_weight_or_named_terms() -> None:
    hits = [guide("aks", 0.033, "AKS"), guide("eks", 0.032, "EKS")]
    assert boost_named(hits, "install on EKS", 0.0, 60) == hits
    assert boost_named(hits, "what is a catalog entity?", 1.0, 60) == hits
