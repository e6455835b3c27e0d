"""Audit log of internal-tool calls: one JSON line per call or decision.

Every call the agent makes on behalf of someone (and every write that was rejected, timed
out or was refused) is appended with who asked, which tool, the arguments with secrets
redacted (oncall/core/redact.py: sensitive keys, known secrets, secret-shaped strings), the
outcome and the latency. JSONL because it is append-only, greppable and ships
to any log pipeline as is; writes are serialised by a lock and flushed per line, so a crash
loses at most the line being written.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from oncall.core.redact import REDACTED, SENSITIVE_KEY, redact

Status = Literal[
    "ok",
    "error",
    "approved",
    "rejected",
    "timeout",
    "superseded",
    "denied",
    "rate_limited",
    "invalid",
]


@dataclass(frozen=True)
class AuditEntry:
    user_id: str
    tool: str
    source: str
    access: str  # "read" or "write"
    args: dict[str, Any]
    status: Status
    latency_ms: float
    approver: str | None = None
    detail: str = ""
    ts: float = field(default_factory=time.time)


__all__ = ["REDACTED", "SENSITIVE_KEY", "AuditEntry", "AuditLog", "Status", "redact"]


class AuditLog:
    """Appends `AuditEntry` lines to a JSONL file (created with its folder on first use)."""

    def __init__(self, path: Path, secrets: Iterable[str] = ()):
        self.path = path
        self._secrets = list(secrets)
        self._lock = threading.Lock()

    @property
    def secrets(self) -> list[str]:
        """The known secret values scrubbed from every entry; the agent also cuts them from
        tool output and answers (`Deps.secrets`)."""
        return list(self._secrets)

    def add_secret(self, secret: str | None) -> None:
        """Another value to scrub from every later entry (e.g. a resolved API key)."""
        if secret:
            self._secrets.append(secret)

    def record(self, entry: AuditEntry, extra_secrets: Iterable[str] = ()) -> None:
        row = asdict(entry)
        secrets = [*self._secrets, *extra_secrets]
        row["args"] = redact(row["args"], secrets)
        row["detail"] = redact(row["detail"], secrets)
        line = json.dumps(row, ensure_ascii=False, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def entries(self) -> list[dict[str, Any]]:
        """All entries, oldest first (tests, `oncall` inspection)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
