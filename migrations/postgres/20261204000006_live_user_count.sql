-- The number of users of each organization that are not removed, kept by a trigger, so an
-- unfiltered list answers totalResults without counting a million rows on every page. Every
-- write of an organization already locks its row, so the counter adds no contention.

ALTER TABLE organizations ADD COLUMN live_users BIGINT NOT NULL DEFAULT 0;

UPDATE organizations SET live_users =
    (SELECT COUNT(*) FROM users u WHERE u.org_id = organizations.id AND u.removed_at IS NULL);

CREATE FUNCTION users_live_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.removed_at IS NULL THEN
        UPDATE organizations SET live_users = live_users + 1 WHERE id = NEW.org_id;
    ELSIF TG_OP = 'UPDATE' AND OLD.removed_at IS NULL AND NEW.removed_at IS NOT NULL THEN
        UPDATE organizations SET live_users = live_users - 1 WHERE id = NEW.org_id;
    ELSIF TG_OP = 'DELETE' AND OLD.removed_at IS NULL THEN
        UPDATE organizations SET live_users = live_users - 1 WHERE id = OLD.org_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_live_count AFTER INSERT OR UPDATE OF removed_at OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_live_count();
