-- The table agent/records.py created before migrations existed, unchanged, so an existing
-- turns.sqlite is adopted as version 1 with its data.
CREATE TABLE IF NOT EXISTS turns (
    id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    question TEXT NOT NULL,
    route TEXT NOT NULL,
    route_reason TEXT NOT NULL,
    route_confidence REAL NOT NULL,
    retrieved_ids TEXT NOT NULL,
    cited_ids TEXT NOT NULL,
    tool_calls TEXT NOT NULL,
    answer TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    escalated INTEGER NOT NULL,
    timings_ms TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    feedback TEXT
);
CREATE INDEX IF NOT EXISTS turns_thread ON turns (thread_id, created_at);
