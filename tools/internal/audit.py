"""Audit log of internal-tool calls: one entry per call or decision.

Every call the agent makes on behalf of someone (and every write that was rejected, timed
out or was refused) is appended with who asked, which tool, the arguments with secrets
redacted (oncall/core/redact.py: sensitive keys, known secrets, secret-shaped strings), the
outcome and the latency. Where the entries go is an `oncall.appstate.AuditSink`: a JSONL
file by default (append-only, greppable, ships to any log pipeline as is; flushed per
line, so a crash loses at most the line being written), or the `tool_audit` table of the
replicas' shared database (docs/deploy.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from oncall.appstate import AuditSink, JsonlAudit
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
    """Redacts and appends `AuditEntry`s to a sink: the JSONL file at `path` (created with
    its folder on first use) unless `sink` is given."""

    def __init__(
        self, path: Path | None = None, secrets: Iterable[str] = (), sink: AuditSink | None = None
    ):
        if sink is None:
            if path is None:
                raise ValueError("AuditLog needs a JSONL path or a sink")
            sink = JsonlAudit(path)
        self.path = path
        self.sink = sink
        self._secrets = list(secrets)

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
        self.sink.append(row)

    def entries(self) -> list[dict[str, Any]]:
        """All entries, oldest first (tests, `oncall` inspection)."""
        return self.sink.entries()
