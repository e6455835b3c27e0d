"""A config file that is the authority on every use: re-read as soon as it changes.

Files that grant access (the web users file, the Slack users and channels files) must take
effect when an admin edits them: a user removed from a group has to lose that group on
their next request, not at the next restart. `WatchedFile.current()` costs one `stat`
while the file is unchanged; the parsed value is replaced when the file changes.

A change that cannot be parsed (a typo, an editor's half-written save) is logged and the
last good version stays in force, so a mistake never signs everyone out; the next change
is tried again. At start-up the file must parse: the caller gets the error.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from oncall.core.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")
Stamp = tuple[int, int, int, int]

# File timestamps are coarse (a kernel tick of a few ms): two same-sized writes in one tick
# look unchanged, so a file modified this recently is compared by content (as git does).
_RACY_NS = 2_000_000_000


class WatchedFile(Generic[T]):
    """`parse(path)` of a file, kept current. `parse` raises `ConfigError` on bad content."""

    def __init__(self, path: Path, parse: Callable[[Path], T]):
        self.path = path
        self._parse = parse
        self._lock = threading.Lock()
        self._stamp = _stamp(path)
        self._content = _read(path)
        self._value = parse(path)  # a broken file at start-up is the caller's error

    def current(self) -> T:
        """The value as the file says now (the last good one if the file is broken)."""
        stamp = _stamp(self.path)
        if stamp != self._stamp or _recent(stamp):
            with self._lock:
                self._stamp = stamp
                content = _read(self.path)
                if content != self._content:
                    self._content = content  # once per change: a bad file is logged once
                    self._reload()
        return self._value

    def _reload(self) -> None:
        try:
            self._value = self._parse(self.path)
        except (ConfigError, OSError, ValueError) as exc:  # ValueError: undecodable bytes
            log.error("%s changed but cannot be used; keeping the previous version: %s",
                      self.path, exc)  # fmt: skip
            return
        log.info("%s re-read", self.path)


def _stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _recent(stamp: Stamp | None) -> bool:
    return stamp is not None and time.time_ns() - max(stamp[0], stamp[1]) < _RACY_NS


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
