"""Versioned schema migrations, kept in the repo and applied at start.

Files live in `oncall/appstate/migrations/<domain>/NNNN_<name>[.<dialect>].sql`: a domain is
one store's tables (slack, web, turns, audit, limits, leases); `NNNN` orders them; a file
without a dialect suffix applies to both engines, `.sqlite.sql` / `.postgres.sql` to one. A
dialect may skip a version (the SQLite files adopt the tables that existed before
migrations, then rename them; Postgres starts from the final names).

`schema_version` records (domain, version) per database. Everything runs in one
transaction: on Postgres under an advisory lock, so replicas that start together apply
each migration exactly once (the others wait, then find nothing to do); on SQLite under
the file's write lock. A failed migration rolls back whole and names its file.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from oncall.appstate.db import Database, Dialect, Tx
from oncall.core.errors import OncallError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$")
LOCK_KEY = "oncall-appstate-migrations"
SCHEMA_VERSION = """
CREATE TABLE IF NOT EXISTS schema_version (
    domain TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (domain, version)
)
"""


@dataclass(frozen=True)
class Migration:
    domain: str
    version: int
    name: str
    path: Path


def migrations(domain: str, dialect: Dialect, root: Path = MIGRATIONS) -> list[Migration]:
    """The migrations of `domain` for `dialect`, in version order."""
    found: dict[int, Migration] = {}
    folder = root / domain
    if not folder.is_dir():
        raise ValueError(f"no migrations for app-state domain {domain!r} in {root}")
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path}: migration files are named NNNN_name[.dialect].sql")
        version, name, only = int(match[1]), match[2], match[3]
        if only not in (None, dialect):
            continue
        if version in found:
            raise ValueError(f"{path}: version {version} of {domain!r} exists twice")
        found[version] = Migration(domain, version, name, path)
    return [found[v] for v in sorted(found)]


def domains(root: Path = MIGRATIONS) -> list[str]:
    """Every domain that has migrations (a shared Postgres database holds them all)."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


def apply_migrations(
    db: Database, names: Iterable[str], root: Path = MIGRATIONS
) -> list[Migration]:
    """Bring `names`' tables in `db` up to date; returns the migrations applied now."""
    applied: list[Migration] = []
    with db.transaction() as tx:
        tx.lock(LOCK_KEY)
        tx.script(SCHEMA_VERSION)
        for domain in names:
            applied.extend(_apply_domain(tx, db.dialect, domain, root))
    for m in applied:
        log.info("app state: applied migration %s/%04d_%s", m.domain, m.version, m.name)
    return applied


def _apply_domain(tx: Tx, dialect: Dialect, domain: str, root: Path) -> list[Migration]:
    rows = tx.all("SELECT version FROM schema_version WHERE domain = ?", (domain,))
    done = {int(r[0]) for r in rows}
    known = migrations(domain, dialect, root)
    newer = done - {m.version for m in known}
    if newer and max(newer) > max((m.version for m in known), default=0):
        # A rolling upgrade: a newer replica migrated first. Migrations only add, so an
        # older replica keeps working; say so once at start.
        log.warning(
            "app state %r is at version %d, newer than this build knows (%d)",
            domain, max(newer), max((m.version for m in known), default=0),
        )  # fmt: skip
    applied = []
    for m in known:
        if m.version in done:
            continue
        try:
            tx.script(m.path.read_text(encoding="utf-8"))
        except Exception as exc:
            raise OncallError(
                "migration_failed",
                f"app-state migration {m.path.name} ({domain}, {dialect}) failed: {exc}; "
                "nothing of it was applied",
            ) from exc
        tx.execute(
            "INSERT INTO schema_version (domain, version, name, applied_at) VALUES (?, ?, ?, ?)",
            (domain, m.version, m.name, time.time()),
        )
        applied.append(m)
    return applied


def schema_versions(db: Database) -> dict[str, int]:
    """{domain: highest applied version} (status pages, tests)."""
    rows = db.all("SELECT domain, MAX(version) FROM schema_version GROUP BY domain")
    return {str(d): int(v) for d, v in rows}
