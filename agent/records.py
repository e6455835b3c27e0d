"""Turn records: one row per answered question, for evals and fine-tuning exports.

`TurnRecorder` turns an `Answer` into a row of `oncall.appstate.TurnLog`: the embedded
`turns.sqlite` under the data dir, or the replicas' shared Postgres (docs/deploy.md).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncall.appstate import TurnLog, open_sqlite

if TYPE_CHECKING:
    from agent.answer import Answer


class TurnRecorder:
    """Appends turns to a `TurnLog`; given a path, to that SQLite file (`turns.sqlite`)."""

    def __init__(self, target: Path | TurnLog):
        if isinstance(target, TurnLog):
            self.log = target
        else:
            self.log = TurnLog(open_sqlite(target, "turns"), owns_db=True)

    def record(self, thread_id: str, answer: Answer) -> str:
        turn_id = uuid.uuid4().hex
        self.log.add(
            {
                "id": turn_id,
                "thread_id": thread_id,
                "created_at": time.time(),
                "question": answer.question,
                "route": answer.route,
                "route_reason": answer.route_reason,
                "route_confidence": answer.route_confidence,
                "retrieved_ids": json.dumps([h.chunk_id for h in answer.hits]),
                "cited_ids": json.dumps([c.hit.chunk_id for c in answer.citations]),
                "tool_calls": json.dumps([asdict(c) for c in answer.tool_calls]),
                "answer": answer.text,
                "abstained": int(answer.abstained),
                "escalated": int(answer.handover is not None),
                "timings_ms": json.dumps(answer.timings_ms),
                "prompt_tokens": answer.usage.get("prompt_tokens", 0),
                "completion_tokens": answer.usage.get("completion_tokens", 0),
            }
        )
        return turn_id

    def turns(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        """Every recorded turn (or one thread's), oldest first."""
        return self.log.rows(thread_id)

    def set_feedback(self, turn_id: str, feedback: dict[str, Any]) -> None:
        """Attach the user's feedback to a turn (the flywheel export reads it), e.g.
        `{"helpful": false, "edited_answer": "...", "escalated": true, "comment": "..."}`.
        Later feedback replaces earlier; an unknown turn id raises `KeyError`."""
        self.log.set_feedback(turn_id, feedback)

    def close(self) -> None:
        self.log.close()
