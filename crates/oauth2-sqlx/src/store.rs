//! The one implementation of the store traits, written once as a macro over a database type and its SQL: both
//! databases run the same steps in the same order, and only the SQL text differs where the dialects do.
//!
//! Every atomic step is one transaction that takes the family's row in `oauth2_grants` first (an upsert or update
//! of it: a row lock in PostgreSQL, the database's write lock in SQLite), then the code or token rows. The one
//! lock order means no deadlock, and a revocation and an issuance of the same family never interleave.
//!
//! New tokens of fresh issuances (`store_tokens`: client credentials, password) are written in groups: a task per
//! store takes every issuance waiting (up to [`MAX_BATCH`]) and stores them with one statement, so concurrent
//! requests share its round trip and its commit (one statement: 32 statement shapes at most, each prepared once
//! per connection). A transaction that revokes or changes a client also writes the change to the feed the caches read
//! (`crate::cache`).

use crate::common::*;

/// The SQL text that differs between the databases.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Begins a writing transaction.
    pub(crate) begin: &'static str,
    /// Takes a family's row ($1 id, $2 client, $3 expiry; creating it if new), moves its expiry out, and returns
    /// whether it is revoked: the lock every atomic step takes first.
    pub(crate) lock_grant: &'static str,
    /// The rest of the one statement that stores a batch of fresh issuances, after `WITH v (hash, refresh,
    /// grant_id, client_id, subject, scope, issued_at, expires_at) AS (VALUES ...)`: inserts the rows of `v` whose
    /// family is not revoked and returns their hashes.
    pub(crate) issue: &'static str,
    /// How many batches of issuances are written at once: 1 where there is one writer (SQLite), more where
    /// writers run side by side.
    pub(crate) writers: usize,
    /// Copies a write-ahead log back into the database, every [`CHECKPOINT_EVERY`], where the database leaves that
    /// to its connections (SQLite).
    pub(crate) checkpoint: Option<&'static str>,
    /// Reads the feed from position $1, at most $2 rows: each row is (the position the next poll reads from, seq,
    /// grant id, client id, token hash), and a row of NULLs after the first column when nothing is new.
    pub(crate) changes: &'static str,
}

/// Which row a token lookup wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// An access token, for introspection (only its own client may introspect it, so its client is registered).
    Access,
    /// A refresh token.
    Refresh,
    /// An access token, for the resource server: only while its client is registered.
    Resource,
}

/// How often [`Dialect::checkpoint`] runs.
pub(crate) const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Issuances stored in one statement at most.
pub(crate) const MAX_BATCH: usize = 32;

/// A fresh issuance waiting for the writer task, and where its answer goes.
#[derive(Debug)]
pub(crate) struct Issue {
    pub(crate) access: (SecretHash, TokenRecord),
    pub(crate) refresh: Option<(SecretHash, TokenRecord)>,
    pub(crate) reply: tokio::sync::oneshot::Sender<Result<bool, StoreError>>,
}

/// A device authorization's record column.
pub(crate) fn encode_device(record: &DeviceCodeRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::with_source("encode a device code", e))
}

pub(crate) fn decode_device(json: &str) -> Result<DeviceCodeRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::with_source("decode a device code", e))
}

/// The feed's row for a change of `what`.
pub(crate) fn change(grant: Option<GrantId>, client: Option<&str>, token: Option<&SecretHash>) -> Change {
    Change { seq: 0, grant, client: client.map(str::to_owned), token: token.map(|t| *t.as_bytes()) }
}

/// Implements `ClientStore`, `GrantStore`, `ThrottleStore` and `AccessTokenVerifier` for `$store` (a struct with a
/// `pool: sqlx::Pool<$db>` for reads, a `writer: sqlx::Pool<$db>` for writes, a `dialect: &'static Dialect`, a
/// `cache: Arc<Cache>`, an `issuer: tokio::sync::mpsc::Sender<Issue>` served by `issue_batches`, and `handles:
/// Arc<()>`).
macro_rules! sql_store {
    ($store:ident, $db:ty) => {
        impl $store {
            /// The parts every constructor shares, with the writer task started on the current runtime.
            fn assemble(pool: sqlx::Pool<$db>, writer: sqlx::Pool<$db>, dialect: &'static Dialect) -> Self {
                let (issuer, queue) = tokio::sync::mpsc::channel(1024);
                tokio::spawn(Self::issue_batches(writer.clone(), dialect, queue));
                let cache = Arc::new(Cache::new(DEFAULT_CACHED_TOKENS));
                let store = Self { pool, writer, dialect, cache, issuer, handles: Arc::new(()) };
                if let Some(checkpoint) = dialect.checkpoint {
                    tokio::spawn(Self::checkpoints(store.pool.clone(), checkpoint, Arc::downgrade(&store.handles)));
                }
                store
            }

            /// Runs `checkpoint` every [`CHECKPOINT_EVERY`] until the last handle of the store is gone.
            async fn checkpoints(pool: sqlx::Pool<$db>, checkpoint: &'static str, alive: std::sync::Weak<()>) {
                while alive.strong_count() > 0 {
                    tokio::time::sleep(CHECKPOINT_EVERY).await;
                    let _ = sqlx::query(checkpoint).execute(&pool).await;
                }
            }

            /// Caches at most `capacity` verified access tokens (and the registered clients) in this instance, in
            /// front of the database; 0 turns the cache off. A revocation or client change made through any
            /// instance on the database takes effect at every instance within one second: see the
            /// [crate docs](crate#caching). The default is [`DEFAULT_CACHED_TOKENS`].
            pub fn with_token_cache(mut self, capacity: usize) -> Self {
                self.cache = Arc::new(Cache::new(capacity));
                self
            }

            /// The writer task: stores the issuances waiting, up to [`MAX_BATCH`] at a time with one statement
            /// each, up to `dialect.writers` statements at once, until every handle of the store is gone. While
            /// the statements are busy, issuances queue, so a slower database gets bigger batches. A request
            /// dropped while it waits leaves its issuance to be stored (its tokens were never sent; they expire).
            async fn issue_batches(
                writer: sqlx::Pool<$db>,
                dialect: &'static Dialect,
                mut queue: tokio::sync::mpsc::Receiver<Issue>,
            ) {
                let slots = Arc::new(tokio::sync::Semaphore::new(dialect.writers));
                loop {
                    let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
                    let mut batch = Vec::with_capacity(MAX_BATCH);
                    if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
                        return;
                    }
                    let writer = writer.clone();
                    tokio::spawn(async move {
                        let outcome = Self::store_batch(&writer, dialect, &batch).await;
                        drop(slot);
                        match outcome {
                            Ok(stored) => {
                                for (issue, stored) in batch.into_iter().zip(stored) {
                                    let _ = issue.reply.send(Ok(stored));
                                }
                            }
                            Err(e) => {
                                let e = Arc::new(e);
                                for issue in batch {
                                    let _ = issue.reply.send(Err(StoreError::with_source("cannot store tokens", Arc::clone(&e))));
                                }
                            }
                        }
                    });
                }
            }

            /// Stores `batch` in one statement (atomic by itself; one round trip): the tokens of every issuance
            /// whose family is not revoked (see [`Dialect::issue`]). Whether each issuance was stored.
            async fn store_batch(
                writer: &sqlx::Pool<$db>,
                dialect: &'static Dialect,
                batch: &[Issue],
            ) -> Result<Vec<bool>, sqlx::Error> {
                let tokens = batch.iter().flat_map(|i| std::iter::once((&i.access, false)).chain(i.refresh.as_ref().map(|r| (r, true))));
                let mut sql = sqlx::QueryBuilder::<$db>::new(
                    "WITH v (hash, refresh, grant_id, client_id, subject, scope, issued_at, expires_at, auth_time, resources, jkt) AS (",
                );
                sql.push_values(tokens, |mut row, ((hash, record), refresh)| {
                    row.push_bind(hash.as_bytes().to_vec())
                        .push_bind(refresh)
                        .push_bind(record.grant.id.as_bytes().to_vec())
                        .push_bind(record.grant.client_id.clone())
                        .push_bind(record.grant.subject.clone())
                        .push_bind(record.grant.scope.to_string())
                        .push_bind(nanos(record.issued_at))
                        .push_bind(nanos(record.expires_at))
                        .push_bind(record.grant.auth_time.map(nanos))
                        .push_bind(resources_column(&record.grant.resources))
                        .push_bind(record.grant.jkt.clone());
                });
                sql.push(") ").push(dialect.issue);
                let stored: Vec<Vec<u8>> = sql.build_query_scalar().fetch_all(writer).await?;
                Ok(batch.iter().map(|i| stored.iter().any(|h| h[..] == i.access.0.as_bytes()[..])).collect())
            }

            /// Whether the cache may answer now; starts a poll of the feed in the background when one is due.
            fn cache_usable(&self) -> bool {
                let now = std::time::Instant::now();
                if let Some(turn) = self.cache.poll_turn(now) {
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        runtime.spawn(Self::poll(self.pool.clone(), self.dialect, turn));
                    }
                }
                self.cache.usable(now)
            }

            /// Reads the feed once and applies it to the cache.
            async fn poll(pool: sqlx::Pool<$db>, dialect: &'static Dialect, turn: PollTurn) {
                let started = std::time::Instant::now();
                let cache = turn.cache();
                let limit = i64::try_from(POLL_LIMIT + 1).unwrap_or(i64::MAX);
                let Ok(rows) = sqlx::query(dialect.changes).bind(cache.position()).bind(limit).fetch_all(&pool).await else {
                    return;
                };
                let decoded: Result<(i64, Vec<Change>), sqlx::Error> = (|| {
                    let mut position = cache.position();
                    let mut changes = Vec::with_capacity(rows.len());
                    for row in &rows {
                        position = sqlx::Row::try_get(row, 0)?;
                        let Some(seq) = sqlx::Row::try_get::<Option<i64>, _>(row, 1)? else { continue };
                        let grant = sqlx::Row::try_get::<Option<Vec<u8>>, _>(row, 2)?;
                        let token = sqlx::Row::try_get::<Option<Vec<u8>>, _>(row, 4)?;
                        changes.push(Change {
                            seq,
                            grant: grant.and_then(|g| <[u8; 16]>::try_from(g).ok()).map(GrantId::from_bytes),
                            client: sqlx::Row::try_get(row, 3)?,
                            token: token.and_then(|t| <[u8; 32]>::try_from(t).ok()),
                        });
                    }
                    Ok((position, changes))
                })();
                if let Ok((position, changes)) = decoded {
                    cache.apply(started, position, &changes, changes.len() > POLL_LIMIT);
                }
            }

            /// What the access token `hash` grants: from the cache while it may answer, else from the database
            /// (then cached). Expiry is the caller's to check.
            async fn grant_of(&self, hash: &SecretHash, now: SystemTime) -> Result<Option<AccessGrant>, StoreError> {
                let usable = self.cache_usable();
                if usable && let Some(grant) = self.cache.token(hash.as_bytes()) {
                    return Ok(Some(grant));
                }
                let generation = self.cache.generation();
                let Some((record, _)) = self.token_row(hash, Side::Resource).await? else { return Ok(None) };
                let family = record.grant.id;
                let grant = record.into_access_grant();
                if usable {
                    self.cache.fill_token(generation, *hash.as_bytes(), grant.clone(), family, now);
                }
                Ok(Some(grant))
            }

            /// Writes `change` to the feed inside `tx`.
            async fn log_change(tx: &mut sqlx::Transaction<'static, $db>, change: &Change) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO oauth2_changes (grant_id, client_id, token_hash, at) VALUES ($1, $2, $3, $4)")
                    .bind(change.grant.map(|g| g.as_bytes().to_vec()))
                    .bind(change.client.as_deref())
                    .bind(change.token.map(|t| t.to_vec()))
                    .bind(nanos(SystemTime::now()))
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("record a change"))?;
                Ok(())
            }

            async fn begin(&self) -> Result<sqlx::Transaction<'static, $db>, StoreError> {
                self.writer.begin_with(self.dialect.begin).await.map_err(failed("begin a transaction"))
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

            /// Revokes a family inside `tx`: marked revoked, its tokens deleted, its codes spent, the change in the
            /// feed. Returns the change, for the caller to evict once committed.
            async fn revoke_in(tx: &mut sqlx::Transaction<'static, $db>, grant: &GrantId) -> Result<Change, StoreError> {
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
                let change = change(Some(*grant), None, None);
                Self::log_change(tx, &change).await?;
                Ok(change)
            }

            /// Inserts `key` as its algorithm's current key; `if_absent`: unless the algorithm has one (the partial
            /// unique index makes that a conflict, and the insert does nothing), else a conflict is an error.
            async fn insert_key(
                tx: &mut sqlx::Transaction<'static, $db>,
                key: &KeyRecord,
                if_absent: bool,
            ) -> Result<(), StoreError> {
                let sql = if if_absent {
                    "INSERT INTO oauth2_signing_keys (kid, algorithm, private_key, created_at, retired_until) \
                     VALUES ($1, $2, $3, $4, NULL) ON CONFLICT DO NOTHING"
                } else {
                    "INSERT INTO oauth2_signing_keys (kid, algorithm, private_key, created_at, retired_until) \
                     VALUES ($1, $2, $3, $4, NULL)"
                };
                sqlx::query(sql)
                    .bind(&key.kid)
                    .bind(&key.algorithm)
                    .bind(&key.private_key)
                    .bind(nanos(key.created_at))
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("store a signing key"))?;
                Ok(())
            }

            async fn insert_token(
                tx: &mut sqlx::Transaction<'static, $db>,
                (hash, record): &(SecretHash, TokenRecord),
                refresh: bool,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO oauth2_tokens (hash, refresh, grant_id, client_id, subject, scope, issued_at, expires_at, used, auth_time, resources, jkt) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9, $10, $11)",
                )
                .bind(hash.as_bytes().to_vec())
                .bind(refresh)
                .bind(record.grant.id.as_bytes().to_vec())
                .bind(&record.grant.client_id)
                .bind(record.grant.subject.as_deref())
                .bind(record.grant.scope.to_string())
                .bind(nanos(record.issued_at))
                .bind(nanos(record.expires_at))
                .bind(record.grant.auth_time.map(nanos))
                .bind(resources_column(&record.grant.resources))
                .bind(record.grant.jkt.as_deref())
                .execute(&mut **tx)
                .await
                .map_err(failed("store a token"))?;
                Ok(())
            }

            /// Commits `tx`, then evicts what `changes` made stale from this instance's cache (the feed brings them
            /// to the others).
            async fn commit(&self, tx: sqlx::Transaction<'static, $db>, changes: &[Change]) -> Result<(), StoreError> {
                tx.commit().await.map_err(failed("commit"))?;
                if !changes.is_empty() {
                    self.cache.evict(changes.iter());
                }
                Ok(())
            }

            /// Deletes what can no longer be used at `now`, in batches of `batch` rows (each batch its own short
            /// statement, never inside a token request): expired codes and tokens (spent refresh tokens are kept
            /// until they expire, so reuse is still detected), families whose last code or token expired (revoked
            /// ones included: nothing of them can come back), expired device authorizations, pushed
            /// authorization requests and DPoP proofs, and throttle records whose window and lockout are over, and rows of the change feed older than its retention (ten minutes by this host's clock, as the
            /// rows were stamped: not by `now`, which may be a test's). Returns how many rows went.
            pub async fn purge_expired(&self, now: SystemTime, batch: u32) -> Result<u64, StoreError> {
                let statements = [
                    "DELETE FROM oauth2_tokens WHERE hash IN (SELECT hash FROM oauth2_tokens WHERE expires_at <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_codes WHERE hash IN (SELECT hash FROM oauth2_codes WHERE expires_at <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_grants WHERE id IN (SELECT id FROM oauth2_grants WHERE expires_max <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_throttle WHERE key IN (SELECT key FROM oauth2_throttle WHERE forget_at <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_signing_keys WHERE kid IN \
                     (SELECT kid FROM oauth2_signing_keys WHERE retired_until <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_denied_tokens WHERE jti IN \
                     (SELECT jti FROM oauth2_denied_tokens WHERE expires_at <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_device_codes WHERE hash IN \
                     (SELECT hash FROM oauth2_device_codes WHERE expires_at <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_pushed_requests WHERE hash IN \
                     (SELECT hash FROM oauth2_pushed_requests WHERE expires_at <= $1 LIMIT $2)",
                    "DELETE FROM oauth2_dpop_proofs WHERE id IN \
                     (SELECT id FROM oauth2_dpop_proofs WHERE expires_at <= $1 LIMIT $2)",
                ];
                let mut total = 0;
                let forget_changes = nanos(SystemTime::now().checked_sub(RETENTION).unwrap_or(UNIX_EPOCH));
                let changes = "DELETE FROM oauth2_changes WHERE seq IN (SELECT seq FROM oauth2_changes WHERE at <= $1 LIMIT $2)";
                for (sql, before) in statements.into_iter().map(|s| (s, nanos(now))).chain([(changes, forget_changes)]) {
                    loop {
                        let done = sqlx::query(sql)
                            .bind(before)
                            .bind(i64::from(batch.max(1)))
                            .execute(&self.writer)
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
                let mut tx = self.begin().await?;
                let change = Self::put_in(&mut tx, client).await?;
                self.commit(tx, &[change]).await
            }

            async fn put_in(tx: &mut sqlx::Transaction<'static, $db>, client: &RegisteredClient) -> Result<Change, StoreError> {
                let json = serde_json::to_string(client).map_err(|e| StoreError::with_source("encode a client", e))?;
                sqlx::query(
                    "INSERT INTO oauth2_clients (id, registration) VALUES ($1, $2) \
                     ON CONFLICT (id) DO UPDATE SET registration = excluded.registration",
                )
                .bind(&client.id)
                .bind(json)
                .execute(&mut **tx)
                .await
                .map_err(failed("register a client"))?;
                let change = change(None, Some(&client.id), None);
                Self::log_change(tx, &change).await?;
                Ok(change)
            }

            /// Removes the client `id` and, in the same transaction, revokes every grant of it: its tokens stop
            /// working at once. Whether it was registered.
            pub async fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let removed = Self::remove_in(&mut tx, id).await?;
                self.commit(tx, &[change(None, Some(id), None)]).await?;
                Ok(removed)
            }

            /// Removes client `id` inside `tx`, with the change in the feed.
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
                sqlx::query("DELETE FROM oauth2_tokens WHERE grant_id IN (SELECT id FROM oauth2_grants WHERE client_id = $1)")
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("revoke a client's tokens"))?;
                sqlx::query("UPDATE oauth2_codes SET used = TRUE WHERE client_id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("revoke a client's codes"))?;
                Self::log_change(tx, &change(None, Some(id), None)).await?;
                Ok(removed > 0)
            }

            /// Makes the registry exactly `clients`, in one transaction: each is registered (replacing a client of
            /// the same id), and every registered client not among them is removed with its grants. What a
            /// provider does at start with the clients of its configuration: a client registered as it was is left
            /// alone (no change in the feed, so instances starting keep the others' caches).
            pub async fn sync_clients(&self, clients: &[RegisteredClient]) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                let existing: Vec<(String, String)> = sqlx::query_as("SELECT id, registration FROM oauth2_clients")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(failed("list clients"))?;
                let mut changes = Vec::new();
                for (id, _) in existing.iter().filter(|(id, _)| !clients.iter().any(|c| &c.id == id)) {
                    Self::remove_in(&mut tx, id).await?;
                    changes.push(change(None, Some(id), None));
                }
                for client in clients {
                    let json = serde_json::to_string(client).map_err(|e| StoreError::with_source("encode a client", e))?;
                    if !existing.iter().any(|(id, registration)| *id == client.id && *registration == json) {
                        changes.push(Self::put_in(&mut tx, client).await?);
                    }
                }
                self.commit(tx, &changes).await
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

            async fn token_row(&self, hash: &SecretHash, side: Side) -> Result<Option<(TokenRecord, bool)>, StoreError> {
                let sql = match side {
                    Side::Access | Side::Refresh => {
                        "SELECT grant_id, client_id, subject, scope, issued_at, expires_at, used, auth_time, resources, jkt FROM oauth2_tokens \
                         WHERE hash = $1 AND refresh = $2"
                    }
                    // Only while its client is registered: an issuance racing its client's removal (or one made
                    // through an instance whose cache still had the client) leaves a token nothing accepts.
                    Side::Resource => {
                        "SELECT t.grant_id, t.client_id, t.subject, t.scope, t.issued_at, t.expires_at, t.used, t.auth_time, t.resources, t.jkt \
                         FROM oauth2_tokens t JOIN oauth2_clients c ON c.id = t.client_id \
                         WHERE t.hash = $1 AND t.refresh = $2"
                    }
                };
                let row = sqlx::query(sql)
                .bind(hash.as_bytes().to_vec())
                .bind(side == Side::Refresh)
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
                            auth_time: get::<Option<i64>, _>(&row, 7)?.map(time),
                            resources: get::<Option<String>, _>(&row, 8)?
                                .map(|r| r.split(' ').filter(|r| !r.is_empty()).map(str::to_owned).collect())
                                .unwrap_or_default(),
                            jkt: get(&row, 9)?,
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
                let usable = self.cache_usable();
                if usable && let Some(client) = self.cache.client(id) {
                    return Ok(Some(client));
                }
                let generation = self.cache.generation();
                let json: Option<String> = sqlx::query_scalar("SELECT registration FROM oauth2_clients WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(failed("read a client"))?;
                let client = json
                    .map(|j| serde_json::from_str(&j).map(Arc::new).map_err(|e| StoreError::with_source("decode a client", e)))
                    .transpose()?;
                if let (true, Some(client)) = (usable, &client) {
                    self.cache.fill_client(generation, Arc::clone(client));
                }
                Ok(client)
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
                self.commit(tx, &[]).await
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
                        self.commit(tx, &[]).await?;
                        Ok(CodeUse::Fresh(record))
                    }
                    _ => {
                        // A replay: the family is revoked in this same transaction (RFC 6749 §4.1.2).
                        let change = Self::revoke_in(&mut tx, &grant).await?;
                        self.commit(tx, &[change]).await?;
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
                // To the writer task, which stores it with the issuances waiting beside it in one transaction.
                let (reply, answer) = tokio::sync::oneshot::channel();
                let stopped = || StoreError::new("the store's writer task has stopped (its runtime ended)");
                self.issuer.send(Issue { access, refresh, reply }).await.map_err(|_| stopped())?;
                answer.await.map_err(|_| stopped())?
            }

            async fn refresh_token(&self, token: &SecretHash) -> Result<Option<(TokenRecord, bool)>, StoreError> {
                self.token_row(token, Side::Refresh).await
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
                        self.commit(tx, &[]).await?;
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
                        let change = Self::revoke_in(&mut tx, &grant).await?;
                        self.commit(tx, &[change]).await?;
                        Ok(Rotation::Reused(grant))
                    }
                    _ => Err(StoreError::new("a refresh token hash matched more than one row")),
                }
            }

            async fn access_token(&self, token: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
                Ok(self.token_row(token, Side::Access).await?.map(|(record, _)| record))
            }

            /// The resource server's check goes through the cache; introspection (`access_token`) always asks the
            /// database.
            async fn access_grant(&self, token: &SecretHash) -> Result<Option<AccessGrant>, StoreError> {
                self.grant_of(token, SystemTime::now()).await
            }

            async fn revoke_access_token(&self, token: &SecretHash) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query("DELETE FROM oauth2_tokens WHERE hash = $1 AND refresh = FALSE")
                    .bind(token.as_bytes().to_vec())
                    .execute(&mut *tx)
                    .await
                    .map_err(failed("revoke a token"))?;
                let change = change(None, None, Some(token));
                Self::log_change(&mut tx, &change).await?;
                self.commit(tx, &[change]).await
            }

            async fn revoke_grant(&self, grant: &GrantId) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                let change = Self::revoke_in(&mut tx, grant).await?;
                self.commit(tx, &[change]).await
            }

            /// One row; nothing is cached of it, so every instance sees it at its next lookup.
            async fn deny_token(&self, jti: &SecretHash, expires_at: SystemTime) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO oauth2_denied_tokens (jti, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at",
                )
                .bind(jti.as_bytes().to_vec())
                .bind(nanos(expires_at))
                .execute(&self.writer)
                .await
                .map_err(failed("deny a token"))?;
                Ok(())
            }

            async fn token_denied(&self, jti: &SecretHash) -> Result<bool, StoreError> {
                let row = sqlx::query("SELECT 1 FROM oauth2_denied_tokens WHERE jti = $1")
                    .bind(jti.as_bytes().to_vec())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(failed("read the deny-list"))?;
                Ok(row.is_some())
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
                self.commit(tx, &[]).await?;
                Ok(after)
            }

            async fn clear_attempts(&self, key: &SecretHash) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM oauth2_throttle WHERE key = $1")
                    .bind(key.as_bytes().to_vec())
                    .execute(&self.writer)
                    .await
                    .map_err(failed("clear attempts"))?;
                Ok(())
            }
        }

        impl KeyStore for $store {
            async fn signing_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT kid, algorithm, private_key, created_at, retired_until FROM oauth2_signing_keys \
                     ORDER BY created_at DESC, kid DESC",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(failed("read the signing keys"))?;
                rows.iter()
                    .map(|row| {
                        Ok(KeyRecord {
                            kid: get(row, 0)?,
                            algorithm: get(row, 1)?,
                            private_key: get(row, 2)?,
                            created_at: time(get(row, 3)?),
                            retired_until: get::<Option<i64>, _>(row, 4)?.map(time),
                        })
                    })
                    .collect()
            }

            async fn create_signing_key(&self, key: KeyRecord) -> Result<KeyRecord, StoreError> {
                let mut tx = self.begin().await?;
                // The partial unique index on (algorithm) WHERE retired_until IS NULL makes a second current key of
                // an algorithm a conflict: the first instance's insert wins, the others insert nothing.
                Self::insert_key(&mut tx, &key, true).await?;
                let row = sqlx::query(
                    "SELECT kid, private_key, created_at FROM oauth2_signing_keys \
                     WHERE algorithm = $1 AND retired_until IS NULL",
                )
                .bind(&key.algorithm)
                .fetch_optional(&mut *tx)
                .await
                .map_err(failed("read the current signing key"))?
                .ok_or_else(|| StoreError::new("a signing key with this kid exists"))?;
                let current = KeyRecord {
                    kid: get(&row, 0)?,
                    algorithm: key.algorithm,
                    private_key: get(&row, 1)?,
                    created_at: time(get(&row, 2)?),
                    retired_until: None,
                };
                self.commit(tx, &[]).await?;
                Ok(current)
            }

            async fn rotate_signing_key(&self, key: KeyRecord, retired_until: SystemTime) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "UPDATE oauth2_signing_keys SET retired_until = $2 WHERE algorithm = $1 AND retired_until IS NULL",
                )
                .bind(&key.algorithm)
                .bind(nanos(retired_until))
                .execute(&mut *tx)
                .await
                .map_err(failed("retire a signing key"))?;
                Self::insert_key(&mut tx, &key, false).await?;
                self.commit(tx, &[]).await
            }
        }

        impl $store {
            /// Takes the row of a device code inside `tx` (a no-op update: a row lock in PostgreSQL; SQLite's
            /// transaction holds the write lock already) and returns its record.
            async fn lock_device(
                tx: &mut sqlx::Transaction<'static, $db>,
                device_code: &SecretHash,
            ) -> Result<Option<DeviceCodeRecord>, StoreError> {
                let record: Option<String> = sqlx::query_scalar(
                    "UPDATE oauth2_device_codes SET expires_at = expires_at WHERE hash = $1 RETURNING record",
                )
                .bind(device_code.as_bytes().to_vec())
                .fetch_optional(&mut **tx)
                .await
                .map_err(failed("read a device code"))?;
                record.map(|r| decode_device(&r)).transpose()
            }

            async fn write_device(
                tx: &mut sqlx::Transaction<'static, $db>,
                device_code: &SecretHash,
                record: &DeviceCodeRecord,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE oauth2_device_codes SET record = $2 WHERE hash = $1")
                    .bind(device_code.as_bytes().to_vec())
                    .bind(encode_device(record)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(failed("update a device code"))?;
                Ok(())
            }
        }

        impl ReplayStore for $store {
            async fn first_use(&self, id: &SecretHash, until: SystemTime, now: SystemTime) -> Result<bool, StoreError> {
                // One statement: a new id is inserted, an expired one taken over; a live one is left as it is and
                // returns no row. Of concurrent uses, one inserts.
                let row = sqlx::query(
                    "INSERT INTO oauth2_dpop_proofs (id, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE oauth2_dpop_proofs.expires_at <= $3 RETURNING expires_at",
                )
                .bind(id.as_bytes().to_vec())
                .bind(nanos(until))
                .bind(nanos(now))
                .fetch_optional(&self.writer)
                .await
                .map_err(failed("remember a DPoP proof"))?;
                Ok(row.is_some())
            }
        }

        impl PushedRequestStore for $store {
            async fn store_pushed_request(
                &self,
                request_uri: SecretHash,
                record: PushedRequestRecord,
                _now: SystemTime,
            ) -> Result<(), StoreError> {
                let json = serde_json::to_string(&record.request)
                    .map_err(|e| StoreError::with_source("encode a pushed request", e))?;
                sqlx::query(
                    "INSERT INTO oauth2_pushed_requests (hash, client_id, request, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(request_uri.as_bytes().to_vec())
                .bind(&record.client_id)
                .bind(json)
                .bind(nanos(record.expires_at))
                .execute(&self.writer)
                .await
                .map_err(failed("store a pushed request"))?;
                Ok(())
            }

            async fn take_pushed_request(
                &self,
                request_uri: &SecretHash,
                client_id: &str,
                now: SystemTime,
            ) -> Result<Option<PushedRequestRecord>, StoreError> {
                // One statement: of concurrent uses, one deletes the row and gets it.
                let row = sqlx::query(
                    "DELETE FROM oauth2_pushed_requests WHERE hash = $1 AND client_id = $2 AND expires_at > $3 \
                     RETURNING request, expires_at",
                )
                .bind(request_uri.as_bytes().to_vec())
                .bind(client_id)
                .bind(nanos(now))
                .fetch_optional(&self.writer)
                .await
                .map_err(failed("take a pushed request"))?;
                let Some(row) = row else { return Ok(None) };
                let request = serde_json::from_str(&get::<String, _>(&row, 0)?)
                    .map_err(|e| StoreError::with_source("decode a pushed request", e))?;
                let expires_at = time(get::<i64, _>(&row, 1)?);
                Ok(Some(PushedRequestRecord { client_id: client_id.to_owned(), request, expires_at }))
            }
        }

        impl DeviceStore for $store {
            async fn store_device_code(
                &self,
                device_code: SecretHash,
                user_code: SecretHash,
                record: DeviceCodeRecord,
                now: SystemTime,
            ) -> Result<bool, StoreError> {
                let json = encode_device(&record)?;
                let mut tx = self.begin().await?;
                // An expired authorization gives its user code up; a live one keeps it (the insert does nothing).
                sqlx::query("DELETE FROM oauth2_device_codes WHERE user_code = $1 AND expires_at <= $2")
                    .bind(user_code.as_bytes().to_vec())
                    .bind(nanos(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(failed("free a user code"))?;
                let stored = sqlx::query(
                    "INSERT INTO oauth2_device_codes (hash, user_code, client_id, record, expires_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(device_code.as_bytes().to_vec())
                .bind(user_code.as_bytes().to_vec())
                .bind(&record.client_id)
                .bind(json)
                .bind(nanos(record.expires_at))
                .execute(&mut *tx)
                .await
                .map_err(failed("store a device code"))?
                .rows_affected();
                self.commit(tx, &[]).await?;
                Ok(stored == 1)
            }

            async fn device_code_by_user_code(&self, user_code: &SecretHash) -> Result<Option<DeviceCodeRecord>, StoreError> {
                let record: Option<String> = sqlx::query_scalar("SELECT record FROM oauth2_device_codes WHERE user_code = $1")
                    .bind(user_code.as_bytes().to_vec())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(failed("read a device code"))?;
                record.map(|r| decode_device(&r)).transpose()
            }

            async fn decide_device_code(
                &self,
                user_code: &SecretHash,
                decision: DeviceDecision,
                now: SystemTime,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let row = sqlx::query(
                    "UPDATE oauth2_device_codes SET expires_at = expires_at WHERE user_code = $1 RETURNING hash, record",
                )
                .bind(user_code.as_bytes().to_vec())
                .fetch_optional(&mut *tx)
                .await
                .map_err(failed("read a device code"))?;
                let Some(row) = row else { return Ok(false) };
                let hash = <[u8; 32]>::try_from(get::<Vec<u8>, _>(&row, 0)?.as_slice())
                    .map(SecretHash::from_bytes)
                    .map_err(|_| StoreError::new("a device code's hash is not 32 bytes"))?;
                let mut record = decode_device(&get::<String, _>(&row, 1)?)?;
                if record.status != DeviceStatus::Pending || record.expires_at <= now {
                    return Ok(false);
                }
                record.status = match decision {
                    DeviceDecision::Approve(grant) => DeviceStatus::Approved(grant),
                    _ => DeviceStatus::Denied,
                };
                Self::write_device(&mut tx, &hash, &record).await?;
                self.commit(tx, &[]).await?;
                Ok(true)
            }

            async fn poll_device_code(
                &self,
                device_code: &SecretHash,
                client_id: &str,
                now: SystemTime,
            ) -> Result<Option<(DeviceCodeRecord, bool)>, StoreError> {
                let mut tx = self.begin().await?;
                let Some(record) = Self::lock_device(&mut tx, device_code).await? else { return Ok(None) };
                if record.client_id != client_id {
                    return Ok(None);
                }
                let (record, too_soon) = record.after_poll(now);
                Self::write_device(&mut tx, device_code, &record).await?;
                self.commit(tx, &[]).await?;
                Ok(Some((record, too_soon)))
            }

            async fn redeem_device_code(
                &self,
                device_code: &SecretHash,
                access: (SecretHash, TokenRecord),
                refresh: Option<(SecretHash, TokenRecord)>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let Some(mut record) = Self::lock_device(&mut tx, device_code).await? else { return Ok(false) };
                if !matches!(record.status, DeviceStatus::Approved(_)) {
                    return Ok(false);
                }
                record.status = DeviceStatus::Redeemed;
                Self::write_device(&mut tx, device_code, &record).await?;
                // Then the family (created here: it is new), then its tokens, as every issuance does.
                let expires = refresh.as_ref().map_or(access.1.expires_at, |r| r.1.expires_at.max(access.1.expires_at));
                if Self::lock_grant(&mut tx, self.dialect, &access.1.grant, expires).await? {
                    return Ok(false);
                }
                Self::insert_token(&mut tx, &access, false).await?;
                if let Some(refresh) = &refresh {
                    Self::insert_token(&mut tx, refresh, true).await?;
                }
                self.commit(tx, &[]).await?;
                Ok(true)
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
            async fn verify(&self, token: &BearerToken<'_>, now: SystemTime) -> Result<Option<AccessGrant>, StoreError> {
                self.grant_of(&token.hash(), now).await
            }

            /// DPoP proofs at resources that check tokens against the database are remembered in it, so a proof
            /// works once across every instance (RFC 9449 §11.1).
            async fn first_proof_use(
                &self,
                id: &oauth2_core::secret::SecretHash,
                until: SystemTime,
                now: SystemTime,
            ) -> Result<Option<bool>, StoreError> {
                ReplayStore::first_use(self, id, until, now).await.map(Some)
            }
        }
    };
}

pub(crate) use sql_store;
