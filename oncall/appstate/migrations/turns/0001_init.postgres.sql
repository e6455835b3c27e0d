-- Turn records: one row per answered question, for evals and fine-tuning exports
-- (agent/records.py, evals/export.py).
CREATE TABLE turns (
    id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    question TEXT NOT NULL,
    route TEXT NOT NULL,
    route_reason TEXT NOT NULL,
    route_confidence DOUBLE PRECISION NOT NULL,
    retrieved_ids TEXT NOT NULL,      -- JSON list of chunk ids
    cited_ids TEXT NOT NULL,          -- JSON list of chunk ids
    tool_calls TEXT NOT NULL,         -- JSON list of {name, args, ok, ms, result_ids}
    answer TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    escalated INTEGER NOT NULL,
    timings_ms TEXT NOT NULL,         -- JSON {stage: ms}
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    feedback TEXT                     -- JSON, set later by the front ends
);
CREATE INDEX turns_thread ON turns (thread_id, created_at);
