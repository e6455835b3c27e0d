"""`AppState`: the stores of one process, from settings, on SQLite files or one Postgres.

Embedded (no `appstate.url`): each store keeps the SQLite file it always had under the data
dir (slack.sqlite, web.sqlite, turns.sqlite), opened when first asked for, so `oncall serve`
never creates the Slack bot's file; the tool audit log stays `tool_audit.jsonl`, rate limits
and turn leases stay in memory. One host; several processes there may share the files.

Shared (`appstate.url = postgresql://...`): every store is a set of tables in that database,
migrated at start under an advisory lock, reached through one connection pool per process.
Any number of replicas on any number of hosts then act as one: a Slack retry reaching
another worker is still a duplicate, a conversation continues on any replica, a rate limit
counts every replica's calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from oncall.appstate.audit import AuditSink, JsonlAudit, SqlAudit
from oncall.appstate.conversations import ConversationState
from oncall.appstate.db import Database, PostgresDatabase, SqliteDatabase
from oncall.appstate.leases import Leases, MemoryLeases, SqlLeases
from oncall.appstate.limits import MemoryRateLimits, RateLimits, SqlRateLimits
from oncall.appstate.migrate import apply_migrations, domains
from oncall.appstate.slack import SlackState
from oncall.appstate.turns import TurnLog
from oncall.core.settings import AppStateSettings

T = TypeVar("T")
# Embedded mode: the file each domain has always used under the data dir.
SQLITE_FILES = {"slack": "slack.sqlite", "web": "web.sqlite", "turns": "turns.sqlite"}
AUDIT_FILE = "tool_audit.jsonl"


def open_sqlite(path: Path, domain: str) -> Database:
    """A domain's SQLite file, migrated to the current schema (an older file is adopted)."""
    db = SqliteDatabase(path)
    try:
        apply_migrations(db, [domain])
    except BaseException:
        db.close()
        raise
    return db


class AppState:
    """Factory and owner of the app-state stores; `close()` closes what it opened."""

    def __init__(self, settings: AppStateSettings, data_dir: Path):
        self.settings = settings
        self.data_dir = data_dir
        self._url = settings.url.get_secret_value() if settings.url else None
        self._lock = threading.Lock()
        self._opened: dict[str, Any] = {}
        self._sqlite: dict[str, Database] = {}
        self._pg: Database | None = None
        if self._url:
            self._pg = PostgresDatabase(self._url, settings.pool_size, settings.connect_timeout_s)
            try:
                apply_migrations(self._pg, domains())
            except BaseException:
                self._pg.close()
                raise

    @property
    def shared(self) -> bool:
        """True when the state lives in Postgres (replicas share it)."""
        return self._pg is not None

    @property
    def checkpoint_url(self) -> str | None:
        """The database the LangGraph checkpointer should default to (None: SQLite)."""
        return self._url

    def database(self, domain: str) -> Database:
        """The database holding `domain`'s tables (migrated)."""
        if self._pg is not None:
            return self._pg
        with self._lock:
            if domain not in self._sqlite:
                self._sqlite[domain] = open_sqlite(self.data_dir / SQLITE_FILES[domain], domain)
            return self._sqlite[domain]

    def _once(self, name: str, make: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._opened:
                self._opened[name] = make()
            return self._opened[name]

    def slack(self, dedupe_ttl_s: float = 3600.0) -> SlackState:
        db = self.database("slack")
        return self._once("slack", lambda: SlackState(db, dedupe_ttl_s))

    def conversations(self) -> ConversationState:
        db = self.database("web")
        return self._once("web", lambda: ConversationState(db))

    def turns(self) -> TurnLog:
        db = self.database("turns")
        return self._once("turns", lambda: TurnLog(db))

    def audit(self) -> AuditSink:
        if self._pg is not None:
            pg = self._pg
            return self._once("audit", lambda: SqlAudit(pg))
        return self._once("audit", lambda: JsonlAudit(self.data_dir / AUDIT_FILE))

    def rate_limits(self) -> RateLimits:
        if self._pg is not None:
            pg = self._pg
            return self._once("limits", lambda: SqlRateLimits(pg))
        return self._once("limits", MemoryRateLimits)

    def leases(self) -> Leases:
        if self._pg is not None:
            pg, ttl = self._pg, self.settings.lease_s
            return self._once("leases", lambda: SqlLeases(pg, ttl))
        return self._once("leases", MemoryLeases)

    def close(self) -> None:
        with self._lock:
            leases = self._opened.get("leases")
            if leases is not None:
                leases.close()
            for db in self._sqlite.values():
                db.close()
            self._sqlite.clear()
            if self._pg is not None:
                self._pg.close()
            self._opened.clear()

    def __enter__(self) -> AppState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
