"""Failures of the agent's own storage, turned into errors a user can act on.

The graph writes a checkpoint after every node (SQLite under the data dir by default,
Postgres when replicas share state) and the recorder appends a row per turn. When the disk
fills up or the database cannot be written, SQLite raises `OperationalError("database or
disk is full")`, the OS `OSError(ENOSPC)` and psycopg its own errors, which mean nothing
to someone asking a question in Slack. Here they
become `OncallError`s with a stable code, like the LLM and store failures: each front end
maps those once. A failed checkpoint write is rolled back by SQLite, so the thread keeps
every turn up to the last completed one and a later question in it continues from there.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sqlite3
from collections.abc import Iterator

from oncall.appstate import STATE_UNAVAILABLE, driver_errors
from oncall.core.errors import OncallError

log = logging.getLogger(__name__)

DISK_FULL = "disk_full"
__all__ = ["DISK_FULL", "STATE_UNAVAILABLE", "best_effort", "storage_error", "storage_errors"]


def storage_error(exc: BaseException) -> OncallError | None:
    """The `OncallError` for a storage failure, or None if `exc` is not one."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OncallError(
            DISK_FULL,
            "no space left where the agent keeps its data (ONCALL_DATA_DIR): free some space "
            "and ask again; the conversation is kept up to its last completed answer",
        )
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        if "full" in text.lower():
            return storage_error(OSError(errno.ENOSPC, text))
        return OncallError(
            STATE_UNAVAILABLE,
            f"the conversation database could not be used ({text}); check ONCALL_DATA_DIR "
            "(permissions, disk) and ask again: earlier turns are kept",
        )
    if isinstance(exc, OncallError) and exc.code == STATE_UNAVAILABLE:
        return exc  # the shared database (oncall/appstate/db.py) said so already
    if isinstance(exc, driver_errors()):  # Postgres (checkpointer): down, or refusing
        return OncallError(
            STATE_UNAVAILABLE,
            f"the shared conversation database could not be used ({str(exc).strip()}); check "
            "that Postgres is up (ONCALL_APPSTATE__URL / ONCALL_AGENT__CHECKPOINT_URL) and ask "
            "again: earlier turns are kept",
        )
    return None


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Re-raise storage failures inside the block as `OncallError` (disk_full or
    state_unavailable); everything else passes through unchanged."""
    try:
        yield
    except Exception as exc:
        mapped = storage_error(exc)
        if mapped is None or mapped is exc:
            raise
        raise mapped from exc


def best_effort(what: str, exc: BaseException) -> bool:
    """Whether a failed side write (the turn record, not the answer) may be skipped: a
    storage failure is logged and the user still gets the answer."""
    if storage_error(exc) is None:
        return False
    log.warning("%s skipped: %s", what, exc)
    return True
