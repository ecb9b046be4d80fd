-- Organizations, SCIM tokens, users and the audit log.
-- Timestamps are UTC text in RFC 3339 with milliseconds ("2026-12-04T20:16:45.123Z"), which sorts
-- in time order and reads the same on SQLite and PostgreSQL. JSON is stored as TEXT for the
-- same reason.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- Lower-cased name, so names are unique regardless of case.
    name_key TEXT NOT NULL UNIQUE,
    verified_domains TEXT NOT NULL DEFAULT '[]',
    products TEXT NOT NULL DEFAULT '["billing","desk","projects"]',
    -- Bumped by every write transaction of the organization. The update takes the row lock
    -- that serializes the organization's writes, so rules that count users (the owner limit)
    -- hold across concurrent requests and server instances.
    write_sequence BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE scim_tokens (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    -- First 16 hex digits of the SHA-256 of the token: finds candidates, while the full hash is
    -- compared in constant time.
    lookup TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX scim_tokens_lookup ON scim_tokens (lookup);

CREATE TABLE users (
    -- Insertion order, for stable listing; never shown to clients.
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    -- userName, externalId and displayName copied out of the profile for indexes. They are
    -- NULL for removed users, which frees the userName.
    user_name TEXT,
    user_name_key TEXT,
    external_id TEXT,
    display_name TEXT,
    status TEXT NOT NULL,
    previous_status TEXT,
    role TEXT NOT NULL,
    products TEXT NOT NULL DEFAULT '[]',
    -- SCIM core and enterprise attributes as JSON.
    profile TEXT NOT NULL DEFAULT '{}',
    mfa_enabled BIGINT NOT NULL DEFAULT 0,
    mfa_methods TEXT NOT NULL DEFAULT '[]',
    last_login_at TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    removed_at TEXT
);
CREATE UNIQUE INDEX users_org_user_name ON users (org_id, user_name_key);
CREATE UNIQUE INDEX users_org_external_id ON users (org_id, external_id);
CREATE INDEX users_org_seq ON users (org_id, seq);
CREATE INDEX users_org_role ON users (org_id, role);

CREATE TABLE audit_entries (
    seq BIGSERIAL PRIMARY KEY,
    org_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    request_id TEXT,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    before_value TEXT,
    after_value TEXT
);
CREATE INDEX audit_entries_org_time ON audit_entries (org_id, occurred_at);
CREATE INDEX audit_entries_org_target ON audit_entries (org_id, target_id);

-- Audit entries are append-only.
CREATE FUNCTION audit_entries_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();
