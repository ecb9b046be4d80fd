-- The SCIM request log of a SQLite deployment, in its own database file beside the main one,
-- so that logging every request never competes with provisioning writes for SQLite's single
-- write lock. One row per SCIM request an organization's token sent (or tried to send with an
-- expired or revoked token). The columns are the whole record on purpose: none can
-- hold a request body, a header or a credential.
CREATE TABLE scim_request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    at TEXT NOT NULL,
    token_id TEXT NOT NULL,
    token_name TEXT NOT NULL,
    client TEXT NOT NULL,
    user_agent TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    action TEXT NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    target TEXT,
    filter TEXT,
    operations TEXT,
    status BIGINT NOT NULL,
    scim_type TEXT,
    detail TEXT,
    rule TEXT,
    duration_us BIGINT NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX scim_request_log_org_seq ON scim_request_log (org_id, seq);
CREATE INDEX scim_request_log_time ON scim_request_log (at);

-- Entries the capture queue had to drop because it was full, per organization.
CREATE TABLE scim_request_log_drops (
    org_id TEXT PRIMARY KEY,
    dropped BIGINT NOT NULL,
    last_dropped_at TEXT NOT NULL
);
