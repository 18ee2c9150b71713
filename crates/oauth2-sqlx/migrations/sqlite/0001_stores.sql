-- oauth2-sqlx schema 1: clients, grant families, codes, tokens, throttles. Times are Unix nanoseconds; secrets,
-- codes and tokens are kept as their SHA-256 only. IF NOT EXISTS: two processes may race to apply this.

CREATE TABLE IF NOT EXISTS oauth2_clients (
    id TEXT PRIMARY KEY NOT NULL,
    registration TEXT NOT NULL          -- the RegisteredClient as JSON (its secret as a hash)
);

CREATE TABLE IF NOT EXISTS oauth2_grants (
    id BLOB PRIMARY KEY NOT NULL,       -- the grant family id (16 bytes)
    client_id TEXT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    expires_max INTEGER NOT NULL        -- when the last code or token of the family expires: then it is forgotten
);
CREATE INDEX IF NOT EXISTS oauth2_grants_client ON oauth2_grants (client_id);
CREATE INDEX IF NOT EXISTS oauth2_grants_expiry ON oauth2_grants (expires_max);

CREATE TABLE IF NOT EXISTS oauth2_codes (
    hash BLOB PRIMARY KEY NOT NULL,     -- SHA-256 of the code
    grant_id BLOB NOT NULL,
    client_id TEXT NOT NULL,
    record TEXT NOT NULL,               -- the CodeRecord as JSON (redirect URI, PKCE challenge, grant)
    used BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS oauth2_codes_grant ON oauth2_codes (grant_id);
CREATE INDEX IF NOT EXISTS oauth2_codes_expiry ON oauth2_codes (expires_at);

CREATE TABLE IF NOT EXISTS oauth2_tokens (
    hash BLOB PRIMARY KEY NOT NULL,     -- SHA-256 of the token
    refresh BOOLEAN NOT NULL,           -- a refresh token (else an access token)
    grant_id BLOB NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT,
    scope TEXT NOT NULL,                -- space-separated
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE -- a refresh token rotated away (kept until it expires, to detect reuse)
);
CREATE INDEX IF NOT EXISTS oauth2_tokens_grant ON oauth2_tokens (grant_id);
CREATE INDEX IF NOT EXISTS oauth2_tokens_client ON oauth2_tokens (client_id);
CREATE INDEX IF NOT EXISTS oauth2_tokens_expiry ON oauth2_tokens (expires_at);

CREATE TABLE IF NOT EXISTS oauth2_throttle (
    key BLOB PRIMARY KEY NOT NULL,      -- SHA-256 of what is throttled (a username and an address, say)
    count INTEGER NOT NULL,
    window_start INTEGER,
    locked_until INTEGER,
    forget_at INTEGER NOT NULL          -- when the window and any lockout are over
);
CREATE INDEX IF NOT EXISTS oauth2_throttle_forget ON oauth2_throttle (forget_at);
