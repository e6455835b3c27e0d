"""BM25 sparse vectors for Qdrant.

Documents get the BM25 term-frequency part, `tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl /
avgdl))`; Qdrant multiplies in the IDF at query time (`Modifier.IDF` on the sparse vector),
so corpus statistics never have to be recomputed when documents change. `avgdl` is a fixed
estimate of chunk length in tokens for the same reason. Queries are the set of their terms,
each with weight 1.

Terms are hashed to 32-bit ids (blake2b), so there is no vocabulary file to keep in sync.
Identifiers such as `payments-api` or `p99` are kept whole and also split into parts; CJK
text is indexed as character bigrams so Chinese questions can match Chinese text.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass

K1 = 1.2
B = 0.75
AVG_DOC_TOKENS = 120.0

_WORD = re.compile(r"[a-z0-9]+(?:[._/:-][a-z0-9]+)*")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_PARTS = re.compile(r"[._/:-]")

STOPWORDS = frozenset(
    """a an and are as at be by can do does for from how i if in is it its of on or our so
    that the their then there these this to was we what when where which who why will with
    you your me my should would could has have had not no""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


def tokenize(text: str) -> list[str]:
    """Lower-cased terms: words and identifiers (plus their parts), CJK bigrams."""
    lowered = text.lower()
    terms: list[str] = []
    for match in _WORD.finditer(lowered):
        word = match.group()
        if word in STOPWORDS:
            continue
        terms.append(word)
        parts = _PARTS.split(word)
        if len(parts) > 1:
            terms.extend(p for p in parts if p and p not in STOPWORDS)
    for run in _CJK.findall(text):
        if len(run) == 1:
            terms.append(run)
        terms.extend(run[i : i + 2] for i in range(len(run) - 1))
    return terms


def term_id(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big")


def _to_vector(weights: dict[int, float]) -> SparseVector:
    ordered = sorted(weights.items())
    return SparseVector([i for i, _ in ordered], [w for _, w in ordered])


def encode_document(text: str) -> SparseVector:
    terms = tokenize(text)
    length_norm = 1 - B + B * len(terms) / AVG_DOC_TOKENS
    weights: dict[int, float] = {}
    for term, tf in Counter(terms).items():
        tid = term_id(term)
        # Two terms hashing to one id (rare) add up rather than overwrite.
        weights[tid] = weights.get(tid, 0.0) + tf * (K1 + 1) / (tf + K1 * length_norm)
    return _to_vector(weights)


def encode_query(text: str) -> SparseVector:
    return _to_vector({term_id(t): 1.0 for t in set(tokenize(text))})
