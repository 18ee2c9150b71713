-- oauth2-sqlx schema 7: pushed authorization requests (RFC 9126), by the SHA-256 of their request_uri. The request
-- is the validated AuthorizationRequest as JSON. A use deletes the row in the statement that reads it (if it is
-- the client's and unexpired), so a request_uri works once across every instance.

CREATE TABLE IF NOT EXISTS oauth2_pushed_requests (
    hash BLOB PRIMARY KEY NOT NULL,     -- SHA-256 of the request_uri
    client_id TEXT NOT NULL,            -- the client that pushed it: the only one that may use it
    request TEXT NOT NULL,              -- the AuthorizationRequest as JSON
    expires_at INTEGER NOT NULL          -- when the request_uri stops working: then the row goes
);
CREATE INDEX IF NOT EXISTS oauth2_pushed_requests_expiry ON oauth2_pushed_requests (expires_at);
