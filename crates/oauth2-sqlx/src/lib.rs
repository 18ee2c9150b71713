//! # oauth2-sqlx: durable stores for oauth2-core
//!
//! [`SqliteStore`] (feature `sqlite`, SQLite bundled: a fresh machine needs nothing) for one process, or a few on
//! one host sharing the file; [`PgStore`] (feature `postgres`) for any number of instances on one database. Both
//! implement the core's store traits ([`ClientStore`](oauth2_core::server::ClientStore),
//! [`GrantStore`](oauth2_core::server::GrantStore), [`ThrottleStore`](oauth2_core::server::ThrottleStore)) and
//! [`AccessTokenVerifier`](oauth2_core::resource::AccessTokenVerifier), and pass the same store suite as the in-memory store: one winner among concurrent
//! redemptions or rotations wherever they run, a replay or reuse revoking its family in the same transaction,
//! nothing half-written after a crash, hashes only.
//!
//! ```no_run
//! # async fn run() -> Result<(), oauth2_core::StoreError> {
//! use oauth2_core::server::{AuthorizationServer, OsTokenGenerator, RegisteredClient, ServerConfig};
//! use oauth2_sqlx::SqliteStore;
//!
//! let store = SqliteStore::connect("sqlite:/var/lib/as/oauth2.sqlite").await?;   // migrates at start
//! store.sync_clients(&[RegisteredClient::confidential("svc", "s3cret")]).await?;
//! let server = AuthorizationServer::new(ServerConfig::new("https://as.example"), store, OsTokenGenerator);
//! // A task of the app calls server.store().purge_expired(now, 1000) now and then.
//! # Ok(()) }
//! ```
//!
//! ## Connections
//! [`SqliteStore::connect`] and [`PgStore::connect`] build a pool from a URL: at most
//! [`DEFAULT_MAX_CONNECTIONS`] connections, and a request waits at most [`DEFAULT_ACQUIRE_TIMEOUT`] for one, so a
//! lost database is a [`StoreError`] within 3 s, never a hang; the pool reconnects by itself when the database is
//! back. [`connect_with`](SqliteStore::connect_with) takes the size and timeout; [`from_pool`](PgStore::from_pool)
//! takes a pool of the app's (it is migrated first).
//!
//! The store and its tasks need a Tokio runtime: open it on the runtime that serves (the pool's connections and
//! the writer task belong to the runtime they were made on).
//!
//! SQLite runs in WAL mode with `synchronous = NORMAL`: a commit survives a killed process, not a power cut. Pass
//! your own options to [`SqliteStore::connect_options`] with `synchronous(SqliteSynchronous::Full)` for that.
//! The pool serves reads (WAL lets them run beside the writer); writes go through one more connection of their
//! own, so this process's writers queue for it instead of polling SQLite's lock; a task copies the WAL back into
//! the file every 100 ms on a reader's connection (a passive checkpoint), so a commit seldom finds 1000 pages of
//! WAL to copy back itself (SQLite's own checkpoint, still there as the backstop).
//! PostgreSQL (13 or later) commits with its own `synchronous_commit` (on by default).
//!
//! ## Issuing in groups
//! `store_tokens` (client credentials, the password grant: a fresh family each) hands its tokens to a task of the
//! store, which takes every issuance waiting, up to 32, and stores them with **one statement**, atomic by itself:
//! concurrent requests share one round trip and one commit (group commit), and each issuance is still all there or
//! not there (a killed process, a dropped request: a request dropped while it waits leaves its tokens to be
//! stored, unsent; they expire). The statement inserts only the tokens of families not revoked, and writes each
//! family's row with them (a trigger in SQLite, an upsert in a CTE in PostgreSQL, which takes the row lock first
//! like every atomic step).
//!
//! ## Caching
//! Each store keeps, in memory, the access tokens it verified (at most [`DEFAULT_CACHED_TOKENS`], or
//! [`with_token_cache`](SqliteStore::with_token_cache)) and the registered clients it looked up, so a Bearer
//! check and a client's authentication usually ask no database. Every transaction that revokes a family or an
//! access token, or registers, changes or removes a client, writes a row to the feed `oauth2_changes` in the same
//! transaction; each instance reads the feed every 200 ms while it is busy (in the background) and evicts what the
//! rows name, at once for its own changes. The cache answers only while its last successful read of the feed
//! **began** less than a second ago: a revocation through any instance takes effect at every instance within one
//! second, also when an instance loses its database (then its cache stops answering within that second, and
//! requests fail as the database does). A database read that overlaps an eviction of what it read is not cached.
//! The resource check accepts a token only while its client is registered (so an issuance that raced its
//! client's removal leaves nothing usable). Introspection always asks the database. PostgreSQL readers go by transaction id (`xid8`) rather than by row number, as row
//! numbers are taken before their transactions commit.
//!
//! ## Schema
//! Created or migrated at connect, by embedded, append-only migrations (`migrations/sqlite`,
//! `migrations/postgres`): PostgreSQL applies them under an advisory lock, SQLite under its write lock, so two
//! instances starting at once migrate once; a database migrated by a newer version of this crate is refused
//! ([`StoreError`] naming the version). Times are Unix nanoseconds; every secret, code and token is its SHA-256.
//!
//! | table | key | what it holds |
//! |---|---|---|
//! | `oauth2_clients` | `id` | each registered client, as the JSON of its `RegisteredClient` (the secret as a hash) |
//! | `oauth2_grants` | `id` (the family: milliseconds first, so new ones land at the end of the index) | the client, `revoked`, and `expires_max`: when the family's last code or token expires (then it is forgotten); indexed by client and expiry |
//! | `oauth2_codes` | `hash` | the code's family and client, its `CodeRecord` as JSON, `used`, `expires_at`; indexed by family and expiry |
//! | `oauth2_device_codes` | `hash` (of the device code) | RFC 8628 device authorizations: the user code's hash (unique), the client, the `DeviceCodeRecord` as JSON (scope, interval, last poll, status and, once approved, the grant), `expires_at` (schema 6) |
//! | `oauth2_pushed_requests` | `hash` (of the `request_uri`) | RFC 9126 pushed authorization requests: the client, the validated `AuthorizationRequest` as JSON, `expires_at`; a use deletes the row (schema 7) |
//! | `oauth2_tokens` | `hash` | access and refresh tokens: `refresh`, family, client, subject, scope, `issued_at`, `expires_at`, `used` (a rotated refresh token, kept until it expires to detect reuse), `auth_time` (the user's login, for OpenID Connect; schema 4), `resources` (RFC 8707, space-separated; schema 5), `jkt` (the DPoP key a token is bound to, RFC 9449; schema 8); indexed by family and expiry (a client's tokens are found through its families) |
//! | `oauth2_dpop_proofs` | `id` (of the proof's key thumbprint and `jti`) | RFC 9449 proofs seen, until they are too old to be accepted: an insert that finds a live row is a replay (schema 8) |
//! | `oauth2_throttle` | `key` (a hash) | attempts in the current window, its start, any lockout, `forget_at` |
//! | `oauth2_changes` | `seq` | the feed the caches read: a revoked family, a revoked access token or a changed client per row, and when (kept ten minutes); PostgreSQL adds the writing transaction's id |
//! | `oauth2_denied_tokens` | `jti` | revoked JWT access tokens that have no row of their own (client credentials), by their `jti`'s SHA-256, until they expire (schema 5) |
//! | `oauth2_signing_keys` | `kid` | the algorithm, the private key as the server sealed it, when it was made, and `retired_until` (empty for the current key of its algorithm, which a partial unique index keeps to one) |
//!
//! A new table (device codes, pushed requests, DPoP `jti`s, signing keys) is one new migration.
//!
//! ## The atomic steps
//! Each is one transaction that first takes the family's row in `oauth2_grants` (an upsert: a row lock in
//! PostgreSQL; SQLite transactions begin `IMMEDIATE`, under the database's write lock), then:
//! - redeem a code: `UPDATE oauth2_codes SET used = TRUE WHERE hash = $1 AND used = FALSE RETURNING record`, and
//!   the tokens inserted; no row means a replay, and the family is revoked in the same transaction;
//! - rotate a refresh token: `UPDATE oauth2_tokens SET used = TRUE WHERE hash = $1 AND refresh AND used = FALSE`
//!   (compare-and-swap), the new tokens inserted; no row means a reuse, and the family is revoked;
//! - issue: the family's row says whether it is revoked; if not, the tokens are inserted (in groups, one
//!   statement each: see above);
//! - revoke a family: `revoked = TRUE`, its tokens deleted, its codes spent, a row in the feed;
//! - remove a client: the client deleted and each of its families revoked, a row in the feed;
//! - a throttle attempt: the key's row upserted (locked), the pure policy applied, the row updated.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod cache;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod store;

use std::time::Duration;

/// Connections a pool built from a URL keeps at most.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;
/// How long a request waits for a connection before it fails with a [`StoreError`].
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Prepared statements a connection of ours keeps: the store's own (a batch of issuances has one shape per number
/// of token rows, up to 64) and room for the app's.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
const STATEMENTS: usize = 256;
/// Verified access tokens an instance caches at most (about 200 bytes each): see [Caching](crate#caching).
pub const DEFAULT_CACHED_TOKENS: usize = 100_000;

pub use oauth2_core::StoreError;

/// What both stores share: conversions between the core's values and columns.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod common {
    pub(crate) use std::sync::Arc;
    pub(crate) use std::time::{Duration, SystemTime, UNIX_EPOCH};

    pub(crate) use crate::cache::{Cache, Change, POLL_LIMIT, PollTurn, RETENTION};
    pub(crate) use crate::store::{
        CHECKPOINT_EVERY, Dialect, Issue, MAX_BATCH, Side, change, decode_device, encode_device, sql_store,
    };
    pub(crate) use crate::{DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_CACHED_TOKENS, DEFAULT_MAX_CONNECTIONS, STATEMENTS};
    pub(crate) use oauth2_core::StoreError;
    pub(crate) use oauth2_core::resource::{AccessGrant, AccessTokenVerifier, BearerToken};
    pub(crate) use oauth2_core::scope::Scope;
    pub(crate) use oauth2_core::secret::SecretHash;
    pub(crate) use oauth2_core::server::store::{
        Attempts, ClientStore, CodeRecord, CodeUse, DeviceCodeRecord, DeviceDecision, DeviceStatus, DeviceStore, Grant,
        GrantId, GrantStore, KeyRecord, KeyStore, Maintenance, PushedRequestRecord, PushedRequestStore,
        RegisteredClient, ReplayStore, Rotation, ThrottlePolicy, ThrottleStore, TokenRecord,
    };

    /// `t` as Unix nanoseconds (exact from 1970 to 2262; outside that, clamped).
    pub(crate) fn nanos(t: SystemTime) -> i64 {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
    }

    /// A grant's RFC 8707 resources as their column: space-separated (an absolute URI has no space), NULL for none.
    pub(crate) fn resources_column(resources: &[String]) -> Option<String> {
        (!resources.is_empty()).then(|| resources.join(" "))
    }

    pub(crate) fn time(nanos: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
    }

    pub(crate) fn grant_id(bytes: &[u8]) -> Result<GrantId, StoreError> {
        let bytes: [u8; 16] =
            bytes.try_into().map_err(|_| StoreError::new("a grant id in the database is not 16 bytes"))?;
        Ok(GrantId::from_bytes(bytes))
    }

    /// A failure of `what`, keeping the database's error as the source.
    pub(crate) fn failed(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
        move |e| StoreError::with_source(format!("cannot {what}"), e)
    }

    /// Column `index` of `row`.
    pub(crate) fn get<'r, T, R>(row: &'r R, index: usize) -> Result<T, StoreError>
    where
        R: sqlx::Row,
        usize: sqlx::ColumnIndex<R>,
        T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        row.try_get(index).map_err(failed("read a column"))
    }

    /// What a failed migration means for the operator.
    pub(crate) fn migration_failed(e: sqlx::migrate::MigrateError) -> StoreError {
        match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::with_source(
                format!("the database's schema (migration {v}) is newer than this program's: upgrade the program"),
                e,
            ),
            e => StoreError::with_source("cannot migrate the database", e),
        }
    }
}

#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::str::FromStr;

    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

    use crate::common::*;

    static SQLITE: Dialect = Dialect {
        begin: "BEGIN IMMEDIATE",
        lock_grant: "INSERT INTO oauth2_grants (id, client_id, revoked, expires_max) VALUES ($1, $2, FALSE, $3) \
                     ON CONFLICT (id) DO UPDATE SET expires_max = MAX(oauth2_grants.expires_max, excluded.expires_max) \
                     RETURNING revoked",
        // One writer at a time: nothing can revoke a family between this check and the insert; the trigger
        // `oauth2_tokens_family` (schema 2) writes each family's row in the same statement.
        issue: "INSERT INTO oauth2_tokens (hash, refresh, grant_id, client_id, subject, scope, issued_at, expires_at, used, auth_time, resources, jkt) \
                SELECT hash, refresh, grant_id, client_id, subject, scope, issued_at, expires_at, FALSE, auth_time, resources, jkt FROM v \
                WHERE NOT EXISTS (SELECT 1 FROM oauth2_grants g WHERE g.id = v.grant_id AND g.revoked) RETURNING hash",
        writers: 1,
        // On a reader's connection (a passive checkpoint waits for no one), so that no commit of the writer does
        // it: left to SQLite, the commit that fills 1000 pages of WAL copies them all back and syncs the file
        // before it returns.
        checkpoint: Some("PRAGMA wal_checkpoint(PASSIVE)"),
        // One statement reads one snapshot; seqs commit in order (one writer at a time), so the position is the
        // last seq.
        changes: "SELECT (SELECT COALESCE(MAX(seq), 0) FROM oauth2_changes), c.seq, c.grant_id, c.client_id, c.token_hash \
                  FROM (SELECT 1) AS one LEFT JOIN oauth2_changes c ON c.seq > $1 ORDER BY c.seq LIMIT $2",
    };

    /// The stores on SQLite: see the [crate docs](crate).
    #[derive(Debug, Clone)]
    pub struct SqliteStore {
        /// Reads: WAL lets any number run beside the writer.
        pool: SqlitePool,
        /// Writes: one connection, so this process's writers queue for it instead of polling SQLite's lock (a
        /// busy handler that sleeps up to 100 ms at a time).
        writer: SqlitePool,
        dialect: &'static Dialect,
        cache: Arc<Cache>,
        issuer: tokio::sync::mpsc::Sender<Issue>,
        /// One per handle of the store: background tasks end with the last.
        handles: Arc<()>,
    }

    impl SqliteStore {
        /// Opens (creating it if missing) and migrates the database at `url` (`sqlite:PATH`), with a pool of
        /// [`DEFAULT_MAX_CONNECTIONS`] and [`DEFAULT_ACQUIRE_TIMEOUT`].
        pub async fn connect(url: &str) -> Result<Self, StoreError> {
            Self::connect_with(url, DEFAULT_MAX_CONNECTIONS, DEFAULT_ACQUIRE_TIMEOUT).await
        }

        /// [`connect`](Self::connect) with the pool's size and acquire timeout.
        pub async fn connect_with(
            url: &str,
            max_connections: u32,
            acquire_timeout: Duration,
        ) -> Result<Self, StoreError> {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::with_source(format!("not an SQLite URL: {url}"), e))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .pragma("mmap_size", "268435456")
                .statement_cache_capacity(STATEMENTS);
            Self::connect_options(options, max_connections, acquire_timeout).await
        }

        /// Opens and migrates the database with options of the caller's (a `synchronous = FULL` one, say).
        pub async fn connect_options(
            options: SqliteConnectOptions,
            max_connections: u32,
            acquire_timeout: Duration,
        ) -> Result<Self, StoreError> {
            let pool = opening(|| {
                SqlitePoolOptions::new()
                    .max_connections(max_connections.max(1))
                    .acquire_timeout(acquire_timeout)
                    .connect_with(options.clone())
            })
            .await?;
            Self::from_pool(pool).await
        }

        /// Migrates and uses the caller's pool for reads, beside one connection of the same options for writes.
        pub async fn from_pool(pool: SqlitePool) -> Result<Self, StoreError> {
            let writer = opening(|| {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(pool.options().get_acquire_timeout())
                    .connect_with((*pool.connect_options()).clone())
            })
            .await?;
            // sqlx takes no lock on SQLite: two processes may apply the same migration at once. The statements are
            // idempotent, and the loser's bookkeeping insert fails; once the winner has committed, a retry sees
            // the migration applied.
            let mut tries = 0;
            loop {
                match sqlx::migrate!("migrations/sqlite").run(&writer).await {
                    Ok(()) => break,
                    Err(e @ sqlx::migrate::MigrateError::VersionMissing(_)) => return Err(migration_failed(e)),
                    Err(_) if tries < 5 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                    }
                    Err(e) => return Err(migration_failed(e)),
                }
            }
            Ok(Self::assemble(pool, writer, &SQLITE))
        }
    }

    /// Opens a pool, again while another process holds the lock that switching a new file to WAL needs (SQLite
    /// answers that with `SQLITE_BUSY` at once, without waiting).
    async fn opening<F: Future<Output = Result<SqlitePool, sqlx::Error>>>(
        open: impl Fn() -> F,
    ) -> Result<SqlitePool, StoreError> {
        let mut tries = 0;
        loop {
            match open().await {
                Err(sqlx::Error::Database(e))
                    if tries < 10 && e.code().is_some_and(|c| c.parse::<i32>().is_ok_and(|c| c & 0xff == 5)) =>
                {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20 * tries)).await;
                }
                result => return result.map_err(failed("open the SQLite database")),
            }
        }
    }

    sql_store!(SqliteStore, sqlx::Sqlite);
}

#[cfg(feature = "postgres")]
pub use postgres::PgStore;

#[cfg(feature = "postgres")]
mod postgres {
    use std::str::FromStr;

    use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

    use crate::common::*;

    static POSTGRES: Dialect = Dialect {
        begin: "BEGIN",
        lock_grant: "INSERT INTO oauth2_grants (id, client_id, revoked, expires_max) VALUES ($1, $2, FALSE, $3) \
                     ON CONFLICT (id) DO UPDATE SET expires_max = GREATEST(oauth2_grants.expires_max, excluded.expires_max) \
                     RETURNING revoked",
        // Writers run side by side: the families' rows are upserted first (each locked, as every atomic step locks
        // it), so a revocation of one either commits before and is seen, or waits.
        issue: ", g AS (INSERT INTO oauth2_grants (id, client_id, revoked, expires_max) \
                  SELECT grant_id, MIN(client_id), FALSE, MAX(expires_at) FROM v GROUP BY grant_id \
                  ON CONFLICT (id) DO UPDATE SET expires_max = GREATEST(oauth2_grants.expires_max, excluded.expires_max) \
                  RETURNING id, revoked) \
                INSERT INTO oauth2_tokens (hash, refresh, grant_id, client_id, subject, scope, issued_at, expires_at, used, auth_time, resources, jkt) \
                SELECT v.hash, v.refresh, v.grant_id, v.client_id, v.subject, v.scope, v.issued_at, v.expires_at, FALSE, v.auth_time, v.resources, v.jkt \
                FROM v JOIN g ON g.id = v.grant_id WHERE NOT g.revoked RETURNING hash",
        writers: 1,
        checkpoint: None,
        // Every transaction still running at this statement's snapshot has an id at or above its xmin: the next
        // poll reads from there, and rows read twice are told apart by seq.
        changes: "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, c.seq, c.grant_id, c.client_id, c.token_hash \
                  FROM (SELECT 1) AS one LEFT JOIN oauth2_changes c ON c.xid >= $1::bigint::text::xid8 \
                  ORDER BY c.seq LIMIT $2",
    };

    /// The stores on PostgreSQL, for any number of instances on one database: see the [crate docs](crate).
    #[derive(Debug, Clone)]
    pub struct PgStore {
        pool: PgPool,
        /// The same pool: PostgreSQL's writers wait for row locks, not for the database.
        writer: PgPool,
        dialect: &'static Dialect,
        cache: Arc<Cache>,
        issuer: tokio::sync::mpsc::Sender<Issue>,
        /// One per handle of the store: background tasks end with the last.
        handles: Arc<()>,
    }

    impl PgStore {
        /// Connects to and migrates the database at `url` (`postgres://USER@HOST:PORT/DB`), with a pool of
        /// [`DEFAULT_MAX_CONNECTIONS`] and [`DEFAULT_ACQUIRE_TIMEOUT`].
        pub async fn connect(url: &str) -> Result<Self, StoreError> {
            Self::connect_with(url, DEFAULT_MAX_CONNECTIONS, DEFAULT_ACQUIRE_TIMEOUT).await
        }

        /// [`connect`](Self::connect) with the pool's size and acquire timeout.
        pub async fn connect_with(
            url: &str,
            max_connections: u32,
            acquire_timeout: Duration,
        ) -> Result<Self, StoreError> {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::with_source("not a PostgreSQL URL", e))?
                .statement_cache_capacity(STATEMENTS);
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await
                .map_err(failed("connect to PostgreSQL"))?;
            Self::from_pool(pool).await
        }

        /// Migrates (under sqlx's advisory lock: instances starting at once migrate once) and uses the caller's
        /// pool.
        pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
            sqlx::migrate!("migrations/postgres").run(&pool).await.map_err(migration_failed)?;
            Ok(Self::assemble(pool.clone(), pool, &POSTGRES))
        }
    }

    sql_store!(PgStore, sqlx::Postgres);
}
