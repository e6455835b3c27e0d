"""A throwaway Postgres cluster on a free loopback port, for tests and benchmarks.

`initdb` into a temporary folder, `pg_ctl start` listening on 127.0.0.1 only (and a Unix
socket inside that folder), trust auth for one superuser, and everything removed after the
block. The server binaries come from Debian's `postgresql` package
(/usr/lib/postgresql/<version>/bin; scripts/setup.sh installs it). Postgres refuses to run
as root, so as root the cluster runs as the `postgres` user (or `nobody`).

`fast=True` (tests) turns fsync off: a crash of the test box may corrupt a cluster that is
deleted anyway. Benchmarks keep the durable defaults, so commit costs are real.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "oncall"


def postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl (newest Debian version first, then PATH)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def missing_reason() -> str | None:
    """Why a throwaway cluster cannot start here, or None if it can."""
    if postgres_bin() is None:
        return (
            "Postgres server binaries (initdb, pg_ctl) not found: apt-get install postgresql "
            "(scripts/setup.sh does it as root)"
        )
    if os.geteuid() == 0 and _service_user() is None:
        return "running as root and no unprivileged `postgres` or `nobody` user to run Postgres"
    return None


def _service_user() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ThrowawayPostgres:
    """A running cluster; `url` is its `postgres` database as superuser `oncall`."""

    root: Path
    port: int
    bin: Path
    run_as: list[str]

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), *args],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip


@contextlib.contextmanager
def throwaway_postgres(
    fast: bool = True, max_connections: int = 300
) -> Iterator[ThrowawayPostgres]:
    """Start a cluster for the block, then stop it and delete its files."""
    reason = missing_reason()
    if reason:
        raise RuntimeError(reason)
    pg_bin = postgres_bin()
    assert pg_bin is not None
    root = Path(tempfile.mkdtemp(prefix="oncall-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = _service_user()
        assert user is not None
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    try:
        subprocess.run(
            [*run_as, str(pg_bin / "initdb"), "-D", str(root / "data"), "-U", USER,
             "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        server = _start(ThrowawayPostgres(root, 0, pg_bin, run_as), fast, max_connections)
        try:
            yield server
        finally:
            with contextlib.suppress(Exception):
                server.pg_ctl("-m", "immediate", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(server: ThrowawayPostgres, fast: bool, max_connections: int) -> ThrowawayPostgres:
    """pg_ctl start on a free port (another one if that port was taken meanwhile)."""
    options = f"-c listen_addresses=127.0.0.1 -k {server.root} -c max_connections={max_connections}"
    if fast:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    last: subprocess.CalledProcessError | None = None
    for _ in range(3):
        server.port = free_port()
        try:
            server.pg_ctl(
                "-l", str(server.root / "server.log"), "-w", "-t", "60",
                "-o", f"-p {server.port} {options}", "start",
            )  # fmt: skip
            return server
        except subprocess.CalledProcessError as exc:
            last = exc
    log = (server.root / "server.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"Postgres did not start: {last}\n{log}")
