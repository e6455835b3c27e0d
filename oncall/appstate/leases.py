"""Leases: "this replica is working on KEY" (one turn at a time per conversation).

A lease is taken with an insert-if-absent-or-expired, held while a background thread
renews it every third of its TTL, and released when the work ends. A replica that dies
stops renewing, so its leases lapse after `ttl_s` and the conversation is free again;
nothing waits on a dead process for longer than that.

`MemoryLeases` is the embedded default (one process: a held key is simply held);
`SqlLeases` is shared by every replica on the database.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Protocol

from oncall.appstate.db import Database

log = logging.getLogger(__name__)


class LeaseBusy(Exception):
    """`hold` waited `wait_s` and the key was still held elsewhere."""


class Leases(Protocol):
    def acquire(self, key: str) -> bool: ...

    def release(self, key: str) -> None: ...

    def close(self) -> None: ...


@contextlib.contextmanager
def hold(leases: Leases, key: str, wait_s: float = 0.0) -> Iterator[None]:
    """The lease on `key` for the block; waits up to `wait_s` for it (polling, backing off
    from 20 ms to 0.5 s), then raises `LeaseBusy`."""
    deadline = time.monotonic() + wait_s
    pause = 0.02
    while not leases.acquire(key):
        if time.monotonic() >= deadline:
            raise LeaseBusy(key)
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.5)
    try:
        yield
    finally:
        leases.release(key)


class MemoryLeases:
    """In one process: a key is held until released."""

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> bool:
        with self._lock:
            if key in self._held:
                return False
            self._held.add(key)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._held.discard(key)

    def close(self) -> None:
        pass


class SqlLeases:
    """Rows of `leases`, owned by this process (`owner`) and renewed by a daemon thread
    while any is held."""

    def __init__(
        self,
        db: Database,
        ttl_s: float = 30.0,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.db = db
        self.ttl_s = ttl_s
        self.owner = owner or f"replica-{uuid.uuid4().hex[:12]}"
        self._clock = clock
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def acquire(self, key: str) -> bool:
        now = self._clock()
        won = self.db.one(
            "INSERT INTO leases (key, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO "
            "UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at "
            "WHERE leases.expires_at < ? RETURNING key",
            (key, self.owner, now + self.ttl_s, now),
        )
        if won is None:
            return False
        with self._lock:
            self._held.add(key)
            self._start_keeper()
        return True

    def release(self, key: str) -> None:
        with self._lock:
            self._held.discard(key)
        self.db.execute("DELETE FROM leases WHERE key = ? AND owner = ?", (key, self.owner))

    def renew(self) -> int:
        """Extend every lease this process holds; returns how many rows it still owns."""
        return self.db.execute(
            "UPDATE leases SET expires_at = ? WHERE owner = ?",
            (self._clock() + self.ttl_s, self.owner),
        )

    def _start_keeper(self) -> None:
        if self._keeper is None or not self._keeper.is_alive():
            self._keeper = threading.Thread(target=self._keep, name="lease-keeper", daemon=True)
            self._keeper.start()

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            with self._lock:
                if not self._held:
                    continue
            try:
                self.renew()
            except Exception as exc:  # the database blinked: retry at the next tick
                log.warning("lease renewal failed: %s", exc)

    def close(self) -> None:
        """Stop renewing and free every lease this process still holds."""
        self._stop.set()
        with self._lock:
            held, self._held = self._held, set()
        if held:
            with contextlib.suppress(Exception):
                self.db.execute("DELETE FROM leases WHERE owner = ?", (self.owner,))
