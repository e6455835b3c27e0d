"""The feedback flywheel: recorded turns (turns.sqlite) -> eval items and fine-tuning data.

Three formats (`oncall eval export --format ...`):
- `eval`: turns with feedback or an escalation, as dataset lines `oncall eval run` reads.
  A helpful answer (or a human edit) becomes the reference and its cited documents the
  gold; an unhelpful one without an edit is kept with `needs_review: true`.
- `chat`: OpenAI chat fine-tuning lines (`messages`, and `tools` for DEEP turns) for turns
  rated helpful or edited, rebuilt as the model saw them: DIRECT as system + sources +
  question; DEEP as system, question, the assistant's `tool_calls`, one `tool` message per
  call with the passages it returned, and the final (edited, if any) answer.
- `preference`: pairs in the conversational chosen/rejected format (TRL, OpenAI DPO):
  a human edit is preferred to the original answer, and a helpful answer is preferred to an
  unhelpful one given to the same or a similar question (token Jaccard >= 0.6).

Feedback is the JSON `TurnRecorder.set_feedback` stores (`helpful`, `edited_answer`,
`escalated`, `comment`); plain strings such as "up"/"down" or a thumbs emoji are read too.
Passages are looked up by chunk id in the current index; a turn whose chunks have since
changed cannot be rebuilt faithfully and is skipped from `chat` (the CLI says how many).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.graph import format_hits
from agent.prompts import DEEP_SYSTEM, DIRECT_SYSTEM, direct_user_message
from agent.tooling import TOOLS
from evals.metrics import answer_tokens
from tools.search_docs import DocHit

ChunkLookup = Callable[[Sequence[str]], dict[str, DocHit]]
FORMATS = ("eval", "chat", "preference")
SIMILAR_QUESTION = 0.6
_UP = {"up", "+1", "1", "yes", "helpful", "good", "thumbs_up", "thumbsup", "👍", "true"}
_DOWN = {"down", "-1", "0", "no", "not_helpful", "unhelpful", "bad", "thumbs_down", "👎", "false"}


@dataclass(frozen=True)
class Feedback:
    helpful: bool | None
    edited_answer: str | None = None
    escalated: bool = False
    comment: str | None = None


def parse_feedback(raw: str | None) -> Feedback | None:
    """The feedback column as a `Feedback`, or None when the turn was not rated."""
    if raw is None or not str(raw).strip():
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = raw
    if not isinstance(data, dict):
        word = str(data).strip().lower()
        helpful = True if word in _UP else False if word in _DOWN else None
        return Feedback(helpful, comment=None if helpful is not None else str(data))
    helpful = data.get("helpful")
    if helpful is None and "rating" in data:
        rating = str(data["rating"]).strip().lower()
        helpful = True if rating in _UP else False if rating in _DOWN else None
    edit = data.get("edited_answer") or data.get("edit") or data.get("correction")
    return Feedback(
        helpful=bool(helpful) if helpful is not None else None,
        edited_answer=str(edit).strip() if edit else None,
        escalated=bool(data.get("escalated", False)),
        comment=data.get("comment"),
    )


def _ids(turn: dict[str, Any], column: str) -> list[str]:
    return list(json.loads(turn.get(column) or "[]"))


def to_eval_items(turns: Sequence[dict[str, Any]], lookup: ChunkLookup) -> list[dict[str, Any]]:
    """Dataset lines from rated or escalated turns (see the module docstring)."""
    items = []
    for turn in turns:
        fb = parse_feedback(turn.get("feedback"))
        escalated = bool(turn.get("escalated")) or bool(fb and fb.escalated)
        if fb is None and not escalated:
            continue
        helpful = bool(fb and fb.helpful)
        edit = fb.edited_answer if fb else None
        reference = edit or (turn["answer"] if helpful else None)
        cited = lookup(_ids(turn, "cited_ids")) if helpful and not edit else {}
        gold = list(dict.fromkeys(h.doc_id for h in cited.values()))
        category = (
            "feedback-edited"
            if edit
            else "feedback-helpful"
            if helpful
            else "feedback-unhelpful"
            if fb and fb.helpful is False
            else "escalated"
        )
        item: dict[str, Any] = {
            "id": f"turn-{turn['id']}",
            "question": turn["question"],
            "reference_answer": reference,
            "gold_doc_ids": gold,
            "category": category,
            "source_turn": turn["id"],
            "needs_review": reference is None,
        }
        if helpful and turn.get("abstained"):  # "I don't know" was the right answer
            item.update(answerable=False, gold_doc_ids=[])
        if fb and fb.comment:
            item["comment"] = fb.comment
        items.append(item)
    return items


def to_chat_examples(
    turns: Sequence[dict[str, Any]], lookup: ChunkLookup
) -> tuple[list[dict[str, Any]], int]:
    """Fine-tuning lines for helpful or edited turns, and how many were skipped because
    their passages are no longer in the index."""
    examples, skipped = [], 0
    for turn in turns:
        fb = parse_feedback(turn.get("feedback"))
        if fb is None or not (fb.helpful or fb.edited_answer):
            continue
        answer = fb.edited_answer or turn["answer"]
        calls = [c for c in json.loads(turn.get("tool_calls") or "[]") if c.get("ok")]
        if calls:
            example = _deep_example(turn["question"], calls, answer, lookup)
        else:
            example = _direct_example(turn["question"], _ids(turn, "retrieved_ids"), answer, lookup)
        if example is None:
            skipped += 1
        else:
            examples.append(example)
    return examples, skipped


def _direct_example(
    question: str, chunk_ids: list[str], answer: str, lookup: ChunkLookup
) -> dict[str, Any] | None:
    found = lookup(chunk_ids)
    if any(cid not in found for cid in chunk_ids):
        return None
    hits = [found[cid] for cid in chunk_ids]
    return {
        "messages": [
            {"role": "system", "content": DIRECT_SYSTEM},
            {"role": "user", "content": direct_user_message(question, hits)},
            {"role": "assistant", "content": answer},
        ]
    }


def _deep_example(
    question: str, calls: list[dict[str, Any]], answer: str, lookup: ChunkLookup
) -> dict[str, Any] | None:
    found = lookup([cid for c in calls for cid in c.get("result_ids", [])])
    tool_calls, results = [], []
    for i, call in enumerate(calls):
        ids = call.get("result_ids", [])
        if any(cid not in found for cid in ids):
            return None
        call_id = f"call_{i}"
        tool_calls.append(
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
            }
        )
        text = format_hits([found[cid] for cid in ids]) or "No passages found."
        results.append({"role": "tool", "tool_call_id": call_id, "content": text})
    return {
        "messages": [
            {"role": "system", "content": DEEP_SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": None, "tool_calls": tool_calls},
            *results,
            {"role": "assistant", "content": answer},
        ],
        "tools": [t.schema for t in TOOLS],
    }


def question_similarity(a: str, b: str) -> float:
    """Jaccard overlap of the two questions' normalised tokens."""
    ta, tb = set(answer_tokens(a)), set(answer_tokens(b))
    return len(ta & tb) / len(ta | tb) if ta | tb else 0.0


def to_preference_pairs(turns: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chosen/rejected pairs from edits and from thumbs up vs down on similar questions."""
    pairs = []
    rated = [(t, parse_feedback(t.get("feedback"))) for t in turns]
    good = [t for t, fb in rated if fb and fb.helpful and not fb.edited_answer]
    for turn, fb in rated:
        if fb is None:
            continue
        if fb.edited_answer and fb.edited_answer.strip() != turn["answer"].strip():
            pairs.append(_pair(turn["question"], fb.edited_answer, turn["answer"], "edit", [turn]))
        elif fb.helpful is False:
            scored = [(question_similarity(turn["question"], g["question"]), g) for g in good]
            best = max(scored, key=lambda s: (s[0], s[1]["created_at"]), default=None)
            if best and best[0] >= SIMILAR_QUESTION and best[1]["answer"] != turn["answer"]:
                chosen = best[1]
                pairs.append(
                    _pair(
                        turn["question"], chosen["answer"], turn["answer"], "thumbs", [chosen, turn]
                    )
                )
    return pairs


def _pair(
    question: str, chosen: str, rejected: str, source: str, turns: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "prompt": [{"role": "user", "content": question}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "source": source,
        "turn_ids": [t["id"] for t in turns],
    }


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """One JSON object per line (UTF-8, non-ASCII kept as is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
