"""Choose retrieval parameters by k-fold cross-validation, never by the dev score alone.

Each fold picks the grid point with the best objective on the other folds and is scored
with it on its own questions; the mean over folds estimates how the *procedure* (tune on
what you have, run on what you have not seen) does on unseen questions. The parameters to
ship are then picked the same way on every question, and reported beside that estimate.

Questions that are translations of each other (same `group`) stay in one fold, so a
Chinese question never scores a setting chosen on its English twin.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Params = Mapping[str, Any]
# (params, question index) -> (hit@5, reciprocal rank@10); memoised by the caller
ScoreFn = Callable[[Params, int], tuple[float, float]]


@dataclass(frozen=True)
class CVResult:
    chosen: dict[str, Any]  # best on all questions: what to ship
    per_fold: list[dict[str, Any]]  # params chosen on the other folds, scores on this one
    hit5: float  # mean over folds of held-out hit@5
    mrr: float  # mean over folds of held-out MRR

    def summary(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "cv_hit@5": self.hit5, "cv_mrr": self.mrr,
                "folds": self.per_fold}  # fmt: skip


def fold_of(groups: Sequence[Hashable], folds: int, seed: int = 0) -> list[int]:
    """A fold number per question; one group, one fold; groups dealt out at random."""
    distinct = sorted(set(groups), key=str)
    random.Random(seed).shuffle(distinct)
    where = {g: i % folds for i, g in enumerate(distinct)}
    return [where[g] for g in groups]


def _objective(
    grid_point: Params, idx: Sequence[int], langs: Sequence[str], score: ScoreFn
) -> float:
    """Mean over languages of (hit@5 + MRR) / 2: each language counts alike."""
    by_lang: dict[str, list[float]] = {}
    for i in idx:
        hit, rr = score(grid_point, i)
        by_lang.setdefault(langs[i], []).append((hit + rr) / 2)
    return statistics.fmean(statistics.fmean(v) for v in by_lang.values())


def _best(
    grid: Sequence[Params], idx: Sequence[int], langs: Sequence[str], score: ScoreFn
) -> Params:
    # Ties go to the earliest grid point: list the simplest/default settings first.
    return max(grid, key=lambda p: (_objective(p, idx, langs, score), -grid.index(p)))


def cross_validate(
    grid: Sequence[Params],
    groups: Sequence[Hashable],
    langs: Sequence[str],
    score: ScoreFn,
    folds: int = 5,
    seed: int = 0,
) -> CVResult:
    """k-fold CV of "pick the best grid point"; see the module docstring."""
    fold = fold_of(groups, folds, seed)
    per_fold, hits, rrs = [], [], []
    for f in range(folds):
        train = [i for i, g in enumerate(fold) if g != f]
        test = [i for i, g in enumerate(fold) if g == f]
        if not test or not train:
            continue
        picked = _best(grid, train, langs, score)
        scored = [score(picked, i) for i in test]
        hit = statistics.fmean(s[0] for s in scored)
        rr = statistics.fmean(s[1] for s in scored)
        per_fold.append({"fold": f, "n": len(test), "params": dict(picked),
                         "hit@5": round(hit, 4), "mrr": round(rr, 4)})  # fmt: skip
        hits.append(hit * len(test))
        rrs.append(rr * len(test))
    n = len(groups)
    chosen = dict(_best(grid, range(n), langs, score))
    return CVResult(chosen, per_fold, round(sum(hits) / n, 4), round(sum(rrs) / n, 4))
