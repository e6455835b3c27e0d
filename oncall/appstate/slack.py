"""The Slack bot's state: dedup claims, button references, known threads, open questions.

- `slack_seen`: event ids and message keys already taken (with a TTL). Slack re-sends an
  event it did not see acknowledged in 3 s (`X-Slack-Retry-Num`), and a mention in an auto
  channel arrives twice (app_mention + message); the first claim wins, the rest are
  dropped. The claim is an insert-if-absent, so it holds across every worker sharing the
  database (a SQLite file on one host, Postgres across hosts).
- `slack_refs`: what a button needs later (thread, question, hand-over text, turn id).
- `slack_threads`: conversations the bot answered, so auto channels follow up.
- `slack_jobs`: questions taken but not answered yet, leased by the worker answering them.
  A worker renews its leases while it lives; one that dies mid-answer stops renewing, and
  another takes its questions over (`take_orphans`), so an acknowledged question (which
  Slack will never resend) is not lost with the worker.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from oncall.appstate.db import Database

PURGE_EVERY_S = 60.0
REF_TTL_S = 30 * 86400.0  # buttons older than a month answer "expired"


class SlackState:
    """Dedup claims, button references, known threads and leased jobs; thread-safe."""

    def __init__(
        self,
        db: Database,
        dedupe_ttl_s: float = 3600.0,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        owns_db: bool = False,
    ):
        self.db = db
        self.dedupe_ttl_s = dedupe_ttl_s
        self.owner = owner or f"slack-{uuid.uuid4().hex[:12]}"  # this worker, in job leases
        self._clock = clock
        self._owns_db = owns_db
        self._purged_at = 0.0

    # --- dedup ------------------------------------------------------------------------

    def claim(self, *keys: str, job: dict[str, Any] | None = None, lease_s: float = 30.0) -> bool:
        """True if none of `keys` was claimed within the TTL (and claim them all); False
        for a duplicate. Atomic across threads, processes and hosts sharing the database.
        With `job`, the question is also stored, leased to this worker for `lease_s`, under
        the first key, in the same transaction (see `take_orphans`)."""
        now = self._clock()
        self._purge(now)
        try:
            with self.db.transaction() as tx:
                # Sorted: two claims sharing keys lock them in the same order (no deadlock).
                for key in sorted(set(keys)):
                    won = tx.one(
                        "INSERT INTO slack_seen (key, at) VALUES (?, ?) ON CONFLICT (key) DO "
                        "UPDATE SET at = excluded.at WHERE slack_seen.at <= ? RETURNING key",
                        (key, now, now - self.dedupe_ttl_s),
                    )
                    if won is None:
                        raise _Taken  # rolls back the keys inserted before this one
                if job is not None:
                    tx.durable()  # Slack got its ack: this row is the only copy of the question
                    tx.execute(
                        "INSERT INTO slack_jobs (key, payload, owner, lease_until, attempts, "
                        "created_at) VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (key) DO NOTHING",
                        (keys[0], json.dumps(job), self.owner, now + lease_s, now),
                    )
        except _Taken:
            return False
        return True

    def _purge(self, now: float) -> None:
        if now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM slack_seen WHERE at <= ?", (now - self.dedupe_ttl_s,))
            tx.execute("DELETE FROM slack_refs WHERE at <= ?", (now - REF_TTL_S,))

    # --- button references ----------------------------------------------------------------

    def put_ref(self, data: dict[str, Any]) -> str:
        """Keep `data` for a button; returns the short reference the button carries."""
        ref = uuid.uuid4().hex
        self.db.execute(
            "INSERT INTO slack_refs (ref, at, data) VALUES (?, ?, ?)",
            (ref, self._clock(), json.dumps(data)),
        )
        return ref

    def update_ref(self, ref: str, **changes: Any) -> None:
        """Merge `changes` into a reference's data (read-modify-write under a lock, so two
        clicks on different workers do not lose one another's change)."""
        with self.db.transaction() as tx:
            tx.lock(f"slack-ref:{ref}")
            row = tx.one("SELECT data FROM slack_refs WHERE ref = ?", (ref,))
            if row:
                data = {**json.loads(row[0]), **changes}
                tx.execute("UPDATE slack_refs SET data = ? WHERE ref = ?", (json.dumps(data), ref))

    def ref(self, ref: str) -> dict[str, Any] | None:
        row = self.db.one("SELECT data FROM slack_refs WHERE ref = ?", (ref,))
        return json.loads(row[0]) if row else None

    # --- threads --------------------------------------------------------------------------

    def add_thread(self, thread_id: str) -> None:
        self.db.execute(
            "INSERT INTO slack_threads (thread_id, at) VALUES (?, ?) "
            "ON CONFLICT (thread_id) DO UPDATE SET at = excluded.at",
            (thread_id, self._clock()),
        )

    def has_thread(self, thread_id: str) -> bool:
        row = self.db.one("SELECT 1 FROM slack_threads WHERE thread_id = ?", (thread_id,))
        return row is not None

    # --- jobs -----------------------------------------------------------------------------

    def finish_job(self, key: str) -> None:
        """The question under `key` was answered (or failed with an apology): forget it."""
        self.db.execute("DELETE FROM slack_jobs WHERE key = ?", (key,))

    def renew_jobs(self, lease_s: float) -> int:
        """Extend every lease this worker holds; returns how many it holds."""
        return self.db.execute(
            "UPDATE slack_jobs SET lease_until = ? WHERE owner = ?",
            (self._clock() + lease_s, self.owner),
        )

    def release_jobs(self) -> int:
        """Give this worker's unfinished questions up now (shutting down): another worker
        takes them at its next look instead of after the lease runs out."""
        return self.db.execute(
            "UPDATE slack_jobs SET lease_until = 0 WHERE owner = ?", (self.owner,)
        )

    def take_orphans(
        self, lease_s: float, limit: int = 8, max_attempts: int = 3
    ) -> list[tuple[str, dict[str, Any]]]:
        """Questions whose worker stopped renewing its lease, now leased to this one, as
        (key, job). A question tried `max_attempts` times is dropped (a question that kills
        its worker must not take them all down in turn); returns only the ones to answer."""
        now = self._clock()
        taken: list[tuple[str, dict[str, Any]]] = []
        with self.db.transaction() as tx:
            tx.lock("slack-jobs-orphans")  # one taker at a time: no job is taken twice
            rows = tx.all(
                "SELECT key, payload, attempts FROM slack_jobs WHERE lease_until < ? "
                "ORDER BY created_at LIMIT ?",
                (now, limit),
            )
            for key, payload, attempts in rows:
                if attempts >= max_attempts:
                    tx.execute("DELETE FROM slack_jobs WHERE key = ?", (key,))
                    continue
                tx.execute(
                    "UPDATE slack_jobs SET owner = ?, lease_until = ?, attempts = attempts + 1 "
                    "WHERE key = ?",
                    (self.owner, now + lease_s, key),
                )
                taken.append((str(key), json.loads(payload)))
        return taken

    def jobs(self) -> list[dict[str, Any]]:
        """Every open question with its owner and lease (tests, status pages)."""
        return self.db.dicts(
            "SELECT key, owner, lease_until, attempts, payload FROM slack_jobs ORDER BY created_at"
        )

    def close(self) -> None:
        if self._owns_db:
            self.db.close()


class _Taken(Exception):
    """A key is claimed already: roll the whole claim back."""
