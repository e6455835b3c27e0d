-- Internal-tool audit log shared by every replica (tools/internal/audit.py). The embedded
-- default is data_dir/tool_audit.jsonl; `entry` holds the same JSON line.
CREATE TABLE tool_audit (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    user_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    status TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX tool_audit_ts ON tool_audit (ts);
CREATE INDEX tool_audit_user ON tool_audit (user_id, ts);
