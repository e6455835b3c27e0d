-- Slack bot state shared by every worker (bots/slack, oncall/appstate/slack.py).
-- Event ids and message keys already taken: insert-if-absent is the dedup.
CREATE TABLE slack_seen (key TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL);
CREATE INDEX slack_seen_at ON slack_seen (at);
-- What a button needs later (JSON).
CREATE TABLE slack_refs (ref TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL);
CREATE INDEX slack_refs_at ON slack_refs (at);
-- Threads the bot answered (auto channels follow up without a mention).
CREATE TABLE slack_threads (thread_id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL);
-- Questions taken and not yet answered, leased by the worker answering them.
CREATE TABLE slack_jobs (
    key TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    owner TEXT NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX slack_jobs_lease ON slack_jobs (lease_until);
CREATE INDEX slack_jobs_owner ON slack_jobs (owner);
