"""The feedback flywheel: recorded turns -> eval items, chat fine-tuning lines, preference pairs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.citations import Citation
from agent.prompts import DEEP_SYSTEM, DIRECT_SYSTEM
from agent.records import TurnRecorder
from agent.service import Answer
from agent.state import Handover, ToolCallRecord
from evals.dataset import parse_item
from evals.export import (
    Feedback,
    parse_feedback,
    question_similarity,
    to_chat_examples,
    to_eval_items,
    to_preference_pairs,
)
from oncall.cli.eval_cmd import eval_app
from oncall.core.settings import Settings
from tools.search_docs import DocHit


def hit(n: int, doc: str, text: str) -> DocHit:
    return DocHit(f"c{n}", doc, f"/kb/{doc}.md", doc, "Section", None, text, 0.5, 0.5)


ROLLBACK = hit(1, "runbooks/payments-api-5xx", "Roll back with lfctl rollback payments-api.")
SEV2 = hit(2, "oncall/severity-levels", "A SEV2 page must be acknowledged within 15 minutes.")
GONE = hit(3, "old/removed", "This file was deleted since.")
INDEX = {h.chunk_id: h for h in (ROLLBACK, SEV2)}


def lookup(ids: Sequence[str]) -> dict[str, DocHit]:
    return {i: INDEX[i] for i in ids if i in INDEX}


def answer(question: str, text: str, hits: list[DocHit], **kw: object) -> Answer:
    cited = [Citation(1, hits[0])] if hits and not kw.get("abstained") else []
    return Answer(question, text, cited, hits, **{"abstained": False, **kw})  # type: ignore[arg-type]


@pytest.fixture
def turns(tmp_path: Path) -> list[dict[str, object]]:
    rec = TurnRecorder(tmp_path / "turns.sqlite")
    deep_calls = [
        ToolCallRecord("search_docs", {"query": "SEV2 acknowledge"}, True, 4.0, ["c2"]),
        ToolCallRecord("search_docs", {"q": "bad"}, False, 1.0, []),
    ]
    handover = Handover("Which k8s version?", "not in docs", [], [], "I don't know", "on call")
    recorded = [
        (answer("How do I roll back payments-api?", "Run lfctl rollback [1].", [ROLLBACK, SEV2]),
         {"helpful": True}),
        (answer("how do I roll back the payments-api", "No idea, sorry.", [SEV2]), "👎"),
        (answer("How fast must a SEV2 be acked and by whom?", "Soon.", [SEV2], route="deep",
                tool_calls=deep_calls),
         {"helpful": False, "edited_answer": "Within 15 minutes, by the primary."}),
        (answer("Unrated question", "Some answer.", [SEV2]), None),
        (answer("Which k8s version?", "I don't know based on the docs.", [], abstained=True,
                handover=handover), None),
        (answer("What is our k8s version?", "I don't know based on the docs.", [],
                abstained=True), {"rating": "up"}),
        (answer("Where is the old runbook?", "In old/removed [1].", [GONE]), "up"),
    ]  # fmt: skip
    for i, (ans, feedback) in enumerate(recorded):
        turn_id = rec.record(f"t{i}", ans)
        if feedback is not None:
            rec.set_feedback(
                turn_id, feedback if isinstance(feedback, dict) else {"rating": feedback}
            )
    with pytest.raises(KeyError, match="no recorded turn"):
        rec.set_feedback("nope", {"helpful": True})
    rows = rec.turns()
    rec.close()
    return rows


def test_feedback_parsing_accepts_json_and_plain_words() -> None:
    assert parse_feedback(None) is None and parse_feedback("  ") is None
    assert parse_feedback("👍") == Feedback(True)
    assert parse_feedback("not_helpful") == Feedback(False)
    assert parse_feedback('{"rating": "down", "comment": "wrong port"}') == Feedback(
        False, comment="wrong port"
    )
    parsed = parse_feedback('{"helpful": false, "edit": " Use 50051. ", "escalated": true}')
    assert parsed == Feedback(False, "Use 50051.", True)
    assert parse_feedback("the link is broken") == Feedback(None, comment="the link is broken")


def test_eval_items_from_rated_and_escalated_turns(turns: list[dict[str, object]]) -> None:
    items = {i["question"]: i for i in to_eval_items(turns, lookup)}
    assert "Unrated question" not in items and len(items) == 6
    helpful = items["How do I roll back payments-api?"]
    assert helpful["reference_answer"] == "Run lfctl rollback [1]."
    assert helpful["gold_doc_ids"] == ["runbooks/payments-api-5xx"]
    assert helpful["category"] == "feedback-helpful" and not helpful["needs_review"]
    edited = items["How fast must a SEV2 be acked and by whom?"]
    assert edited["reference_answer"] == "Within 15 minutes, by the primary."
    assert edited["category"] == "feedback-edited"
    unhelpful = items["how do I roll back the payments-api"]
    assert unhelpful["needs_review"] and unhelpful["reference_answer"] is None
    assert items["Which k8s version?"]["category"] == "escalated"
    assert items["What is our k8s version?"]["answerable"] is False
    for raw in items.values():  # every exported line is a valid dataset line
        parse_item(json.loads(json.dumps(raw)), "export", "x")


def test_chat_examples_rebuild_what_the_model_saw(turns: list[dict[str, object]]) -> None:
    examples, skipped = to_chat_examples(turns, lookup)
    assert skipped == 1  # the turn whose chunk is gone from the index
    direct, deep, abstained = examples
    roles = [m["role"] for m in direct["messages"]]
    assert roles == ["system", "user", "assistant"] and "tools" not in direct
    assert direct["messages"][0]["content"] == DIRECT_SYSTEM
    assert "Roll back with lfctl" in direct["messages"][1]["content"]
    assert direct["messages"][2]["content"] == "Run lfctl rollback [1]."

    messages = deep["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[0]["content"] == DEEP_SYSTEM
    (call,) = messages[2]["tool_calls"]  # the failed call is left out
    assert call["function"] == {"name": "search_docs", "arguments": '{"query": "SEV2 acknowledge"}'}
    assert messages[3]["tool_call_id"] == call["id"] and "15 minutes" in messages[3]["content"]
    assert messages[4]["content"] == "Within 15 minutes, by the primary."  # the human edit
    assert deep["tools"][0]["function"]["name"] == "search_docs"
    assert abstained["messages"][-1]["content"] == "I don't know based on the docs."


def test_preference_pairs_from_edits_and_thumbs(turns: list[dict[str, object]]) -> None:
    pairs = to_preference_pairs(turns)
    by_source = {p["source"]: p for p in pairs}
    assert set(by_source) == {"edit", "thumbs"} and len(pairs) == 2
    edit = by_source["edit"]
    assert edit["chosen"][0]["content"] == "Within 15 minutes, by the primary."
    assert edit["rejected"][0]["content"] == "Soon."
    thumbs = by_source["thumbs"]
    assert thumbs["prompt"] == [{"role": "user", "content": "how do I roll back the payments-api"}]
    assert thumbs["chosen"][0]["content"] == "Run lfctl rollback [1]."
    assert thumbs["rejected"][0]["content"] == "No idea, sorry."
    assert len(thumbs["turn_ids"]) == 2


def test_question_similarity() -> None:
    assert question_similarity("Roll back payments-api", "roll back the payments-api?") == 1.0
    assert question_similarity("x y", "v w") == 0.0
    assert question_similarity("x y z w", "x y z v") == pytest.approx(3 / 5)


def test_export_cli_writes_jsonl(turns: list[dict[str, object]], tmp_path: Path) -> None:
    db = tmp_path / "turns.sqlite"
    out = tmp_path / "out" / "pairs.jsonl"
    runner = CliRunner()
    result = runner.invoke(
        eval_app, ["export", str(out), "--format", "preference", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 2
    missing = runner.invoke(eval_app, ["export", str(out)])  # default db under the data dir
    assert missing.exit_code == 2 and "no recorded turns" in missing.output
    assert not (Settings().data_dir / "turns.sqlite").exists()
