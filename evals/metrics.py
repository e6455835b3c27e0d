"""Eval metrics as pure functions (no I/O, no models except the embedder passed in).

Retrieval is scored on the chunk ranking the agent would see, at document level: position i
is relevant when its chunk comes from a gold document. So hit@5 asks "is a gold document
among the 5 chunks handed to the model", MRR is 1/rank of the first such chunk, and nDCG
gives gain 1 to the first chunk of each distinct gold document (later chunks of the same
document add nothing, so one long gold document cannot fill the ideal ranking).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Protocol

DOC_SUFFIXES = {".md", ".markdown", ".rst", ".txt", ".html", ".htm", ".pdf", ".docx", ".pptx"}
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)
_ARTICLES = {"a", "an", "the"}


class QueryEmbedder(Protocol):
    def embed_query(self, text: str) -> list[float]: ...


# --- gold matching ---------------------------------------------------------------------


def gold_match(doc_id: str, source: str, gold: Iterable[str]) -> str | None:
    """The gold id that a retrieved chunk's document matches, if any.

    A gold id may be a file stem (`audit-log`), a doc id relative to the ingested folder
    (`runbooks/payments-api-5xx`), with or without its suffix, or a full source path.
    """
    src = PurePosixPath(source.replace("\\", "/")) if source else None
    src_no_suffix = str(src.with_suffix("")) if src else ""
    for g in gold:
        path = PurePosixPath(g.replace("\\", "/"))
        bare = str(path.with_suffix("")) if path.suffix.lower() in DOC_SUFFIXES else str(path)
        if bare == doc_id or (src is not None and (g == source or bare == src.stem)):
            return g
        if src_no_suffix and (src_no_suffix == bare or src_no_suffix.endswith("/" + bare)):
            return g
    return None


# --- retrieval ----------------------------------------------------------------------------


def hit_at_k(matches: Sequence[str | None], k: int) -> float:
    """1.0 if any of the first `k` positions is relevant (`matches[i]` is the gold id the
    chunk at rank i+1 matched, or None)."""
    return 1.0 if any(m is not None for m in matches[:k]) else 0.0


def reciprocal_rank(matches: Sequence[str | None], k: int | None = None) -> float:
    """1/rank of the first relevant position within the first `k` (all if None), else 0."""
    for rank, m in enumerate(matches[:k] if k else matches, start=1):
        if m is not None:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(matches: Sequence[str | None], n_gold: int, k: int) -> float:
    """Binary-gain nDCG@k where each distinct gold document counts once, at its first
    chunk; the ideal ranking puts min(n_gold, k) gold documents first."""
    if n_gold <= 0:
        return 0.0
    seen: set[str] = set()
    dcg = 0.0
    for i, m in enumerate(matches[:k]):
        if m is not None and m not in seen:
            seen.add(m)
            dcg += 1.0 / math.log2(i + 2)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n_gold, k)))
    return dcg / ideal


# --- answers ------------------------------------------------------------------------------


def answer_tokens(text: str) -> list[str]:
    """SQuAD-style normalisation: lower case, punctuation and articles dropped; CJK
    characters are one token each (Chinese has no spaces to split on)."""
    return [t for t in _WORD.findall(text.lower()) if t not in _ARTICLES]


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (bag of words), as in SQuAD."""
    pred, ref = answer_tokens(prediction), answer_tokens(reference)
    if not pred or not ref:
        return 1.0 if pred == ref else 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; 0.0 when either vector is all zeros."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def semantic_similarity(embedder: QueryEmbedder, prediction: str, reference: str) -> float:
    """Cosine of the two texts' embeddings (the project's embedder, MiniLM by default)."""
    return cosine(embedder.embed_query(prediction), embedder.embed_query(reference))


def citation_precision(cited_matches: Sequence[str | None]) -> float | None:
    """Share of cited documents that are gold (one entry per distinct cited document);
    None when nothing was cited (no precision to speak of)."""
    if not cited_matches:
        return None
    return sum(m is not None for m in cited_matches) / len(cited_matches)


# --- decisions ----------------------------------------------------------------------------


def abstention_rate(abstained: Sequence[bool]) -> float | None:
    """Share of questions the agent declined to answer."""
    return sum(abstained) / len(abstained) if abstained else None


def precision_when_answered(abstained: Sequence[bool], correct: Sequence[bool]) -> float | None:
    """Share of correct answers among the questions it did answer; None if it answered none."""
    answered = [c for a, c in zip(abstained, correct, strict=True) if not a]
    return sum(answered) / len(answered) if answered else None


def accuracy(predicted: Sequence[str | None], expected: Sequence[str | None]) -> float | None:
    """Share of items where the prediction equals the label; unlabelled items are left out."""
    pairs = [(p, e) for p, e in zip(predicted, expected, strict=True) if e is not None]
    return sum(p == e for p, e in pairs) / len(pairs) if pairs else None


def route_accuracy(predicted: Sequence[str], expected: Sequence[str | None]) -> float | None:
    """Router accuracy against `expected_route` (direct/deep)."""
    return accuracy(list(predicted), expected)


def tool_choice_correct(called: Sequence[str], expected: str) -> bool:
    """`expected` was among the tools called; `none` means no tool should have been called."""
    if expected.lower() == "none":
        return not called
    return expected in called


def tool_choice_accuracy(called: Sequence[Sequence[str]], expected: Sequence[str]) -> float | None:
    """Share of items whose expected tool was chosen (see `tool_choice_correct`)."""
    if not expected:
        return None
    return sum(tool_choice_correct(c, e) for c, e in zip(called, expected, strict=True)) / len(
        expected
    )


# --- aggregates ---------------------------------------------------------------------------


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are present; None if none are."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation (numpy's default method)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency_summary(per_item: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """p50/p95/mean milliseconds per stage over the items that have that stage."""
    stages: dict[str, list[float]] = {}
    for timings in per_item:
        for stage, ms in timings.items():
            stages.setdefault(stage, []).append(float(ms))
    return {
        stage: {
            "p50": percentile(values, 50) or 0.0,
            "p95": percentile(values, 95) or 0.0,
            "mean": sum(values) / len(values),
        }
        for stage, values in sorted(stages.items())
    }
