"""App state shared by replicas: SQLite files by default, one Postgres database by URL.

Slack dedup and button references, web conversations and their owners, turn records and
feedback, the tool audit log, rate limits and turn leases, behind one small interface
(`Database`: SQLite or Postgres) with versioned migrations (`migrations/`). Front ends and
the agent get their stores from `AppState` (built once per process by the composition root,
oncall/cli/compose.py). This package imports only oncall.core.
"""

from oncall.appstate.audit import AuditSink, JsonlAudit, SqlAudit
from oncall.appstate.conversations import ConversationState
from oncall.appstate.db import (
    STATE_UNAVAILABLE,
    Database,
    PostgresDatabase,
    SqliteDatabase,
    driver_errors,
)
from oncall.appstate.leases import LeaseBusy, Leases, MemoryLeases, SqlLeases, hold
from oncall.appstate.limits import MemoryRateLimits, RateLimits, SqlRateLimits
from oncall.appstate.migrate import apply_migrations, schema_versions
from oncall.appstate.slack import SlackState
from oncall.appstate.state import AppState, open_sqlite
from oncall.appstate.turns import TurnLog

__all__ = [
    "STATE_UNAVAILABLE",
    "AppState",
    "AuditSink",
    "ConversationState",
    "Database",
    "JsonlAudit",
    "LeaseBusy",
    "Leases",
    "MemoryLeases",
    "MemoryRateLimits",
    "PostgresDatabase",
    "RateLimits",
    "SlackState",
    "SqlAudit",
    "SqlLeases",
    "SqlRateLimits",
    "SqliteDatabase",
    "TurnLog",
    "apply_migrations",
    "driver_errors",
    "hold",
    "open_sqlite",
    "schema_versions",
]
