-- oauth2-sqlx schema 8: DPoP (RFC 9449). The key thumbprint a token is bound to (cnf.jkt; NULL for a Bearer
-- token), and the proofs seen, by the SHA-256 of their key's thumbprint and jti, kept until they are too old to be
-- accepted: a proof is used once across every instance. (A code's binding, dpop_jkt, is in its record's JSON.)

ALTER TABLE oauth2_tokens ADD COLUMN jkt TEXT;

CREATE TABLE IF NOT EXISTS oauth2_dpop_proofs (
    id BYTEA PRIMARY KEY NOT NULL,         -- SHA-256 of "jkt.jti"
    expires_at BIGINT NOT NULL             -- when the proof is too old to be accepted: then the row goes
);
CREATE INDEX IF NOT EXISTS oauth2_dpop_proofs_expiry ON oauth2_dpop_proofs (expires_at);
