-- The tables bots/web/conversations.py created before migrations existed, unchanged, so
-- an existing web.sqlite is adopted as version 1 with its data.
CREATE TABLE IF NOT EXISTS threads (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS threads_owner ON threads (owner, updated_at);
CREATE TABLE IF NOT EXISTS turns (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL,
    turn_id TEXT,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_thread ON turns (thread_id, seq);
CREATE INDEX IF NOT EXISTS turns_turn ON turns (turn_id);
CREATE TABLE IF NOT EXISTS transcript_keys (
    key TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL
);
