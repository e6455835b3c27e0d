"""The model's reply -> checked points in the four note fields.

Models answer the notes request in three shapes, all accepted: headed parts ("KEY RESULTS:"
or "**Method**"), the four numbered answers the prompt asks for ("3. The router ..."), or
(small models, e.g. the 0.5B default) one paragraph. A paragraph is split into sentences
and each goes to the field its wording points to: "addresses the problem" to problem,
"only evaluated on English" to limitations, "uses a classifier" to method, a sentence with
numbers or "results show" to key results.

Every point then gets checked cites (`passages.resolve_cites`, else `attribute`) and the
numbers the paper does not contain listed (`numbers.SourceNumbers`).
"""

from __future__ import annotations

import re
from typing import cast

from tools.papers.model import NoteField, Paper, Point
from tools.papers.numbers import SourceNumbers
from tools.papers.passages import Passage, attribute, extract_points, resolve_cites, sentences

_HEADING = re.compile(
    r"^[#*_\s]*(problem|method(?:ology)?|approach|key results|results|limitations?)\b"
    r"[*_\s]*:?[*_\s]*(.*)$",
    re.IGNORECASE,
)
_FIELD_OF: dict[str, NoteField] = {
    "problem": "problem", "method": "method", "methodology": "method", "approach": "method",
    "key results": "results", "results": "results",
    "limitation": "limitations", "limitations": "limitations",
}  # fmt: skip
_NUMBERED = re.compile(r"^\s*\**([1-4])[.)]\**\s+(.*)$")
_ORDER: list[NoteField] = ["problem", "method", "results", "limitations"]
_CUES: list[tuple[NoteField, re.Pattern[str]]] = [
    ("problem", re.compile(r"\bproblem\b|\baddress|\bchallenge|\bgoal\b|\baims?\b", re.I)),
    ("limitations", re.compile(
        r"limitation|\bonly\b|\bdoes not\b|\bdo not\b|\bcannot\b|future work|drawback", re.I)),
    ("method", re.compile(
        r"\buses?\b|\bmethod|\bapproach|\bpropos|\btrain|architecture|algorithm|classifier|"
        r"\bintroduc", re.I)),
    ("results", re.compile(
        r"\d|result|\bshows?\b|achiev|reach|outperform|faster|improv|reduc|accura", re.I)),
]  # fmt: skip
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_EMPTY = re.compile(r"^(none|n/?a|not (stated|mentioned|given)[^.]*)\.?$", re.IGNORECASE)
LONG_ITEM = 300  # characters: an item longer than this is split into sentences


def split_fields(reply: str) -> dict[NoteField, list[str]]:
    """The reply's text per note field (see the module docstring for the shapes)."""
    fields: dict[NoteField, list[str]] = {name: [] for name in _ORDER}
    current: NoteField | None = None
    headed = numbered = False
    for line in reply.splitlines():
        heading = _HEADING.match(line)
        number = _NUMBERED.match(line)
        if heading and len(heading.group(2)) < len(line):
            current, line, headed = _FIELD_OF[heading.group(1).lower()], heading.group(2), True
        elif number and not headed:
            current, line, numbered = _ORDER[int(number.group(1)) - 1], number.group(2), True
        if current is not None and line.strip():
            fields[current].append(line)
    if headed or numbered:
        return fields
    for sentence in sentences(reply):
        fields[classify(sentence, bool(fields["problem"]))].append(sentence)
    return fields


def classify(sentence: str, have_problem: bool) -> NoteField:
    """The note field a free-text sentence belongs to, by its wording."""
    for name, cue in _CUES:
        if cue.search(sentence):
            return name
    return "method" if have_problem else "problem"


def parse_notes(reply: str, paper: Paper, passages: list[Passage]) -> dict[str, list[Point]]:
    """The reply as the four checked note fields; a field the model left empty is filled
    with sentences quoted from the paper (`passages.extract_points`)."""
    numbers = SourceNumbers(paper.full_text())
    out: dict[str, list[Point]] = {}
    for name, lines in split_fields(reply).items():
        points = to_points("\n".join(lines), passages, {}, numbers)
        out[name] = points or extract_points(paper, cast(NoteField, name))
    return out


def to_points(
    text: str,
    passages: list[Passage],
    tags: dict[str, str],
    numbers: SourceNumbers | None = None,
) -> list[Point]:
    """Bullets (or lines, or the sentences of a long paragraph) of `text` as points with
    resolved or attributed cites and their unsupported numbers."""
    items: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or (stripped.endswith(":") and len(stripped) < 40):
            continue
        if _BULLET.match(line) or not items or stripped[:1].isupper():
            items.append(_BULLET.sub("", stripped))
        else:
            items[-1] += f" {stripped}"
    items = [s for item in items for s in (sentences(item) if len(item) > LONG_ITEM else [item])]
    points = []
    for item in items:
        body = re.sub(r"\s*\[[^\[\]]*\]", "", item).strip(" -")
        if len(body.split()) < 3 or _EMPTY.match(body):
            continue
        cites = resolve_cites(item, passages, tags) or attribute(body, passages)
        unsupported = numbers.unsupported(body) if numbers else []
        points.append(Point(text=body, cites=cites, unsupported=unsupported))
    return points
