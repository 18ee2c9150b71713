-- oauth2-sqlx schema 3: signing keys (design.md §3). One current key per algorithm (retired_until IS NULL, which the
-- partial unique index enforces, so instances that start at once cannot make two); keys rotated out stay until the
-- last token they signed expires. The private key is what the server sealed (PKCS#8, AES-256-GCM when it has a
-- key-encryption key): the store never reads it.

CREATE TABLE IF NOT EXISTS oauth2_signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    algorithm TEXT NOT NULL,
    private_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_until BIGINT               -- NULL while current; then when it leaves the JWKS and may be deleted
);
CREATE UNIQUE INDEX IF NOT EXISTS oauth2_signing_keys_current ON oauth2_signing_keys (algorithm)
    WHERE retired_until IS NULL;
