"""What "correct" means for an answer, beyond similarity to a reference.

The rubric (stated in docs/evals.md and applied in this order):

1. Unanswerable item (`answerable: false`, the trap sets): correct = the agent abstained.
   Answering anyway is a *false answer*.
2. Item with `answer_keywords`: correct = not abstained and every keyword occurs in the
   answer (case-insensitive; numbers compared as numbers: "1,000" = "1000", "15 min"
   keeps "15"). Answered but a keyword missing = false answer; abstained = false
   abstention.
3. Item with a numeric `answer` (the computation set): correct = every expected number
   (or string, for times) occurs in the answer within `tolerance`.
4. Otherwise (free text): the LLM judge's correctness >= 4/5 when a judge runs, else
   semantic similarity to the reference >= the threshold (0.7). This is the lenient
   fallback; reports show which rule decided.

Tool calls: `expected_calls` hold when every expected (tool, args) call was made, with
argument values compared after normalisation and `optional_args` ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _norm(text: str) -> str:
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.lower())
    return re.sub(r"[`*_]", "", text)


def numbers_in(text: str) -> list[float]:
    """Every number written in `text` (thousands separators allowed)."""
    found = []
    for raw in _NUMBER.findall(_norm(text)):
        try:
            found.append(float(raw.replace(",", "")))
        except ValueError:
            continue
    return found


def keywords_present(answer: str, keywords: Iterable[str]) -> bool:
    """Every keyword occurs in the answer; a keyword that is a number with a unit matches
    on its number ("15 minutes" is satisfied by "15 min" or "15-minute")."""
    text = _norm(answer)
    values = numbers_in(answer)
    for keyword in keywords:
        word = _norm(str(keyword)).strip()
        if not word:
            continue
        if word in text:
            continue
        lead = _NUMBER.match(word)
        if lead and not re.search(r"[a-z]", word[: lead.end()]):
            number = float(lead.group(0).replace(",", ""))
            if any(abs(v - number) < 1e-9 for v in values):
                continue
        return False
    return True


def numeric_correct(answer: str, expected: Any, tolerance: float = 0.0) -> bool:
    """Every expected value is in the answer: numbers within `tolerance`, strings (times
    such as "09:30") verbatim."""
    wanted = expected if isinstance(expected, list) else [expected]
    values = numbers_in(answer)
    text = _norm(answer)
    for value in wanted:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not any(abs(v - float(value)) <= tolerance + 1e-9 for v in values):
                return False
        elif _norm(str(value)) not in text:
            return False
    return True


def canonical(value: Any) -> Any:
    """Argument values compared loosely: case and surrounding space of strings, list order."""
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return sorted((canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def call_key(name: str, args: Mapping[str, Any], optional: Iterable[str] = ()) -> str:
    skip = set(optional)
    kept = {k: canonical(v) for k, v in args.items() if k not in skip}
    return json.dumps([name, kept], sort_keys=True)


def calls_match(
    made: Sequence[tuple[str, Mapping[str, Any]]],
    expected: Sequence[Mapping[str, Any]],
    optional: Iterable[str] = (),
    ignore: Iterable[str] = ("search_docs", "run_python", "summarize_paper"),
) -> bool:
    """The calls made (minus the built-in tools) are exactly the expected set."""
    skip = set(ignore)
    opt = list(optional)
    got = {call_key(n, a, opt) for n, a in made if n not in skip}
    want = {call_key(str(c["name"]), c.get("args", {}), opt) for c in expected}
    return got == want


def expected_calls_made(
    made: Sequence[tuple[str, Mapping[str, Any]]],
    expected: Sequence[Mapping[str, Any]],
    optional: Iterable[str] = (),
) -> bool:
    """Every expected call was made (extra calls are allowed: a DEEP run may look more up)."""
    opt = list(optional)
    got = {call_key(n, a, opt) for n, a in made}
    return all(call_key(str(c["name"]), c.get("args", {}), opt) in got for c in expected)
