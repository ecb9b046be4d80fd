-- Token health: an optional expiry set at creation, and when the token was last used (written
-- at most once a minute per token).
ALTER TABLE scim_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE scim_tokens ADD COLUMN last_used_at TEXT;
