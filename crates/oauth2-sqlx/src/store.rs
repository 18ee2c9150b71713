//! The one implementation of the store traits, written once as a macro over a database type and its SQL: both
//! databases run the same steps in the same order, and only the SQL text differs where the dialects do.
//!
//! Every atomic step is one transaction that takes the family's row in `oauth2_grants` first (an upsert or update
//! of it: a row lock in PostgreSQL, the database's write lock in SQLite), then the code or token rows. The one
//! lock order means no deadlock, and a revocation and an issuance of the same family never interleave.

/// The SQL text that differs between the databases.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Begins a writing transaction.
    pub(crate) begin: &'static str,
    /// Takes a family's row ($1 id, $2 client, $3 expiry; creating it if new), moves its expiry out, and returns
    /// whether it is revoked: the lock every atomic step takes first.
    pub(crate) lock_grant: &'static str,
}

/// Implements `ClientStore`, `GrantStore`, `ThrottleStore` and `AccessTokenVerifier` for `$store` (a struct with a
/// `pool: sqlx::Pool<$db>` and a `dialect: &'static Dialect`).
macro_rules! sql_store {
    ($store:ident, $db:ty) => {
        impl $store {
            async fn begin(&self) -> Result<sqlx::Transaction<'static, $db>, StoreError> {
                self.pool.begin_with(self.dialect.begin).await.map_err(failed("begin a transaction"))
            }

            /// Takes the family's row (creating it, not revoked, if it is new), moves its expiry out to `expires`,
            /// and says whether it is revoked.
            async fn lock_grant(
                tx: &mut sqlx::Transaction<'static, $db>,
                dialect: &Dialect,
                grant: &Grant,
                expires: SystemTime,
            ) -> Result<bool, StoreError> {
                sqlx::query_scalar::<_, bool>(dialect.lock_grant)
                    .bind(grant.id.as_bytes().to_vec())
                    .bind(&grant.client_id)
                    .bind(nanos(expires))
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(failed("lock a grant"))
            }

            /// Revokes a family inside `tx`: marked revoked, its tokens deleted, its codes spent.
            async fn revoke_in(tx: &mut sqlx::Transaction<'static, $db>, grant: &GrantId) -> Result<(), StoreError> {
                let id = grant.as_bytes().to_vec();
                sqlx::query(
                    "INSERT INTO oauth2_grants (id, client_id, revoked, expires_max) VALUES ($1, '', TRUE, 0) \
                     ON CONFLICT (id) DO UPDATE SET revoked = TRUE",
                )
                .bind(&id)
                .execute(&mut **tx)
                .await
                .map_err(failed("revoke a grant"))?;
                sqlx::query("DELETE FROM oauth2_tokens WHERE grant_id = $1")
                    .bind(&id)
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("revoke a grant's tokens"))?;
                sqlx::query("UPDATE oauth2_codes SET used = TRUE WHERE grant_id = $1")
                    .bind(&id)
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("revoke a grant's codes"))?;
                Ok(())
            }

            async fn insert_token(
                tx: &mut sqlx::Transaction<'static, $db>,
                (hash, record): &(SecretHash, TokenRecord),
                refresh: bool,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO oauth2_tokens (hash, refresh, grant_id, client_id, subject, scope, issued_at, expires_at, used) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE)",
                )
                .bind(hash.as_bytes().to_vec())
                .bind(refresh)
                .bind(record.grant.id.as_bytes().to_vec())
                .bind(&record.grant.client_id)
                .bind(record.grant.subject.as_deref())
                .bind(record.grant.scope.to_string())
                .bind(nanos(record.issued_at))
                .bind(nanos(record.expires_at))
                .execute(&mut **tx)
                .await
                .map_err(failed("store a token"))?;
                Ok(())
            }

            /// Stores `access` (and `refresh`) in `tx` unless their family is revoked; whether they were stored.
            async fn issue_in(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                access: &(SecretHash, TokenRecord),
                refresh: Option<&(SecretHash, TokenRecord)>,
            ) -> Result<bool, StoreError> {
                let expires = refresh.map_or(access.1.expires_at, |r| r.1.expires_at.max(access.1.expires_at));
                if Self::lock_grant(tx, self.dialect, &access.1.grant, expires).await? {
                    return Ok(false);
                }
                Self::insert_token(tx, access, false).await?;
                if let Some(refresh) = refresh {
                    Self::insert_token(tx, refresh, true).await?;
                }
                Ok(true)
            }

            async fn commit(tx: sqlx::Transaction<'static, $db>) -> Result<(), StoreError> {
                tx.commit().await.map_err(failed("commit"))
            }

            /// Deletes what can no longer be used at `now`, in batches of `batch` rows (each batch its own short
            /// statement, never inside a token request): expired codes and tokens (spent refresh tokens are kept
            /// until they expire, so reuse is still detected), families whose last code or token expired (revoked
            /// ones included: nothing of them can come back), and throttle records whose window and lockout are
            /// over. Returns how many rows went.
            pub async fn purge_expired(&self, now: SystemTime, batch: u32) -> Result<u64, StoreError> {
                let statements = [
                    "DELETE FROM oauth2_tokens WHERE hash IN (SELECT hash FROM oauth2_tokens WHERE expires_at <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_codes WHERE hash IN (SELECT hash FROM oauth2_codes WHERE expires_at <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_grants WHERE id IN (SELECT id FROM oauth2_grants WHERE expires_max <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_throttle WHERE key IN (SELECT key FROM oauth2_throttle WHERE forget_at <= $1 LIMIT $2)",
                ];
                let mut total = 0;
                for sql in statements {
                    loop {
                        let done = sqlx::query(sql)
                            .bind(nanos(now))
                            .bind(i64::from(batch.max(1)))
                            .execute(&self.pool)
                            .await
                            .map_err(failed("purge"))?
                            .rows_affected();
                        total += done;
                        if done < u64::from(batch.max(1)) {
                            break;
                        }
                    }
                }
                Ok(total)
            }

            /// Registers `client`, replacing a client of the same id (its grants stay).
            pub async fn put_client(&self, client: &RegisteredClient) -> Result<(), StoreError> {
                let json = serde_json::to_string(client).map_err(|e| StoreError::with_source("encode a client", e))?;
                sqlx::query(
                    "INSERT INTO oauth2_clients (id, registration) VALUES ($1, $2) \
                     ON CONFLICT (id) DO UPDATE SET registration = excluded.registration",
                )
                .bind(&client.id)
                .bind(json)
                .execute(&self.pool)
                .await
                .map_err(failed("register a client"))?;
                Ok(())
            }

            /// Removes the client `id` and, in the same transaction, revokes every grant of it: its tokens stop
            /// working at once. Whether it was registered.
            pub async fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let removed = Self::remove_in(&mut tx, id).await?;
                Self::commit(tx).await?;
                Ok(removed)
            }

            async fn remove_in(tx: &mut sqlx::Transaction<'static, $db>, id: &str) -> Result<bool, StoreError> {
                let removed = sqlx::query("DELETE FROM oauth2_clients WHERE id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("remove a client"))?
                    .rows_affected();
                sqlx::query("UPDATE oauth2_grants SET revoked = TRUE WHERE client_id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("revoke a client's grants"))?;
                sqlx::query("DELETE FROM oauth2_tokens WHERE client_id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("revoke a client's tokens"))?;
                sqlx::query("UPDATE oauth2_codes SET used = TRUE WHERE client_id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("revoke a client's codes"))?;
                Ok(removed > 0)
            }

            /// Makes the registry exactly `clients`, in one transaction: each is registered (replacing a client of
            /// the same id), and every registered client not among them is removed with its grants. What a
            /// provider does at start with the clients of its configuration.
            pub async fn sync_clients(&self, clients: &[RegisteredClient]) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                let existing: Vec<String> = sqlx::query_scalar("SELECT id FROM oauth2_clients")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(failed("list clients"))?;
                for id in existing.iter().filter(|id| !clients.iter().any(|c| &c.id == *id)) {
                    Self::remove_in(&mut tx, id).await?;
                }
                for client in clients {
                    let json =
                        serde_json::to_string(client).map_err(|e| StoreError::with_source("encode a client", e))?;
                    sqlx::query(
                        "INSERT INTO oauth2_clients (id, registration) VALUES ($1, $2) \
                         ON CONFLICT (id) DO UPDATE SET registration = excluded.registration",
                    )
                    .bind(&client.id)
                    .bind(json)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed("register a client"))?;
                }
                Self::commit(tx).await
            }

            /// Every registered client, by id.
            pub async fn clients(&self) -> Result<Vec<RegisteredClient>, StoreError> {
                let rows: Vec<String> = sqlx::query_scalar("SELECT registration FROM oauth2_clients ORDER BY id")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(failed("list clients"))?;
                rows.iter()
                    .map(|json| serde_json::from_str(json).map_err(|e| StoreError::with_source("decode a client", e)))
                    .collect()
            }

            /// Whether the database answers (for a health check), within the pool's acquire timeout.
            pub async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(failed("ping")).map(drop)
            }

            /// The pool, for an app's own queries.
            pub fn pool(&self) -> &sqlx::Pool<$db> {
                &self.pool
            }

            async fn token_row(&self, hash: &SecretHash, refresh: bool) -> Result<Option<(TokenRecord, bool)>, StoreError> {
                let row = sqlx::query(
                    "SELECT grant_id, client_id, subject, scope, issued_at, expires_at, used FROM oauth2_tokens \
                     WHERE hash = $1 AND refresh = $2",
                )
                .bind(hash.as_bytes().to_vec())
                .bind(refresh)
                .fetch_optional(&self.pool)
                .await
                .map_err(failed("read a token"))?;
                row.map(|row| {
                    let record = TokenRecord {
                        grant: Grant {
                            id: grant_id(&get::<Vec<u8>, _>(&row, 0)?)?,
                            client_id: get(&row, 1)?,
                            subject: get(&row, 2)?,
                            scope: Scope::parse(&get::<String, _>(&row, 3)?),
                        },
                        issued_at: time(get(&row, 4)?),
                        expires_at: time(get(&row, 5)?),
                    };
                    Ok((record, get(&row, 6)?))
                })
                .transpose()
            }
        }

        impl ClientStore for $store {
            async fn client(&self, id: &str) -> Result<Option<Arc<RegisteredClient>>, StoreError> {
                let json: Option<String> = sqlx::query_scalar("SELECT registration FROM oauth2_clients WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(failed("read a client"))?;
                json.map(|j| serde_json::from_str(&j).map(Arc::new).map_err(|e| StoreError::with_source("decode a client", e)))
                    .transpose()
            }
        }

        impl GrantStore for $store {
            async fn store_code(&self, code: SecretHash, record: CodeRecord) -> Result<(), StoreError> {
                let json = serde_json::to_string(&record).map_err(|e| StoreError::with_source("encode a code", e))?;
                let mut tx = self.begin().await?;
                let revoked = Self::lock_grant(&mut tx, self.dialect, &record.grant, record.expires_at).await?;
                sqlx::query(
                    "INSERT INTO oauth2_codes (hash, grant_id, client_id, record, used, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(code.as_bytes().to_vec())
                .bind(record.grant.id.as_bytes().to_vec())
                .bind(&record.grant.client_id)
                .bind(json)
                .bind(revoked)
                .bind(nanos(record.expires_at))
                .execute(&mut *tx)
                .await
                .map_err(failed("store a code"))?;
                Self::commit(tx).await
            }

            async fn redeem_code(
                &self,
                code: &SecretHash,
                access: (SecretHash, TokenRecord),
                refresh: Option<(SecretHash, TokenRecord)>,
            ) -> Result<CodeUse, StoreError> {
                let mut tx = self.begin().await?;
                let hash = code.as_bytes().to_vec();
                let grant: Option<Vec<u8>> = sqlx::query_scalar("SELECT grant_id FROM oauth2_codes WHERE hash = $1")
                    .bind(&hash)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(failed("read a code"))?;
                let Some(grant) = grant else { return Ok(CodeUse::Unknown) };
                let grant = grant_id(&grant)?;
                // The family first (the lock order), then the code: exactly one redemption finds it unused.
                let expires = refresh.as_ref().map_or(access.1.expires_at, |r| r.1.expires_at.max(access.1.expires_at));
                let revoked = Self::lock_grant(&mut tx, self.dialect, &access.1.grant, expires).await?;
                let fresh: Option<String> = sqlx::query_scalar(
                    "UPDATE oauth2_codes SET used = TRUE WHERE hash = $1 AND used = FALSE RETURNING record",
                )
                .bind(&hash)
                .fetch_optional(&mut *tx)
                .await
                .map_err(failed("spend a code"))?;
                match fresh {
                    Some(record) if !revoked => {
                        let record: CodeRecord =
                            serde_json::from_str(&record).map_err(|e| StoreError::with_source("decode a code", e))?;
                        Self::insert_token(&mut tx, &access, false).await?;
                        if let Some(refresh) = &refresh {
                            Self::insert_token(&mut tx, refresh, true).await?;
                        }
                        Self::commit(tx).await?;
                        Ok(CodeUse::Fresh(record))
                    }
                    _ => {
                        // A replay: the family is revoked in this same transaction (RFC 6749 §4.1.2).
                        Self::revoke_in(&mut tx, &grant).await?;
                        Self::commit(tx).await?;
                        Ok(CodeUse::Replayed(grant))
                    }
                }
            }

            async fn code(&self, code: &SecretHash) -> Result<Option<(CodeRecord, bool)>, StoreError> {
                let row = sqlx::query("SELECT record, used FROM oauth2_codes WHERE hash = $1")
                    .bind(code.as_bytes().to_vec())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(failed("read a code"))?;
                row.map(|row| {
                    let record: CodeRecord = serde_json::from_str(&get::<String, _>(&row, 0)?)
                        .map_err(|e| StoreError::with_source("decode a code", e))?;
                    Ok((record, get(&row, 1)?))
                })
                .transpose()
            }

            async fn store_tokens(
                &self,
                access: (SecretHash, TokenRecord),
                refresh: Option<(SecretHash, TokenRecord)>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let stored = self.issue_in(&mut tx, &access, refresh.as_ref()).await?;
                Self::commit(tx).await?;
                Ok(stored)
            }

            async fn refresh_token(&self, token: &SecretHash) -> Result<Option<(TokenRecord, bool)>, StoreError> {
                self.token_row(token, true).await
            }

            async fn rotate_refresh(
                &self,
                old: &SecretHash,
                access: (SecretHash, TokenRecord),
                refresh: (SecretHash, TokenRecord),
            ) -> Result<Rotation, StoreError> {
                let mut tx = self.begin().await?;
                let hash = old.as_bytes().to_vec();
                let grant: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT grant_id FROM oauth2_tokens WHERE hash = $1 AND refresh = TRUE")
                        .bind(&hash)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(failed("read a refresh token"))?;
                let Some(grant) = grant else { return Ok(Rotation::Unknown) };
                let grant = grant_id(&grant)?;
                let expires = refresh.1.expires_at.max(access.1.expires_at);
                if Self::lock_grant(&mut tx, self.dialect, &access.1.grant, expires).await? {
                    return Ok(Rotation::Unknown);
                }
                let spent = sqlx::query(
                    "UPDATE oauth2_tokens SET used = TRUE WHERE hash = $1 AND refresh = TRUE AND used = FALSE",
                )
                .bind(&hash)
                .execute(&mut *tx)
                .await
                .map_err(failed("spend a refresh token"))?
                .rows_affected();
                match spent {
                    1 => {
                        Self::insert_token(&mut tx, &access, false).await?;
                        Self::insert_token(&mut tx, &refresh, true).await?;
                        Self::commit(tx).await?;
                        Ok(Rotation::Rotated)
                    }
                    0 => {
                        // Spent before: a reuse, and the family goes in this same transaction (RFC 9700 §4.14.2).
                        // (A token deleted by a revocation since the first read is gone too: unknown.)
                        let still_there: Option<bool> =
                            sqlx::query_scalar("SELECT used FROM oauth2_tokens WHERE hash = $1 AND refresh = TRUE")
                                .bind(&hash)
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(failed("read a refresh token"))?;
                        if still_there.is_none() {
                            return Ok(Rotation::Unknown);
                        }
                        Self::revoke_in(&mut tx, &grant).await?;
                        Self::commit(tx).await?;
                        Ok(Rotation::Reused(grant))
                    }
                    _ => Err(StoreError::new("a refresh token hash matched more than one row")),
                }
            }

            async fn access_token(&self, token: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
                Ok(self.token_row(token, false).await?.map(|(record, _)| record))
            }

            async fn revoke_access_token(&self, token: &SecretHash) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM oauth2_tokens WHERE hash = $1 AND refresh = FALSE")
                    .bind(token.as_bytes().to_vec())
                    .execute(&self.pool)
                    .await
                    .map_err(failed("revoke a token"))?;
                Ok(())
            }

            async fn revoke_grant(&self, grant: &GrantId) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                Self::revoke_in(&mut tx, grant).await?;
                Self::commit(tx).await
            }
        }

        impl ThrottleStore for $store {
            async fn record_attempt(
                &self,
                key: &SecretHash,
                now: SystemTime,
                policy: &ThrottlePolicy,
            ) -> Result<Attempts, StoreError> {
                let mut tx = self.begin().await?;
                // The upsert takes the key's row, so concurrent attempts are applied one after the other.
                let row = sqlx::query(
                    "INSERT INTO oauth2_throttle (key, count, window_start, locked_until, forget_at) VALUES ($1, 0, NULL, NULL, 0) \
                     ON CONFLICT (key) DO UPDATE SET count = oauth2_throttle.count RETURNING count, window_start, locked_until",
                )
                .bind(key.as_bytes().to_vec())
                .fetch_one(&mut *tx)
                .await
                .map_err(failed("read attempts"))?;
                let before = Attempts {
                    count: u32::try_from(get::<i64, _>(&row, 0)?).unwrap_or(u32::MAX),
                    window_start: get::<Option<i64>, _>(&row, 1)?.map(time),
                    locked_until: get::<Option<i64>, _>(&row, 2)?.map(time),
                };
                let after = before.after_attempt(now, policy);
                let window_end = after.window_start.map(|s| s + policy.window);
                let forget = window_end.into_iter().chain(after.locked_until).max().unwrap_or(now);
                sqlx::query(
                    "UPDATE oauth2_throttle SET count = $2, window_start = $3, locked_until = $4, forget_at = $5 WHERE key = $1",
                )
                .bind(key.as_bytes().to_vec())
                .bind(i64::from(after.count))
                .bind(after.window_start.map(nanos))
                .bind(after.locked_until.map(nanos))
                .bind(nanos(forget))
                .execute(&mut *tx)
                .await
                .map_err(failed("record an attempt"))?;
                Self::commit(tx).await?;
                Ok(after)
            }

            async fn clear_attempts(&self, key: &SecretHash) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM oauth2_throttle WHERE key = $1")
                    .bind(key.as_bytes().to_vec())
                    .execute(&self.pool)
                    .await
                    .map_err(failed("clear attempts"))?;
                Ok(())
            }
        }

        impl Maintenance for $store {
            async fn purge(&self, now: SystemTime) -> Result<u64, StoreError> {
                self.purge_expired(now, 1000).await
            }

            async fn ping(&self) -> Result<(), StoreError> {
                $store::ping(self).await
            }
        }

        impl AccessTokenVerifier for $store {
            async fn verify(&self, token: &BearerToken<'_>, _now: SystemTime) -> Result<Option<AccessGrant>, StoreError> {
                Ok(self.access_token(&token.hash()).await?.map(TokenRecord::into_access_grant))
            }
        }
    };
}

pub(crate) use sql_store;
