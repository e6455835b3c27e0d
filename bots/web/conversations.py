"""Who owns which conversation, and what the web chat showed in it.

The logic is `oncall.appstate.ConversationState` (SQLite or the replicas' shared Postgres,
docs/deploy.md): every access checks the owner, so one user can never list, read, continue,
approve in or rate another user's conversation. `ConversationStore` is the embedded one
over a file of its own (web.sqlite under the data dir), for tests and scripts.
"""

from __future__ import annotations

from pathlib import Path

from oncall.appstate import ConversationState, open_sqlite

__all__ = ["ConversationState", "ConversationStore"]


class ConversationStore(ConversationState):
    """`ConversationState` over the SQLite file at `path` (migrated on open)."""

    def __init__(self, path: Path):
        super().__init__(open_sqlite(path, "web"), owns_db=True)
