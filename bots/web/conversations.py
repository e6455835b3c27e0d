"""Who owns which conversation, and what the web chat showed in it.

The agent's memory (LangGraph checkpointer) is keyed by thread id only; this store adds
the owner, so one user can never list, read, continue, approve in or rate another user's
conversation. Thread ids are 128-bit random (`secrets`), and still every access checks
the owner: an unknown and a foreign thread look the same (404).

Each answered turn is kept as the JSON the page rendered (answer, citations, tool steps),
so history shows exactly what the user saw. SQLite under the data dir; one lock, because
the server calls it from several threads.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS threads_owner ON threads (owner, updated_at);
CREATE TABLE IF NOT EXISTS turns (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL,
    turn_id TEXT,                  -- TurnRecorder id; NULL while an approval is pending
    created_at REAL NOT NULL,
    payload TEXT NOT NULL          -- the answer JSON the page rendered
);
CREATE INDEX IF NOT EXISTS turns_thread ON turns (thread_id, seq);
CREATE INDEX IF NOT EXISTS turns_turn ON turns (turn_id);
CREATE TABLE IF NOT EXISTS transcript_keys (  -- /v1 clients resend the whole transcript
    key TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL
);
"""
TITLE_CHARS = 80


class ConversationStore:
    """Threads per owner and the rendered turns of each (web.sqlite under the data dir)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")  # see agent/records.py
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def create(self, owner: str, first_question: str) -> str:
        """A new thread for `owner`, titled by its first question; returns its id."""
        thread_id = secrets.token_urlsafe(16)
        title = " ".join(first_question.split())[:TITLE_CHARS]
        now = time.time()
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO threads VALUES (?, ?, ?, ?, ?)", (thread_id, owner, title, now, now)
            )
        return thread_id

    def owns(self, owner: str, thread_id: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM threads WHERE id = ? AND owner = ?", (thread_id, owner)
            ).fetchone()
        return row is not None

    def threads(self, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        """The owner's threads, most recently active first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, title, created_at, updated_at FROM threads WHERE owner = ? "
                "ORDER BY updated_at DESC LIMIT ?",
                (owner, limit),
            ).fetchall()
        return [{"id": r[0], "title": r[1], "created_at": r[2], "updated_at": r[3]} for r in rows]

    def add_turn(self, thread_id: str, payload: dict[str, Any]) -> None:
        """Append what the page showed; a completed turn replaces the thread's pending one
        (the same turn, waiting for approval before)."""
        now = time.time()
        with self._lock, self._conn:
            self._conn.execute(
                "DELETE FROM turns WHERE thread_id = ? AND turn_id IS NULL", (thread_id,)
            )
            self._conn.execute(
                "INSERT INTO turns (thread_id, turn_id, created_at, payload) VALUES (?, ?, ?, ?)",
                (thread_id, payload.get("turn_id"), now, json.dumps(payload)),
            )
            self._conn.execute("UPDATE threads SET updated_at = ? WHERE id = ?", (now, thread_id))

    def history(self, thread_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT payload FROM turns WHERE thread_id = ? ORDER BY seq", (thread_id,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def turn(self, owner: str, turn_id: str) -> dict[str, Any] | None:
        """A recorded turn's payload if it is in one of `owner`'s threads."""
        with self._lock:
            row = self._conn.execute(
                "SELECT t.payload FROM turns t JOIN threads h ON h.id = t.thread_id "
                "WHERE t.turn_id = ? AND h.owner = ?",
                (turn_id, owner),
            ).fetchone()
        return json.loads(row[0]) if row else None

    def remember_transcript(
        self, owner: str, messages: Sequence[tuple[str, str]], thread: str
    ) -> None:
        """An OpenAI-style client will resend `messages` (role, text) plus a new question:
        remember which thread continues them."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO transcript_keys VALUES (?, ?)",
                (_transcript_key(owner, messages), thread),
            )

    def thread_for_transcript(self, owner: str, messages: Sequence[tuple[str, str]]) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT thread_id FROM transcript_keys WHERE key = ?",
                (_transcript_key(owner, messages),),
            ).fetchone()
        return row[0] if row and self.owns(owner, row[0]) else None

    def close(self) -> None:
        self._conn.close()


def _transcript_key(owner: str, messages: Sequence[tuple[str, str]]) -> str:
    """Stable across resends: owner plus each message's role and whitespace-trimmed text."""
    canonical = json.dumps([owner, [[r, " ".join(t.split())] for r, t in messages]])
    return hashlib.sha256(canonical.encode()).hexdigest()
