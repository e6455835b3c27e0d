"""Sliding-window rate limits: in process (embedded default) or shared by every replica.

`hit(key, limit, window_s)` admits a call and returns None, or refuses it and returns how
many seconds until the window has room again. Both implementations count the calls
admitted in the last `window_s` seconds, so a limit means the same with one replica or ten.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from oncall.appstate.db import Database

PURGE_EVERY_S = 60.0


class RateLimits(Protocol):
    def hit(self, key: str, limit: int, window_s: float = 60.0) -> float | None: ...


class MemoryRateLimits:
    """Per process; `clock` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window_s: float = 60.0) -> float | None:
        now = self._clock()
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and now - calls[0] >= window_s:
                calls.popleft()
            if len(calls) >= limit:
                return window_s - (now - calls[0])
            calls.append(now)
            return None


class SqlRateLimits:
    """One row per admitted call in `rate_events`; a check and its insert run under a
    lock on the key, so replicas admitting at the same moment cannot overshoot."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        self.db = db
        self._clock = clock
        self._purged_at = 0.0

    def hit(self, key: str, limit: int, window_s: float = 60.0) -> float | None:
        now = self._clock()
        with self.db.transaction() as tx:
            tx.lock(f"rate:{key}")
            count, oldest = tx.one(
                "SELECT COUNT(*), MIN(at) FROM rate_events WHERE key = ? AND at > ?",
                (key, now - window_s),
            ) or (0, None)
            if int(count) >= limit and oldest is not None:
                return window_s - (now - float(oldest))
            tx.execute("INSERT INTO rate_events (key, at) VALUES (?, ?)", (key, now))
        self._purge(now, window_s)
        return None

    def _purge(self, now: float, window_s: float) -> None:
        """Drop rows older than any window in use (one hour), now and then."""
        if now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        self.db.execute("DELETE FROM rate_events WHERE at < ?", (now - max(window_s, 3600.0),))
