"""Tool results the answer left out, shown as what the tool said.

A small model asked "who is on call for payments and is it healthy?" often answers the
first part only, although the evidence holds both tool results. Asking again costs another
model call; the result itself is already a fact the asker may read. So each internal-tool
result that no kept claim cites is added after the answer as the tool's own fields
("payments-api status: health: degraded; error_rate_pct: 2.4 [2]"), cited to that result:
nothing is paraphrased, so nothing needs a grounding check.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agent.answering import EvidenceItem
from agent.citations import Citation

# Built-in tools have answers of their own kind (passages, program output, paper notes).
_NOT_FACTS = {"search_docs", "run_python", "summarize_paper"}
MAX_FIELDS = 8
MAX_VALUE_CHARS = 80


def add_uncited_tool_results(
    answer: str, citations: list[Citation], items: Sequence[EvidenceItem]
) -> tuple[str, list[Citation]]:
    """`answer` and `citations` with a line per uncited internal-tool result (docstring)."""
    if not answer:
        return answer, citations
    cited = {c.hit.chunk_id for c in citations}
    lines, extra = [], list(citations)
    for item in items:
        hit = item.hit
        if not hit.chunk_id.startswith("tool:") or hit.doc_id in _NOT_FACTS:
            continue
        if hit.chunk_id in cited:
            continue
        fields = _fields(hit.text)
        if not fields:
            continue
        number = len(extra) + 1
        extra.append(Citation(number, hit))
        cited.add(hit.chunk_id)
        label = f"{hit.title} ({hit.section})" if hit.section else hit.title
        lines.append(f"{label}: {fields} [{number}].")
    if not lines:
        return answer, citations
    return answer + "\n\nAlso from the tools: " + " ".join(lines), extra


def _fields(output: str) -> str:
    """The scalar fields of a JSON object result, "key: value; ...", or "" if it is not one."""
    try:
        data: Any = json.loads(output)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    shown = []
    for key, value in data.items():
        if isinstance(value, bool | int | float | str) and str(value).strip():
            text = str(value)
            if len(text) > MAX_VALUE_CHARS:
                text = text[: MAX_VALUE_CHARS - 1] + "…"
            shown.append(f"{key}: {text}")
        if len(shown) == MAX_FIELDS:
            break
    return "; ".join(shown)
