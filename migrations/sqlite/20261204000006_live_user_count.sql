-- The number of users of each organization that are not removed, kept by triggers, so an
-- unfiltered list answers totalResults without counting a million rows on every page.

ALTER TABLE organizations ADD COLUMN live_users INTEGER NOT NULL DEFAULT 0;

UPDATE organizations SET live_users =
    (SELECT COUNT(*) FROM users u WHERE u.org_id = organizations.id AND u.removed_at IS NULL);

CREATE TRIGGER users_live_count_insert AFTER INSERT ON users WHEN NEW.removed_at IS NULL
BEGIN
    UPDATE organizations SET live_users = live_users + 1 WHERE id = NEW.org_id;
END;

-- Removal is irreversible, so a user leaves the count once and never comes back.
CREATE TRIGGER users_live_count_remove AFTER UPDATE OF removed_at ON users
    WHEN OLD.removed_at IS NULL AND NEW.removed_at IS NOT NULL
BEGIN
    UPDATE organizations SET live_users = live_users - 1 WHERE id = NEW.org_id;
END;

CREATE TRIGGER users_live_count_delete AFTER DELETE ON users WHEN OLD.removed_at IS NULL
BEGIN
    UPDATE organizations SET live_users = live_users - 1 WHERE id = OLD.org_id;
END;
