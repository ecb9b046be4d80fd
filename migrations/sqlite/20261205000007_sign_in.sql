-- The sign-in gate: each organization's identity provider, the public halves of Hub's own
-- session signing keys, and the link between a user and the provider's object id.

-- How tokens of an organization's identity provider are checked. The issuer picks the
-- organization of an incoming token, so two organizations cannot share one.
CREATE TABLE sign_in_providers (
    org_id TEXT PRIMARY KEY REFERENCES organizations (id),
    issuer TEXT NOT NULL,
    -- JSON array of accepted audiences (the application's client id, its App ID URI).
    audiences TEXT NOT NULL,
    -- Where the signing keys come from: an https URL or a file path.
    jwks_url TEXT,
    jwks_file TEXT,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX sign_in_providers_issuer ON sign_in_providers (issuer);

-- Public keys that verify Hub session tokens, published at /.well-known/jwks.json. Private
-- keys stay in each instance's key folder; every instance publishes its public key here, so
-- any instance verifies a token another one signed.
CREATE TABLE session_signing_keys (
    kid TEXT PRIMARY KEY,
    public_jwk TEXT NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT
);

-- The identity provider's object id (Entra `oid`), recorded at the first sign-in.
ALTER TABLE users ADD COLUMN sign_in_subject TEXT;
CREATE UNIQUE INDEX users_sign_in_subject ON users (org_id, sign_in_subject) WHERE sign_in_subject IS NOT NULL;
