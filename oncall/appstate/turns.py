"""Turn records: one row per answered question (agent/records.py builds the row), read by
the feedback flywheel (evals/export.py) and `oncall eval export`."""

from __future__ import annotations

import json
from typing import Any

from oncall.appstate.db import Database

COLUMNS = (
    "id", "thread_id", "created_at", "question", "route", "route_reason", "route_confidence",
    "retrieved_ids", "cited_ids", "tool_calls", "answer", "abstained", "escalated",
    "timings_ms", "prompt_tokens", "completion_tokens",
)  # fmt: skip


class TurnLog:
    """Append-only turn rows plus the feedback set on them later; thread-safe."""

    def __init__(self, db: Database, owns_db: bool = False):
        self.db = db
        self._owns_db = owns_db

    def add(self, row: dict[str, Any]) -> None:
        """Store one turn; `row` has every name in `COLUMNS` (JSON fields as strings)."""
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise ValueError(f"turn row lacks {', '.join(missing)}")
        marks = ", ".join("?" * len(COLUMNS))
        self.db.execute(
            f"INSERT INTO turns ({', '.join(COLUMNS)}) VALUES ({marks})",
            [row[c] for c in COLUMNS],
        )

    def rows(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        """Every turn (or one thread's), oldest first, with `feedback` as stored (JSON)."""
        if thread_id:
            return self.db.dicts(
                "SELECT * FROM turns WHERE thread_id = ? ORDER BY created_at", (thread_id,)
            )
        return self.db.dicts("SELECT * FROM turns ORDER BY created_at")

    def set_feedback(self, turn_id: str, feedback: dict[str, Any]) -> None:
        """Replace the feedback of a turn; an unknown turn id raises `KeyError`."""
        changed = self.db.execute(
            "UPDATE turns SET feedback = ? WHERE id = ?", (json.dumps(feedback), turn_id)
        )
        if changed == 0:
            raise KeyError(f"no recorded turn with id {turn_id!r}")

    def close(self) -> None:
        if self._owns_db:
            self.db.close()
