-- oauth2-sqlx schema 6: device authorizations (RFC 8628), by the SHA-256 of the device code, with the SHA-256 of
-- the user code (unique: a live user code names one authorization). The record is the DeviceCodeRecord as JSON:
-- scope, resources, the polling interval and last poll, and the status (pending, approved with its grant, denied,
-- redeemed). Each poll and each answer rewrites it inside a transaction that holds the row.

CREATE TABLE IF NOT EXISTS oauth2_device_codes (
    hash BLOB PRIMARY KEY NOT NULL,      -- SHA-256 of the device code
    user_code BLOB NOT NULL UNIQUE,      -- SHA-256 of the user code
    client_id TEXT NOT NULL,
    record TEXT NOT NULL,               -- the DeviceCodeRecord as JSON
    expires_at INTEGER NOT NULL        -- when both codes stop working: then the row goes
);
CREATE INDEX IF NOT EXISTS oauth2_device_codes_expiry ON oauth2_device_codes (expires_at);
