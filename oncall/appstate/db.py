"""One small database interface, two engines: SQLite (embedded) and Postgres (shared).

The app-state stores (oncall/appstate/*.py) write their SQL once, in the subset both engines
speak: `?` placeholders, `INSERT ... ON CONFLICT`, `RETURNING`, `DOUBLE PRECISION`. What
differs lives here and in the per-dialect migration files:

- placeholders: Postgres (psycopg) wants `%s`; `?` is rewritten once per statement text;
- transactions: SQLite takes the file's write lock up front (`BEGIN IMMEDIATE`), so a
  read-then-write inside one cannot race another process; Postgres runs at READ COMMITTED
  and a store that reads before it writes takes `Tx.lock(key)` (a transaction-scoped
  advisory lock) first;
- connections: SQLite keeps one per file behind a lock (calls are ~0.1 ms); Postgres uses a
  psycopg connection pool, so worker threads do not queue behind one socket.

Connection failures on Postgres become `OncallError("state_unavailable", ...)` naming the
setting, so each front end maps them once like any other infrastructure failure. SQLite
errors pass through unchanged (agent/faults.py already turns "disk full" into advice).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from oncall.core.errors import OncallError

Dialect = Literal["sqlite", "postgres"]
Params = Sequence[Any]
STATE_UNAVAILABLE = "state_unavailable"


class Tx(ABC):
    """Statements inside one transaction (committed when the block ends without error)."""

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    @abstractmethod
    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        """The first row of a query (or of `... RETURNING`), None if there is none."""

    @abstractmethod
    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""

    @abstractmethod
    def dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        """Every row of a query as {column: value}."""

    @abstractmethod
    def lock(self, key: str) -> None:
        """Serialise this transaction with every other one that locks `key`, across
        processes, until commit."""

    @abstractmethod
    def script(self, sql: str) -> None:
        """Several statements without parameters (migrations)."""

    @abstractmethod
    def durable(self) -> None:
        """Make this transaction's commit wait for the disk even where the database's
        default does not (Postgres with `appstate.durable_commits` off)."""


class Database(ABC):
    """A connection (SQLite) or pool (Postgres) with the same calls on both."""

    dialect: Dialect

    @abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Tx]:
        """A transaction: `with db.transaction() as tx: ...`."""

    def execute(self, sql: str, params: Params = ()) -> int:
        with self.transaction() as tx:
            return tx.execute(sql, params)

    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        with self.transaction() as tx:
            return tx.one(sql, params)

    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        with self.transaction() as tx:
            return tx.all(sql, params)

    def dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            return tx.dicts(sql, params)

    @abstractmethod
    def close(self) -> None: ...


# --- SQLite -------------------------------------------------------------------------------


class _SqliteTx(Tx):
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return self.conn.execute(sql, tuple(params)).rowcount

    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        row = self.conn.execute(sql, tuple(params)).fetchone()
        return tuple(row) if row is not None else None

    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn.execute(sql, tuple(params)).fetchall()]

    def dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, tuple(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    def lock(self, key: str) -> None:
        """Nothing to do: `BEGIN IMMEDIATE` already holds the file's write lock."""

    def durable(self) -> None:
        """Nothing per transaction: the file's synchronous=NORMAL holds for all of them
        (a power cut may lose the last commits, a crashed process none)."""

    def script(self, sql: str) -> None:
        # executescript() would COMMIT first; run the statements one by one instead.
        for statement in split_sqlite_script(sql):
            self.conn.execute(statement)


class SqliteDatabase(Database):
    """One SQLite file (WAL), shared by the threads of a process and by the processes of
    one host: every transaction takes the write lock at its start."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Autocommit mode: transactions are the explicit BEGIN IMMEDIATE ... COMMIT below.
        self._conn = sqlite3.connect(
            path, check_same_thread=False, timeout=30, isolation_level=None
        )
        # WAL without an fsync per commit: a write costs ~0.1 ms instead of ~10 ms; a power
        # cut may lose the last writes, never corrupt the file.
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # a failed COMMIT (disk full) too
                    self._conn.execute("ROLLBACK")
                raise

    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        with self._lock:  # a read needs no write lock
            return _SqliteTx(self._conn).one(sql, params)

    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return _SqliteTx(self._conn).all(sql, params)

    def dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        with self._lock:
            return _SqliteTx(self._conn).dicts(sql, params)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def split_sqlite_script(sql: str) -> list[str]:
    """Complete statements of a script, as SQLite itself decides where one ends."""
    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                statements.append(buffer.strip())
            buffer = ""
    rest = "\n".join(ln for ln in buffer.splitlines() if not ln.strip().startswith("--"))
    if rest.strip():  # a last statement without its semicolon
        if not sqlite3.complete_statement(rest + ";"):
            raise ValueError(f"incomplete SQL statement at the end of the script: {rest[:80]!r}")
        statements.append(rest.strip())
    return statements


# --- Postgres -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


def commit_options(durable: bool) -> str:
    """libpq `options` for app-state sessions. Not durable (the default): a commit returns
    before its WAL reaches the disk (~0.1 ms instead of an fsync, ~4 ms here), like the
    embedded SQLite files' synchronous=NORMAL: a crash of the Postgres server may lose the
    last ~0.6 s of writes, never corrupts anything, and a replica dying loses nothing.
    Writes whose loss would drop a question call `Tx.durable()`."""
    return "" if durable else "-c synchronous_commit=off"


def lock_id(key: str) -> int:
    """A stable signed 64-bit id for an advisory lock on `key`."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), signed=True)


class _PostgresTx(Tx):
    def __init__(self, conn: Any):
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return int(self.conn.execute(to_pyformat(sql), tuple(params)).rowcount)

    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        row = self.conn.execute(to_pyformat(sql), tuple(params)).fetchone()
        return tuple(row) if row is not None else None

    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn.execute(to_pyformat(sql), tuple(params)).fetchall()]

    def dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(to_pyformat(sql), tuple(params))
        names = [d.name for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    def lock(self, key: str) -> None:
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_id(key),))

    def script(self, sql: str) -> None:
        self.conn.execute(sql)  # no parameters: psycopg sends it as one multi-statement query

    def durable(self) -> None:
        self.conn.execute("SET LOCAL synchronous_commit TO on")


class PostgresDatabase(Database):
    """A psycopg connection pool on one database; each transaction borrows a connection."""

    dialect: Dialect = "postgres"

    def __init__(
        self,
        url: str,
        pool_size: int = 10,
        timeout_s: float = 10.0,
        setting: str = "appstate.url",
        durable_commits: bool = False,
    ):
        import psycopg
        from psycopg_pool import ConnectionPool, PoolTimeout

        # Connection trouble (server down, pool exhausted): not the caller's SQL.
        self._errors: tuple[type[BaseException], ...] = (psycopg.OperationalError, PoolTimeout)
        self._setting = setting
        self._timeout_s = timeout_s
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, round(timeout_s)),
                "options": commit_options(durable_commits),
            },
            check=ConnectionPool.check_connection,  # a server restart costs one retry
            timeout=timeout_s,
            open=False,
            name="oncall-appstate",
        )
        self.pool.open(wait=False)
        try:
            self.pool.wait(timeout=timeout_s)
        except Exception as exc:
            self.pool.close()
            raise self._unavailable(exc) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with self.pool.connection() as conn, conn.transaction():
                yield _PostgresTx(conn)
        except self._errors as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> OncallError:
        return OncallError(
            STATE_UNAVAILABLE,
            f"the shared app-state database ({self._setting}) cannot be reached: "
            f"{str(exc).strip() or type(exc).__name__}. Check that Postgres is up and the URL "
            "is right; nothing was written",
        )

    def close(self) -> None:
        self.pool.close()


def driver_errors() -> tuple[type[BaseException], ...]:
    """The database drivers' own error types (sqlite3, and psycopg when installed): what a
    failed checkpoint or turn-record write raises (agent/faults.py maps them)."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)
