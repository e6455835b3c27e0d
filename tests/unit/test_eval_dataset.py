"""Dataset loading: the shared sets' shapes load as they are; bad lines are named."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from evals.dataset import DatasetError, load_dataset, select
from tests.conftest import HANDBOOK_QUESTIONS

RHDH_LINE = {
    "id": "8dcc2fd4",
    "question": "how to enable the Argo CD plugin",
    "reference_answer": "Add your Argo CD instance to app-config.yaml.",
    "reference_context": "Installing and configuring Argo CD ...",
    "gold_doc_ids": ["plugins-rhdh-configure"],
    "gold_section_ids": ["plugins-rhdh-configure#001"],
    "gold_match": "exact_substring",
    "category": "plugins",
    "synthesizer": "single_hop_specific_query_synthesizer",
}
ROUTING_LINES = [
    {"id": "gsm8k:1", "question": "If 3 pens cost $6 ...", "language": "en",
     "needs_deep_reasoning": True, "route_hint": "deep_math", "source": "gsm8k",
     "reference_answer": 12},
    {"id": "csbench_cn:3315", "question": "32 位微机是指该计算机所用 CPU 具有 32 个寄存器。",
     "language": "zh", "needs_deep_reasoning": False, "route_hint": "direct_knowledge",
     "reference_answer": False},
]  # fmt: skip


def write(tmp_path: Path, rows: Sequence[object], name: str = "d.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    return path


def test_rhdh_line_loads_as_is(tmp_path: Path) -> None:
    (item,) = load_dataset(write(tmp_path, [RHDH_LINE]))
    assert item.id == "8dcc2fd4" and item.category == "plugins"
    assert item.gold_doc_ids == ("plugins-rhdh-configure",)
    assert item.gold_section_ids == ("plugins-rhdh-configure#001",)
    assert item.answerable is True and item.expected_route is None
    assert item.extra["synthesizer"] == "single_hop_specific_query_synthesizer"


def test_routing_lines_map_needs_deep_reasoning(tmp_path: Path) -> None:
    deep, direct = load_dataset(write(tmp_path, ROUTING_LINES))
    assert deep.expected_route == "deep" and direct.expected_route == "direct"
    assert deep.category == "deep_math" and direct.language == "zh"
    assert deep.reference_answer == "12" and direct.reference_answer == "false"
    assert deep.answerable is None  # no gold_doc_ids field: answerability unknown


def test_handbook_questions_load_with_unanswerable_items() -> None:
    items = load_dataset(HANDBOOK_QUESTIONS)
    assert len(items) >= 40
    unanswerable = [i for i in items if i.answerable is False]
    assert unanswerable and all(not i.gold_doc_ids for i in unanswerable)
    assert {i.expected_route for i in items} == {"direct", "deep"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "d.jsonl:1: not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"id": "x"}', "'question' must be a non-empty string"),
        ('{"question": "q", "expected_route": "maybe"}', "'expected_route' must be"),
        ('{"question": "q", "gold_doc_ids": [1]}', "'gold_doc_ids' must be a list of strings"),
        ('{"question": "q", "answerable": "yes"}', "'answerable' must be true or false"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DatasetError, match=message.replace("[", r"\[")):
        load_dataset(path)


def test_duplicates_empty_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="duplicate id 'a'"):
        load_dataset(write(tmp_path, [{"id": "a", "question": "x"}, {"id": "a", "question": "y"}]))
    with pytest.raises(DatasetError, match="empty"):
        load_dataset(write(tmp_path, [], "empty.jsonl"))
    with pytest.raises(DatasetError, match="no such dataset file"):
        load_dataset(tmp_path / "missing.jsonl")


def test_items_without_id_get_their_line_number(tmp_path: Path) -> None:
    items = load_dataset(write(tmp_path, [{"question": "a"}, {"question": "b"}]))
    assert [i.id for i in items] == ["line-1", "line-2"]


def test_sample_is_seeded_and_limit_keeps_the_first(tmp_path: Path) -> None:
    items = load_dataset(write(tmp_path, [{"question": f"q{i}"} for i in range(20)]))
    a, b = select(items, None, 5, seed=1), select(items, None, 5, seed=1)
    assert a == b and len(a) == 5
    assert a != select(items, None, 5, seed=2)
    assert [i.id for i in a] == sorted((i.id for i in a), key=lambda s: int(s.split("-")[1]))
    assert select(items, 3, None, seed=0) == items[:3]
