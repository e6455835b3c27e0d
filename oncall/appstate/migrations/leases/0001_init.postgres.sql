-- Short leases that say which replica works on what (one turn at a time per conversation),
-- renewed while held, so a replica that dies frees them after `appstate.lease_s`.
CREATE TABLE leases (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX leases_owner ON leases (owner);
