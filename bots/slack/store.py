"""The bot's own small state: dedup claims, button references, known threads, open
questions. The logic is `oncall.appstate.SlackState` (SQLite or the replicas' shared
Postgres, see docs/deploy.md); `SlackStore` is the embedded one over a file of its own,
kept for tests and scripts that build a bot by hand.

Several processes on one host may share the file (WAL, one short transaction per call);
replicas on different hosts share the Postgres database (`ONCALL_APPSTATE__URL`).
"""

from __future__ import annotations

from pathlib import Path

from oncall.appstate import SlackState, open_sqlite


class SlackStore(SlackState):
    """`SlackState` over the SQLite file at `path` (migrated on open, closed by `close`)."""

    def __init__(self, path: Path, dedupe_ttl_s: float = 3600.0):
        super().__init__(open_sqlite(path, "slack"), dedupe_ttl_s, owns_db=True)
