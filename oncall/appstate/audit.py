"""Where internal-tool audit entries go: a JSONL file (embedded default) or a table.

`tools/internal/audit.py` builds and redacts each entry; a sink only appends the finished
row (a JSON-ready dict with at least `ts`, `user_id`, `tool`, `status`) and reads them
back. JSONL is append-only, greppable and ships to any log pipeline as is; the table is
the same JSON per row, shared by every replica.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Protocol

from oncall.appstate.db import Database


class AuditSink(Protocol):
    def append(self, row: dict[str, Any]) -> None: ...

    def entries(self) -> list[dict[str, Any]]: ...


class JsonlAudit:
    """One JSON line per entry, flushed per line: a crash loses at most the line being
    written. The file and its folder are created on first use."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def append(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, ensure_ascii=False, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def entries(self) -> list[dict[str, Any]]:
        """All entries, oldest first."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]


class SqlAudit:
    """Entries as rows of `tool_audit` (the shared database)."""

    def __init__(self, db: Database):
        self.db = db

    def append(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO tool_audit (ts, user_id, tool, status, entry) VALUES (?, ?, ?, ?, ?)",
            (
                float(row["ts"]),
                str(row["user_id"]),
                str(row["tool"]),
                str(row["status"]),
                json.dumps(row, ensure_ascii=False, default=str),
            ),
        )

    def entries(self) -> list[dict[str, Any]]:
        """All entries, oldest first."""
        return [json.loads(r[0]) for r in self.db.all("SELECT entry FROM tool_audit ORDER BY seq")]
