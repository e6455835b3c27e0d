"""Faithfulness of quoted numbers: every number in a summary must occur in its source.

Small models paraphrase numbers wrongly (41.5% becomes 45%, 1,200,000 becomes 1.2 billion),
and a reader trusts a number more than a sentence. This check is deliberately literal:
a number is supported when the same value is written somewhere in the source, after
normalising how it is written:

- thousands separators and spaces: `1,000` = `1000` = `1 000`;
- trailing zeros: `0.930` = `0.93`;
- percentages: `41.5%` = `41.5 percent` = `0.415` (a fraction written as a percentage, or
  the other way round);
- scientific notation: `3e-4` = `0.0003`;
- magnitude words and suffixes: `1.2M` / `1.2 million` = `1,200,000`, `3.4k` = `3,400`.

Rounding is not forgiven (`41%` is not `41.5%`): the notes must copy numbers exactly.
Citation markers (`[§3 Results, p. 4]`) and list numbering are ignored, since they are not
claims. Signs are ignored too: `−3.2` and `-3.2` and `3.2 lower` read the same here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_NUMBER = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[,\u202f\u00a0 ]\d{3})+(?![\d])|\d+)(\.\d+)?([eE][-−+]?\d+\b)?"
    r"(\s?%|\s?percent\b|\s?(?:k|K)\b|\s?(?:M|million)\b|\s?(?:B|bn|billion)\b|\s?thousand\b)?"
)
_CITATION = re.compile(r"\[[^\[\]]*(?:§|\bp\.|\bpp\.)[^\[\]]*\]")
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+", re.MULTILINE)
_SCALE = {
    "k": Decimal(1000),
    "thousand": Decimal(1000),
    "m": Decimal(10**6),
    "million": Decimal(10**6),
    "b": Decimal(10**9),
    "bn": Decimal(10**9),
    "billion": Decimal(10**9),
}
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class NumberCheck:
    """What `check_numbers` found: the numbers quoted and those the source lacks."""

    checked: list[str]
    unsupported: list[str]

    @property
    def ok(self) -> bool:
        return not self.unsupported

    @property
    def supported_share(self) -> float:
        return 1.0 if not self.checked else 1 - len(self.unsupported) / len(self.checked)


def numbers_in(text: str) -> list[tuple[str, frozenset[Decimal]]]:
    """Each number written in `text` with the values it may stand for."""
    found = []
    for match in _NUMBER.finditer(text):
        whole, fraction, exponent = match.group(1), match.group(2) or "", match.group(3) or ""
        unit = match.group(4) or ""
        digits = re.sub(r"[,\u202f\u00a0 ]", "", whole) + fraction + exponent.replace("−", "-")
        try:
            value = Decimal(digits)
        except InvalidOperation:
            continue
        found.append((match.group(0).strip(), frozenset(_readings(value, unit.strip().lower()))))
    return found


def _readings(value: Decimal, unit: str) -> set[Decimal]:
    readings = {value}
    if unit in {"%", "percent"}:
        readings.add(value / _HUNDRED)
    elif unit in _SCALE:
        readings.add(value * _SCALE[unit])
    elif value <= 1 and value != value.to_integral_value():
        readings.add(value * _HUNDRED)  # 0.415 may be quoted as 41.5%
    return {r.normalize() for r in readings}


def _source_values(source: str) -> set[Decimal]:
    values: set[Decimal] = set()
    for _, readings in numbers_in(source):
        values |= readings
    return values


def check_numbers(summary: str, source: str) -> NumberCheck:
    """Every number written in `summary`, and those with no reading found in `source`."""
    claims = _LIST_MARKER.sub("", _CITATION.sub(" ", summary))
    known = _source_values(source)
    checked, unsupported = [], []
    for written, readings in numbers_in(claims):
        checked.append(written)
        if not readings & known:
            unsupported.append(written)
    return NumberCheck(checked, list(dict.fromkeys(unsupported)))


class SourceNumbers:
    """The numbers of one source, computed once, for checking many notes against it."""

    def __init__(self, source: str):
        self._known = _source_values(source)

    def unsupported(self, text: str) -> list[str]:
        claims = _LIST_MARKER.sub("", _CITATION.sub(" ", text))
        missing = [w for w, readings in numbers_in(claims) if not readings & self._known]
        return list(dict.fromkeys(missing))
