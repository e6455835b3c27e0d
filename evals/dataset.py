"""Eval datasets: one JSON object per line, read into `EvalItem`s.

Format (every field but `question` is optional; unknown fields are kept in `extra`):

- `id` (str): stable item id (cache key, report rows); default `line-N`.
- `question` (str, required): what is asked.
- `reference_answer` (str): a correct answer (token F1, similarity, LLM judge); non-text
  values (the routing sets' numbers, booleans) are kept as JSON text.
- `reference_context` (str): the passage the answer comes from.
- `gold_doc_ids` (list of str): documents that answer it, each a file stem (`audit-log`), a
  doc id (`runbooks/payments-api-5xx`: path under the ingested folder, no suffix) or a
  source path.
- `gold_section_ids` (list of str): kept in the item; our chunks do not carry these ids.
- `expected_route` (`direct`/`deep`), or the routing sets' `needs_deep_reasoning` (bool).
- `expected_tool` (str): tool the agent should call; `none` for no tool.
- `user_groups` (list of str): ACL groups of the asker (search is filtered by them).
- `language` (str): e.g. `en`, `zh`, for the per-language breakdown.
- `category` (str): breakdown key; default `route_hint`, then `source`, then `all`.
- `answerable` (bool): default true when `gold_doc_ids` is non-empty, false when it is
  given and empty (declining to answer is then correct).

`../shared/data/rhdh_docs/questions_dev.jsonl`, the routing sets and
`examples/handbook_questions.jsonl` load as they are.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROUTES = ("direct", "deep")
_KNOWN = {
    "id",
    "question",
    "reference_answer",
    "reference_context",
    "gold_doc_ids",
    "gold_section_ids",
    "expected_route",
    "needs_deep_reasoning",
    "expected_tool",
    "user_groups",
    "language",
    "category",
    "answerable",
}


class DatasetError(ValueError):
    """A dataset line that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    reference_answer: str | None = None
    reference_context: str | None = None
    gold_doc_ids: tuple[str, ...] = ()
    gold_section_ids: tuple[str, ...] = ()
    expected_route: str | None = None
    expected_tool: str | None = None
    user_groups: tuple[str, ...] = ()
    language: str | None = None
    category: str = "all"
    answerable: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (also what the per-item cache key is computed from)."""
        data = asdict(self)
        for key in ("gold_doc_ids", "gold_section_ids", "user_groups"):
            data[key] = list(data[key])
        return data


def load_dataset(path: Path) -> list[EvalItem]:
    """Read a JSONL dataset; blank lines are skipped, anything else wrong raises
    `DatasetError` naming the line and what to fix. Duplicate ids are refused (they would
    share a cache entry)."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file (expected JSON lines)")
    items: list[EvalItem] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: not valid JSON ({exc.msg})") from exc
            if not isinstance(raw, dict):
                raise DatasetError(f"{where}: expected a JSON object, got {type(raw).__name__}")
            item = parse_item(raw, where, default_id=f"line-{n}")
            if item.id in seen:
                raise DatasetError(f"{where}: duplicate id {item.id!r}; ids must be unique")
            seen.add(item.id)
            items.append(item)
    if not items:
        raise DatasetError(f"{path}: the dataset is empty")
    return items


def parse_item(raw: dict[str, Any], where: str, default_id: str) -> EvalItem:
    """One dataset object -> `EvalItem`, mapping the routing sets' `needs_deep_reasoning`."""
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{where}: 'question' must be a non-empty string")
    gold = _str_list(raw, "gold_doc_ids", where)
    answerable = raw.get("answerable")
    if answerable is None and "gold_doc_ids" in raw:
        # Empty gold docs mean "not in the docs", unless the answer comes from elsewhere
        # (tool results, a computation): then an expected answer makes it answerable.
        answered_elsewhere = any(raw.get(k) for k in ("answer_keywords", "expected_calls"))
        answerable = bool(gold) or answered_elsewhere or "answer" in raw
    if answerable is not None and not isinstance(answerable, bool):
        raise DatasetError(f"{where}: 'answerable' must be true or false")
    return EvalItem(
        id=str(raw.get("id") or default_id),
        question=question.strip(),
        # The routing sets carry non-text references (numbers, booleans, lists): as text.
        reference_answer=_text(raw.get("reference_answer")),
        reference_context=_text(raw.get("reference_context")),
        gold_doc_ids=gold,
        gold_section_ids=_str_list(raw, "gold_section_ids", where),
        expected_route=_expected_route(raw, where),
        expected_tool=_text(raw.get("expected_tool")),
        user_groups=_str_list(raw, "user_groups", where),
        language=_text(raw.get("language")),
        category=str(raw.get("category") or raw.get("route_hint") or raw.get("source") or "all"),
        answerable=answerable,
        extra={k: v for k, v in raw.items() if k not in _KNOWN},
    )


def select(
    items: list[EvalItem],
    limit: int | None,
    sample: int | None,
    seed: int,
    split: str | None = None,
) -> list[EvalItem]:
    """`split` keeps the items of that split (`dev` or `holdout`; items without one count
    as dev); `sample` draws that many items with `seed` (same seed, same items, dataset
    order kept); `limit` then keeps the first N."""
    if split is not None:
        items = [it for it in items if str(it.extra.get("split", "dev")) == split]
    chosen = items
    if sample is not None and sample < len(items):
        picked = set(random.Random(seed).sample(range(len(items)), sample))
        chosen = [it for i, it in enumerate(items) if i in picked]
    return chosen[:limit] if limit is not None else chosen


def _expected_route(raw: dict[str, Any], where: str) -> str | None:
    route = raw.get("expected_route")
    if route is None and isinstance(raw.get("needs_deep_reasoning"), bool):
        return "deep" if raw["needs_deep_reasoning"] else "direct"
    if route is None:
        return None
    if route not in ROUTES:
        raise DatasetError(f"{where}: 'expected_route' must be 'direct' or 'deep', got {route!r}")
    return str(route)


def _str_list(raw: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
