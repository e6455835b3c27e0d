"""Map the model's [n] markers to the sources it was given."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.sparse import tokenize
from tools.search_docs import DocHit

# [1], [1, 2], [1][3], 【1】 (small models sometimes use full-width brackets)
_MARKER = re.compile(r"[\[【]\s*(\d+(?:\s*[,，]\s*\d+)*)\s*[\]】]")
# The same, with the blank before it, so that removing a marker leaves no double space.
_MARKER_WITH_SPACE = re.compile(r"[ \t]*" + _MARKER.pattern)


@dataclass(frozen=True)
class Citation:
    number: int  # the [n] used in the answer text
    hit: DocHit


def cited_numbers(answer: str) -> list[int]:
    """Source numbers in order of first mention, duplicates removed."""
    seen: list[int] = []
    for match in _MARKER.finditer(answer):
        for raw in re.split(r"\s*[,，]\s*", match.group(1)):
            n = int(raw)
            if n not in seen:
                seen.append(n)
    return seen


def resolve_citations(answer: str, hits: Sequence[DocHit]) -> list[Citation]:
    """Citations for markers that point at a real source; out-of-range numbers are dropped."""
    return [Citation(n, hits[n - 1]) for n in cited_numbers(answer) if 1 <= n <= len(hits)]


def strip_invalid_markers(answer: str, valid: int) -> str:
    """Remove markers that point at no source, so readers never chase a missing [n]."""

    def keep(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*[,，]\s*", match.group(1))]
        good = [n for n in numbers if 1 <= n <= valid]
        if not good:
            return ""
        lead = match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip(" \t"))]
        return lead + "".join(f"[{n}]" for n in good)

    return _MARKER_WITH_SPACE.sub(keep, answer)


# A sentence ends at . ! ? after a non-digit (so "1. Step" and "v1.2" do not split), or at a
# line break; separators are captured so lists and line breaks survive re-assembly.
_SENTENCE_SEP = re.compile(r"(\n+|(?<=[^\s\d][.!?])[ \t]+|(?<=[。！？]))")
MIN_COVERAGE = 0.5  # share of a sentence's new terms a source must contain to be cited
MIN_TERMS = 2  # fragments shorter than this ("1.", "Steps:") are not cited

# Words small models wrap answers in ("Based on the information provided in the
# documents, ..."): they say nothing a source could support, so they are not counted.
_FILLER = frozenset(
    ("based", "information", "provided", "documents", "document", "documentation", "according",
     "mentioned", "given", "context", "source", "sources", "text", "answer", "question",
     "following")
)  # fmt: skip


def _terms(text: str) -> set[str]:
    """Comparable terms: tokens minus filler, crudely stemmed (owner/owned/owns -> own)."""
    return {_stem(t) for t in tokenize(text) if t not in _FILLER}


def _stem(term: str) -> str:
    if len(term) > 4 and term.isalpha():
        for suffix in ("ing", "ed", "er", "es", "s"):
            if term.endswith(suffix) and len(term) - len(suffix) >= 3:
                return term[: -len(suffix)]
    return term


def attribute(
    answer: str, hits: Sequence[DocHit], question: str = ""
) -> tuple[str, list[Citation]]:
    """Cite sources for an answer: the model's own valid [n] markers when it wrote any,
    otherwise a marker after each sentence naming the source that contains most of what the
    sentence adds to the question. Code blocks and sentences no source supports stay
    unmarked; an answer with no citation at all is unsupported by the retrieved text.
    """
    answer = strip_invalid_markers(answer, len(hits))
    own = resolve_citations(answer, hits)
    if own:
        return answer, own
    question_terms = _terms(question)
    source_terms = [_terms(h.text) for h in hits]
    pieces = _SENTENCE_SEP.split(answer.strip())
    in_code = False
    for i in range(0, len(pieces), 2):  # even: sentence, odd: the separator after it
        sentence = pieces[i]
        if sentence.lstrip().startswith("```"):
            in_code = not in_code
            continue
        terms = _terms(sentence)
        if in_code or len(terms) < MIN_TERMS:
            continue
        new = terms - question_terms or terms
        best = max(range(len(hits)), key=lambda j: len(new & source_terms[j]), default=None)
        if best is not None and len(new & source_terms[best]) / len(new) >= MIN_COVERAGE:
            pieces[i] = _mark(sentence, best + 1)
    text = "".join(pieces)
    return text, resolve_citations(text, hits)


def _mark(sentence: str, n: int) -> str:
    """Put [n] before the sentence's final punctuation, as a person would."""
    stripped = sentence.rstrip()
    if stripped and stripped[-1] in ".!?。！？":
        return f"{stripped[:-1]} [{n}]{stripped[-1]}"
    return f"{stripped} [{n}]"
