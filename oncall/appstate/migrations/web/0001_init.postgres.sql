-- Web chat conversations, their owners and what the page showed (oncall/appstate/conversations.py).
CREATE TABLE web_threads (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX web_threads_owner ON web_threads (owner, updated_at);
CREATE TABLE web_turns (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread_id TEXT NOT NULL,
    turn_id TEXT,                  -- the turn record's id; NULL while an approval is pending
    created_at DOUBLE PRECISION NOT NULL,
    payload TEXT NOT NULL          -- the answer JSON the page rendered
);
CREATE INDEX web_turns_thread ON web_turns (thread_id, seq);
CREATE INDEX web_turns_turn ON web_turns (turn_id);
-- /v1 clients resend the whole transcript: which thread continues it.
CREATE TABLE web_transcripts (key TEXT PRIMARY KEY, thread_id TEXT NOT NULL);
