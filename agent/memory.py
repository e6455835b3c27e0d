"""Conversation memory: the LangGraph checkpointer, SQLite by default, Postgres by URL.

The serializer only revives the project's own state types (plus LangChain messages and the
standard library types LangGraph allows), so a tampered checkpoint database cannot make the
agent construct arbitrary objects.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from oncall.appstate import STATE_UNAVAILABLE
from oncall.appstate.db import commit_options
from oncall.core.errors import ConfigError, OncallError

STATE_TYPES = [
    ("tools.search_docs", "DocHit"),
    ("agent.citations", "Citation"),
    ("agent.state", "Handover"),
    ("agent.state", "ToolCallRecord"),
]


SETUP_LOCK = 0x6F6E63616C6C  # advisory lock id held while the checkpoint tables are set up


def serializer() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=STATE_TYPES)


@contextlib.contextmanager
def open_checkpointer(
    data_dir: Path,
    url: str | None = None,
    pool_size: int = 10,
    setting: str = "agent.checkpoint_url",
    durable_commits: bool = False,
) -> Iterator[Any]:
    """A checkpointer for the duration of the block (connections closed after it): SQLite
    under `data_dir`, or Postgres at `url` (shared by replicas: a conversation or a pending
    approval continues on whichever replica the next request reaches)."""
    if url:
        with _postgres_checkpointer(url, pool_size, setting, durable_commits) as saver:
            yield saver
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / "conversations.sqlite", check_same_thread=False)
    # WAL (SqliteSaver asks for it too) without an fsync per commit: a turn writes ~5
    # checkpoints, and a sync each dominated a served turn's overhead under load
    # (benchmarks/web_load.py). A power cut may lose the last writes, not corrupt the file.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        yield SqliteSaver(conn, serde=serializer())
    finally:
        conn.close()


@contextlib.contextmanager
def _postgres_checkpointer(
    url: str, pool_size: int, setting: str, durable_commits: bool
) -> Iterator[Any]:
    """LangGraph's PostgresSaver over a connection pool (one connection would serialise
    every worker thread's checkpoint writes), its tables set up under an advisory lock so
    replicas starting together do not race over them."""
    if not url.startswith(("postgres://", "postgresql://")):
        raise ConfigError(setting, f"expected a postgresql:// URL, got {url[:20]!r}...")
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool, PoolTimeout
    except ImportError as exc:
        raise ConfigError(
            setting, "langgraph-checkpoint-postgres is not installed: run `make setup`"
        ) from exc
    # autocommit + dict rows + no server-side prepared statements: what PostgresSaver needs.
    # Commits do not wait for the WAL flush unless asked (oncall/appstate/db.py says why).
    kwargs = {
        "autocommit": True,
        "prepare_threshold": 0,
        "row_factory": dict_row,
        "options": commit_options(durable_commits),
    }
    # At least two: setup() below runs on one connection while another holds the lock.
    pool = ConnectionPool(url, min_size=1, max_size=max(2, pool_size), kwargs=kwargs, open=False)
    pool.open(wait=False)
    try:
        pool.wait(timeout=30)
        saver = PostgresSaver(pool, serde=serializer())  # type: ignore[arg-type]
        with pool.connection() as conn:
            # Polled, never waited on: setup() runs CREATE INDEX CONCURRENTLY, which waits
            # for every open transaction, a blocked pg_advisory_lock() call included.
            while not _try_lock(conn):
                time.sleep(0.2)
            try:
                saver.setup()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))
        yield saver
    except PoolTimeout as exc:
        raise OncallError(
            STATE_UNAVAILABLE,
            f"the conversation database ({setting}) cannot be reached: {exc}; check that "
            "Postgres is up and the URL is right",
        ) from exc
    finally:
        pool.close()


def _try_lock(conn: Any) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (SETUP_LOCK,)).fetchone()
    return bool(row["ok"])  # dict rows (what PostgresSaver's pool hands out)
