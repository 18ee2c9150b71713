-- oauth2-sqlx schema 5: RFC 8707 resources (the audience of each token, space-separated absolute URIs; NULL for
-- none, the issuer), and the deny-list of revoked JWT access tokens that have no row of their own (RFC 9068 tokens
-- of client credentials), by the SHA-256 of their jti, kept until the token expires.

ALTER TABLE oauth2_tokens ADD COLUMN IF NOT EXISTS resources TEXT;

CREATE TABLE IF NOT EXISTS oauth2_denied_tokens (
    jti BYTEA PRIMARY KEY NOT NULL,     -- SHA-256 of the token's jti
    expires_at BIGINT NOT NULL          -- when the token expires: then the entry goes
);
CREATE INDEX IF NOT EXISTS oauth2_denied_tokens_expiry ON oauth2_denied_tokens (expires_at);
