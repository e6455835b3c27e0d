-- Sliding-window rate limits shared by every replica (oncall/appstate/limits.py): one row
-- per admitted call, kept for the window.
CREATE TABLE rate_events (key TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
CREATE INDEX rate_events_key_at ON rate_events (key, at);
