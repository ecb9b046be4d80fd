-- Groups, their grants (a platform role and product keys) and their members.

CREATE TABLE groups (
    -- Insertion order, for stable listing; never shown to clients.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    display_name TEXT NOT NULL,
    -- Lower-cased displayName: group names are unique per organization regardless of case,
    -- because Entra matches groups by displayName.
    display_name_key TEXT NOT NULL,
    external_id TEXT,
    -- The platform role the group grants its members, or NULL for none.
    grant_role TEXT,
    -- Product keys the group grants its members, as a JSON array.
    grant_products TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX groups_org_display_name ON groups (org_id, display_name_key);
CREATE UNIQUE INDEX groups_org_external_id ON groups (org_id, external_id);
CREATE INDEX groups_org_seq ON groups (org_id, seq);

-- One row per membership, so adding or removing a member of a large group touches one row.
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    org_id TEXT NOT NULL,
    added_seq INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);
CREATE INDEX group_members_group_order ON group_members (group_id, added_seq);
