"""The bot's own small state, in SQLite under the data dir, so a restart changes nothing:

- `seen`: event ids and message keys already taken (with a TTL). Slack re-sends an event
  it did not see acknowledged in 3 s (`X-Slack-Retry-Num`), and a mention in an auto
  channel arrives twice (app_mention + message); the first claim wins, the rest are dropped.
- `refs`: what a button needs later (thread, question, hand-over text, turn id).
- `threads`: conversations the bot answered, so auto channels follow up without a mention.

Several processes on one host may share the file (WAL, one short transaction per call);
replicas on different hosts need a shared volume for dedup to span them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS refs (ref TEXT PRIMARY KEY, at REAL NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS threads (thread_id TEXT PRIMARY KEY, at REAL NOT NULL);
"""
PURGE_EVERY_S = 60.0
REF_TTL_S = 30 * 86400.0  # buttons older than a month answer "expired"


class SlackStore:
    """Dedup claims, button references and known threads; safe to use from many threads."""

    def __init__(self, path: Path, dedupe_ttl_s: float = 3600.0):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.dedupe_ttl_s = dedupe_ttl_s
        self._lock = threading.Lock()
        # Autocommit, with explicit transactions where a read must not race a writer.
        self._conn = sqlite3.connect(
            path, check_same_thread=False, timeout=30, isolation_level=None
        )
        self._conn.executescript(SCHEMA)
        self._purged_at = 0.0

    def claim(self, *keys: str) -> bool:
        """True if none of `keys` was claimed within the TTL (and claim them all); False
        for a duplicate. Atomic across threads and processes sharing the file."""
        now = time.time()
        with self._lock:
            self._purge(now)
            self._conn.execute("BEGIN IMMEDIATE")  # other processes wait: check-and-set
            try:
                marks = ",".join("?" * len(keys))
                taken = self._conn.execute(
                    f"SELECT 1 FROM seen WHERE key IN ({marks}) AND at > ?",
                    (*keys, now - self.dedupe_ttl_s),
                ).fetchone()
                if not taken:
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO seen (key, at) VALUES (?, ?)",
                        [(k, now) for k in keys],
                    )
            finally:
                self._conn.execute("COMMIT")
            return not taken

    def _purge(self, now: float) -> None:
        if now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        self._conn.execute("DELETE FROM seen WHERE at <= ?", (now - self.dedupe_ttl_s,))
        self._conn.execute("DELETE FROM refs WHERE at <= ?", (now - REF_TTL_S,))

    def put_ref(self, data: dict[str, Any]) -> str:
        """Keep `data` for a button; returns the short reference the button carries."""
        ref = uuid.uuid4().hex
        with self._lock:
            self._conn.execute(
                "INSERT INTO refs (ref, at, data) VALUES (?, ?, ?)",
                (ref, time.time(), json.dumps(data)),
            )
        return ref

    def update_ref(self, ref: str, **changes: Any) -> None:
        with self._lock:
            row = self._conn.execute("SELECT data FROM refs WHERE ref = ?", (ref,)).fetchone()
            if row:
                data = {**json.loads(row[0]), **changes}
                self._conn.execute(
                    "UPDATE refs SET data = ? WHERE ref = ?", (json.dumps(data), ref)
                )

    def ref(self, ref: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT data FROM refs WHERE ref = ?", (ref,)).fetchone()
        return json.loads(row[0]) if row else None

    def add_thread(self, thread_id: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO threads (thread_id, at) VALUES (?, ?)",
                (thread_id, time.time()),
            )

    def has_thread(self, thread_id: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM threads WHERE thread_id = ?", (thread_id,)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
