"""Server-side session revocation for the web app's signed cookies.

A session cookie is signed and expires (bots/web/auth.py), which proves who it was issued
to but cannot be taken back: without server state, a copied cookie works until it expires,
logout or not. Each session therefore has a random id (`sid`), and signing out records that
id here until the cookie would have expired anyway; a revoked id is refused on every
request. (A user removed from the users file, or whose password changed, is refused too:
that is checked against the users file itself, no state needed.)

The store is deliberately tiny: `revoke` and `is_revoked`. `SqliteRevocations` (a file
under the data dir) is shared by the workers of one host; replicas on several hosts need
a shared implementation of the same two methods (Postgres: one table, same columns).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol


class Revocations(Protocol):
    """Where revoked session ids are kept until their cookies would expire."""

    def revoke(self, sid: str, until: float) -> None:
        """Refuse session `sid` from now on (`until`: its expiry, epoch seconds)."""

    def is_revoked(self, sid: str) -> bool:
        """True when `sid` was revoked."""


class MemoryRevocations:
    """One process only (tests, a single worker): forgotten on restart, like the random
    session key a server without `web.session_secret` uses."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def revoke(self, sid: str, until: float) -> None:
        now = time.time()
        with self._lock:
            self._until = {s: t for s, t in self._until.items() if t > now}  # bounded
            self._until[sid] = until

    def is_revoked(self, sid: str) -> bool:
        with self._lock:
            return sid in self._until


class SqliteRevocations:
    """Revoked ids in a SQLite file, shared by every worker on this host. A connection per
    call: cheap (one indexed lookup per signed-in request) and safe across processes."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._run("PRAGMA journal_mode=WAL")
        self._run(
            "CREATE TABLE IF NOT EXISTS revoked_sessions"
            " (sid TEXT PRIMARY KEY, until REAL NOT NULL)"
        )

    def revoke(self, sid: str, until: float) -> None:
        self._run("DELETE FROM revoked_sessions WHERE until < ?", (time.time(),))
        self._run(
            "INSERT OR REPLACE INTO revoked_sessions (sid, until) VALUES (?, ?)", (sid, until)
        )

    def is_revoked(self, sid: str) -> bool:
        return bool(self._run("SELECT 1 FROM revoked_sessions WHERE sid = ?", (sid,)))

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=10, isolation_level=None)) as db:
            return db.execute(sql, params).fetchall()
