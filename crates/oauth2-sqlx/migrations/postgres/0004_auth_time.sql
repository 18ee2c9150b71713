-- oauth2-sqlx schema 4: when the user logged in for each token's grant (OpenID Connect's auth_time, which a
-- refresh carries into its new id_token). NULL for grants without a login and for tokens stored before.

ALTER TABLE oauth2_tokens ADD COLUMN IF NOT EXISTS auth_time BIGINT;
