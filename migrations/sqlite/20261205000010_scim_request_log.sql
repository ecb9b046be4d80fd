-- On SQLite the request log lives in its own database file (hub-requests.db beside hub.db),
-- whose schema is in migrations/sqlite-request-log. This migration keeps the version numbers of
-- both backends aligned.
SELECT 1;
