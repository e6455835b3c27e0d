"""Web conversations: who owns which thread, and what the page showed in it.

The agent's memory (LangGraph checkpointer) is keyed by thread id only; this store adds
the owner, so one user can never list, read, continue, approve in or rate another user's
conversation. Thread ids are 128-bit random (`secrets`), and still every access checks
the owner: an unknown and a foreign thread look the same to the caller.

Each answered turn is kept as the JSON the page rendered (answer, citations, tool steps),
so history shows exactly what the user saw, whichever replica served which turn.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from oncall.appstate.db import Database

TITLE_CHARS = 80


class ConversationState:
    """Threads per owner and the rendered turns of each; thread-safe."""

    def __init__(self, db: Database, owns_db: bool = False):
        self.db = db
        self._owns_db = owns_db

    def create(self, owner: str, first_question: str) -> str:
        """A new thread for `owner`, titled by its first question; returns its id."""
        thread_id = secrets.token_urlsafe(16)
        title = " ".join(first_question.split())[:TITLE_CHARS]
        now = time.time()
        self.db.execute(
            "INSERT INTO web_threads (id, owner, title, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (thread_id, owner, title, now, now),
        )
        return thread_id

    def owns(self, owner: str, thread_id: str) -> bool:
        row = self.db.one(
            "SELECT 1 FROM web_threads WHERE id = ? AND owner = ?", (thread_id, owner)
        )
        return row is not None

    def threads(self, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        """The owner's threads, most recently active first."""
        rows = self.db.all(
            "SELECT id, title, created_at, updated_at FROM web_threads WHERE owner = ? "
            "ORDER BY updated_at DESC LIMIT ?",
            (owner, limit),
        )
        return [{"id": r[0], "title": r[1], "created_at": r[2], "updated_at": r[3]} for r in rows]

    def add_turn(self, thread_id: str, payload: dict[str, Any]) -> None:
        """Append what the page showed; a completed turn replaces the thread's pending one
        (the same turn, waiting for approval before)."""
        now = time.time()
        with self.db.transaction() as tx:
            tx.execute(
                "DELETE FROM web_turns WHERE thread_id = ? AND turn_id IS NULL", (thread_id,)
            )
            tx.execute(
                "INSERT INTO web_turns (thread_id, turn_id, created_at, payload) "
                "VALUES (?, ?, ?, ?)",
                (thread_id, payload.get("turn_id"), now, json.dumps(payload)),
            )
            tx.execute("UPDATE web_threads SET updated_at = ? WHERE id = ?", (now, thread_id))

    def history(self, thread_id: str) -> list[dict[str, Any]]:
        rows = self.db.all(
            "SELECT payload FROM web_turns WHERE thread_id = ? ORDER BY seq", (thread_id,)
        )
        return [json.loads(r[0]) for r in rows]

    def turn(self, owner: str, turn_id: str) -> dict[str, Any] | None:
        """A recorded turn's payload if it is in one of `owner`'s threads."""
        row = self.db.one(
            "SELECT t.payload FROM web_turns t JOIN web_threads h ON h.id = t.thread_id "
            "WHERE t.turn_id = ? AND h.owner = ?",
            (turn_id, owner),
        )
        return json.loads(row[0]) if row else None

    def remember_transcript(
        self, owner: str, messages: Sequence[tuple[str, str]], thread: str
    ) -> None:
        """An OpenAI-style client will resend `messages` (role, text) plus a new question:
        remember which thread continues them."""
        self.db.execute(
            "INSERT INTO web_transcripts (key, thread_id) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET thread_id = excluded.thread_id",
            (transcript_key(owner, messages), thread),
        )

    def thread_for_transcript(self, owner: str, messages: Sequence[tuple[str, str]]) -> str | None:
        row = self.db.one(
            "SELECT thread_id FROM web_transcripts WHERE key = ?",
            (transcript_key(owner, messages),),
        )
        return row[0] if row and self.owns(owner, row[0]) else None

    def close(self) -> None:
        if self._owns_db:
            self.db.close()


def transcript_key(owner: str, messages: Sequence[tuple[str, str]]) -> str:
    """Stable across resends: owner plus each message's role and whitespace-trimmed text."""
    canonical = json.dumps([owner, [[r, " ".join(t.split())] for r, t in messages]])
    return hashlib.sha256(canonical.encode()).hexdigest()
