-- A per-organization limit on SCIM requests per second per token; NULL uses the server's
-- default (--rate-limit).
ALTER TABLE organizations ADD COLUMN scim_rate_limit INTEGER;
