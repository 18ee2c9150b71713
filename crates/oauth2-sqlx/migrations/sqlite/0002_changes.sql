-- oauth2-sqlx schema 2: the feed of changes that make what an instance caches stale, which every instance reads
-- (at least once a second while it uses its cache). Rows are kept ten minutes. IF NOT EXISTS: two processes may
-- race to apply this.

CREATE TABLE IF NOT EXISTS oauth2_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- commit order: SQLite has one writer at a time
    grant_id BLOB,                          -- a family revoked (its tokens with it)
    client_id TEXT,                         -- a client registered, changed or removed (its tokens with it)
    token_hash BLOB,                        -- an access token revoked
    at INTEGER NOT NULL                     -- when, in Unix nanoseconds: what the purge goes by
);
CREATE INDEX IF NOT EXISTS oauth2_changes_at ON oauth2_changes (at);

-- Every token's family has its row, written by the statement that inserts the token: a batch of issuances is one
-- statement (one round trip to SQLite's thread), and the family's row (expiry, revocation) comes with it.
CREATE TRIGGER IF NOT EXISTS oauth2_tokens_family AFTER INSERT ON oauth2_tokens
BEGIN
    INSERT INTO oauth2_grants (id, client_id, revoked, expires_max) VALUES (NEW.grant_id, NEW.client_id, FALSE, NEW.expires_at)
    ON CONFLICT (id) DO UPDATE SET expires_max = MAX(oauth2_grants.expires_max, excluded.expires_max);
END;

-- A client's tokens are found through its families (every token has its family's row), so the index of tokens by
-- client goes: one index less to write per token.
DROP INDEX IF EXISTS oauth2_tokens_client;
