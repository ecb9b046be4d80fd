-- Columns and indexes that let SCIM filters, sorting and cursor paging run in SQL.

-- The profile with the strings of case-insensitive attributes lower-cased by Hub (Unicode
-- rules, which SQLite's lower() lacks). NULL until Hub fills it at startup for older rows.
ALTER TABLE users ADD COLUMN filter_doc TEXT;
-- Lower-cased displayName, for case-insensitive lookups and sorting on an index.
ALTER TABLE users ADD COLUMN display_name_key TEXT;

CREATE INDEX users_org_display_name ON users (org_id, display_name_key);
CREATE INDEX users_org_created ON users (org_id, created_at);
CREATE INDEX users_org_updated ON users (org_id, updated_at);
-- Users that are not removed, in creation order: counts and keyset pages read only this.
CREATE INDEX users_org_live ON users (org_id, seq) WHERE removed_at IS NULL;

-- One row per email address of a user, lower-cased, so `emails.value eq` finds users through
-- an index instead of reading every profile.
CREATE TABLE user_emails (
    user_id TEXT NOT NULL REFERENCES users (id),
    org_id TEXT NOT NULL,
    value_key TEXT NOT NULL,
    PRIMARY KEY (user_id, value_key)
);
CREATE INDEX user_emails_org_value ON user_emails (org_id, value_key);

CREATE INDEX groups_org_created ON groups (org_id, created_at);
CREATE INDEX groups_org_updated ON groups (org_id, updated_at);
CREATE INDEX group_members_org_user ON group_members (org_id, user_id);
