-- The names the Postgres schema uses (one database holds every domain there), and the
-- questions being answered (jobs), so another worker can take over from one that died.
ALTER TABLE seen RENAME TO slack_seen;
ALTER TABLE refs RENAME TO slack_refs;
ALTER TABLE threads RENAME TO slack_threads;
CREATE INDEX slack_seen_at ON slack_seen (at);
CREATE INDEX slack_refs_at ON slack_refs (at);
CREATE TABLE slack_jobs (
    key TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    owner TEXT NOT NULL,
    lease_until REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL
);
CREATE INDEX slack_jobs_lease ON slack_jobs (lease_until);
CREATE INDEX slack_jobs_owner ON slack_jobs (owner);
