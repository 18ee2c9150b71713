-- oauth2-sqlx schema 2: the feed of changes that make what an instance caches stale, which every instance reads
-- (at least once a second while it uses its cache). Rows are kept ten minutes. Readers go by transaction id, not
-- by seq: a sequence number is taken before its transaction commits, so seqs commit out of order, while every
-- transaction at or after a snapshot's xmin is read again by the next poll. Needs PostgreSQL 13 (xid8).

CREATE TABLE IF NOT EXISTS oauth2_changes (
    seq BIGSERIAL PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),  -- the writing transaction
    grant_id BYTEA,                                  -- a family revoked (its tokens with it)
    client_id TEXT,                                  -- a client registered, changed or removed (its tokens with it)
    token_hash BYTEA,                                -- an access token revoked
    at BIGINT NOT NULL                               -- when, in Unix nanoseconds: what the purge goes by
);
CREATE INDEX IF NOT EXISTS oauth2_changes_xid ON oauth2_changes (xid);
CREATE INDEX IF NOT EXISTS oauth2_changes_at ON oauth2_changes (at);

-- A client's tokens are found through its families (every token has its family's row), so the index of tokens by
-- client goes: one index less to write per token.
DROP INDEX IF EXISTS oauth2_tokens_client;
