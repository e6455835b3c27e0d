"""Conversation memory: the LangGraph checkpointer, SQLite by default, Postgres by URL.

The serializer only revives the project's own state types (plus LangChain messages and the
standard library types LangGraph allows), so a tampered checkpoint database cannot make the
agent construct arbitrary objects.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from oncall.core.errors import ConfigError

STATE_TYPES = [
    ("tools.search_docs", "DocHit"),
    ("agent.citations", "Citation"),
    ("agent.state", "Handover"),
    ("agent.state", "ToolCallRecord"),
]


def serializer() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=STATE_TYPES)


@contextlib.contextmanager
def open_checkpointer(data_dir: Path, url: str | None = None) -> Iterator[Any]:
    """A checkpointer for the duration of the block (connections closed after it)."""
    if url:
        if not url.startswith(("postgres://", "postgresql://")):
            raise ConfigError("agent.checkpoint_url", f"expected a postgresql:// URL, got {url!r}")
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
        except ImportError as exc:
            raise ConfigError(
                "agent.checkpoint_url",
                "the Postgres checkpointer is not installed: pip install -e '.[postgres]'",
            ) from exc
        with PostgresSaver.from_conn_string(url) as saver:
            saver.serde = serializer()
            saver.setup()
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
