"""Turn records: one row per answered question, for evals and fine-tuning exports."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.answer import Answer

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    question TEXT NOT NULL,
    route TEXT NOT NULL,
    route_reason TEXT NOT NULL,
    route_confidence REAL NOT NULL,
    retrieved_ids TEXT NOT NULL,      -- JSON list of chunk ids
    cited_ids TEXT NOT NULL,          -- JSON list of chunk ids
    tool_calls TEXT NOT NULL,         -- JSON list of {name, args, ok, ms, result_ids}
    answer TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    escalated INTEGER NOT NULL,
    timings_ms TEXT NOT NULL,         -- JSON {stage: ms}
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    feedback TEXT                     -- set later by the front ends
);
CREATE INDEX IF NOT EXISTS turns_thread ON turns (thread_id, created_at);
"""


class TurnRecorder:
    """Appends turns to `turns.sqlite` under the data dir."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False)
        # WAL without a sync per commit: a turn record costs ~0.1 ms instead of an fsync
        # (~10 ms, serialised under load); a power cut may lose the last records, never
        # corrupt the file.
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        # One connection shared by the web/Slack worker threads: sqlite3 transactions on
        # a shared connection interleave ("cannot start a transaction within a
        # transaction") unless writes take turns.
        self._lock = threading.Lock()

    def record(self, thread_id: str, answer: Answer) -> str:
        turn_id = uuid.uuid4().hex
        row: dict[str, Any] = {
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
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._lock, self._conn:
            self._conn.execute(f"INSERT INTO turns ({columns}) VALUES ({marks})", row)
        return turn_id

    def turns(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM turns"
        params: tuple[str, ...] = ()
        if thread_id:
            query += " WHERE thread_id = ?"
            params = (thread_id,)
        with self._lock:
            cursor = self._conn.execute(query + " ORDER BY created_at", params)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [dict(zip(names, r, strict=True)) for r in rows]

    def set_feedback(self, turn_id: str, feedback: dict[str, Any]) -> None:
        """Attach the user's feedback to a turn (the flywheel export reads it), e.g.
        `{"helpful": false, "edited_answer": "...", "escalated": true, "comment": "..."}`.
        Later feedback replaces earlier; an unknown turn id raises `KeyError`."""
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "UPDATE turns SET feedback = ? WHERE id = ?", (json.dumps(feedback), turn_id)
            )
        if cursor.rowcount == 0:
            raise KeyError(f"no recorded turn with id {turn_id!r}")

    def close(self) -> None:
        self._conn.close()
