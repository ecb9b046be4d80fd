-- Invitations with single-use registration links, Hub session tokens, and the key that signs
-- them.

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    -- SHA-256 of the link token; the token itself is never stored.
    token_hash TEXT NOT NULL UNIQUE,
    -- The actor who invited: "user:<id>", "scim_token:<id>" or "system".
    invited_by TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    -- Set when a newer link replaces this one.
    revoked_at TEXT
);
CREATE INDEX invitations_user ON invitations (org_id, user_id);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX sessions_user ON sessions (org_id, user_id);

-- Secrets for signing session tokens. Stored in the database, so every instance that shares
-- it verifies the same tokens.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Whether users created over SCIM start Active instead of Invited (0 or 1).
ALTER TABLE organizations ADD COLUMN scim_users_active BIGINT NOT NULL DEFAULT 0;
