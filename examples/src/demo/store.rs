//! The store `--db` picks at start (design.md §4): `memory`, `sqlite:PATH` (the default: a file under the user's
//! data directory) or `postgres://...`. One type for all three, so both demo providers run one server type.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth2_core::StoreError;
use oauth2_core::resource::{AccessGrant, AccessTokenVerifier, BearerToken};
use oauth2_core::secret::SecretHash;
use oauth2_core::server::MemoryStore;
use oauth2_core::server::store::{
    Attempts, ClientStore, CodeRecord, CodeUse, DeviceCodeRecord, DeviceDecision, DeviceStore, GrantId, GrantStore,
    KeyRecord, KeyStore, Maintenance, PushedRequestRecord, PushedRequestStore, RegisteredClient, ReplayStore, Rotation,
    ThrottlePolicy, ThrottleStore, TokenRecord,
};
use oauth2_sqlx::{PgStore, SqliteStore};

/// One of the three stores.
#[derive(Debug)]
pub enum DemoStore {
    /// Nothing kept across restarts (boxed: the in-memory store is the big one).
    Memory(Box<MemoryStore>),
    /// A file: one process.
    Sqlite(SqliteStore),
    /// A database server: any number of processes.
    Postgres(PgStore),
}

/// The default `--db`: `sqlite:$XDG_DATA_HOME/oauth2-demo/<host>_<port>.sqlite` (else under `~/.local/share`), for
/// the issuer's host and port.
pub fn default_db(issuer: &str) -> Result<String, String> {
    let url = url::Url::parse(issuer).map_err(|e| format!("the issuer {issuer} is not a URL: {e}"))?;
    let host = url.host_str().unwrap_or("localhost").replace(['[', ']', ':'], "_");
    let port = url.port_or_known_default().unwrap_or(0);
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").ok_or("neither XDG_DATA_HOME nor HOME is set: pass --db")?;
            PathBuf::from(home).join(".local/share")
        }
    };
    let dir = base.join("oauth2-demo");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(format!("sqlite:{}", dir.join(format!("{host}_{port}.sqlite")).display()))
}

impl DemoStore {
    /// Opens the store of `--db` (migrating a database), with a pool of `max_connections`.
    pub async fn open(db: &str, max_connections: u32) -> Result<Self, StoreError> {
        let timeout = oauth2_sqlx::DEFAULT_ACQUIRE_TIMEOUT;
        if db == "memory" {
            Ok(Self::Memory(Box::new(MemoryStore::new())))
        } else if db.starts_with("sqlite:") {
            Ok(Self::Sqlite(SqliteStore::connect_with(db, max_connections, timeout).await?))
        } else if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            Ok(Self::Postgres(PgStore::connect_with(db, max_connections, timeout).await?))
        } else {
            Err(StoreError::new(format!("--db takes memory, sqlite:PATH or postgres://..., not {db}")))
        }
    }

    /// Makes the client registry exactly `clients`: those of the configuration replace clients of the same id, and
    /// registered clients it no longer lists are removed with their grants.
    pub async fn sync_clients(&self, clients: &[RegisteredClient]) -> Result<(), StoreError> {
        match self {
            Self::Memory(m) => {
                for c in clients {
                    m.add_client(c.clone());
                }
                Ok(())
            }
            Self::Sqlite(s) => s.sync_clients(clients).await,
            Self::Postgres(p) => p.sync_clients(clients).await,
        }
    }

    /// The periodic purge, until the process ends: every `every`, what expired goes.
    pub async fn purge_every(self: Arc<Self>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            match self.purge(SystemTime::now()).await {
                Ok(n) if n > 0 => tracing::debug!(purged = n, "expired codes and tokens purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purge failed"),
            }
        }
    }
}

/// Delegates each method to the store in use.
macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            DemoStore::Memory($s) => $call,
            DemoStore::Sqlite($s) => $call,
            DemoStore::Postgres($s) => $call,
        }
    };
}

impl ClientStore for DemoStore {
    async fn client(&self, id: &str) -> Result<Option<Arc<RegisteredClient>>, StoreError> {
        delegate!(self, s => s.client(id).await)
    }
}

impl GrantStore for DemoStore {
    async fn store_code(&self, code: SecretHash, record: CodeRecord) -> Result<(), StoreError> {
        delegate!(self, s => s.store_code(code, record).await)
    }
    async fn redeem_code(
        &self,
        code: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<CodeUse, StoreError> {
        delegate!(self, s => s.redeem_code(code, access, refresh).await)
    }
    async fn code(&self, code: &SecretHash) -> Result<Option<(CodeRecord, bool)>, StoreError> {
        delegate!(self, s => s.code(code).await)
    }
    async fn store_tokens(
        &self,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.store_tokens(access, refresh).await)
    }
    async fn refresh_token(&self, token: &SecretHash) -> Result<Option<(TokenRecord, bool)>, StoreError> {
        delegate!(self, s => s.refresh_token(token).await)
    }
    async fn rotate_refresh(
        &self,
        old: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: (SecretHash, TokenRecord),
    ) -> Result<Rotation, StoreError> {
        delegate!(self, s => s.rotate_refresh(old, access, refresh).await)
    }
    async fn access_token(&self, token: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        delegate!(self, s => s.access_token(token).await)
    }
    async fn access_grant(&self, token: &SecretHash) -> Result<Option<AccessGrant>, StoreError> {
        delegate!(self, s => s.access_grant(token).await)
    }
    async fn revoke_access_token(&self, token: &SecretHash) -> Result<(), StoreError> {
        delegate!(self, s => s.revoke_access_token(token).await)
    }
    async fn revoke_grant(&self, grant: &GrantId) -> Result<(), StoreError> {
        delegate!(self, s => s.revoke_grant(grant).await)
    }
    async fn deny_token(&self, jti: &SecretHash, expires_at: SystemTime) -> Result<(), StoreError> {
        delegate!(self, s => s.deny_token(jti, expires_at).await)
    }
    async fn token_denied(&self, jti: &SecretHash) -> Result<bool, StoreError> {
        delegate!(self, s => s.token_denied(jti).await)
    }
}

impl ThrottleStore for DemoStore {
    async fn record_attempt(
        &self,
        key: &SecretHash,
        now: SystemTime,
        policy: &ThrottlePolicy,
    ) -> Result<Attempts, StoreError> {
        delegate!(self, s => s.record_attempt(key, now, policy).await)
    }
    async fn clear_attempts(&self, key: &SecretHash) -> Result<(), StoreError> {
        delegate!(self, s => s.clear_attempts(key).await)
    }
}

impl ReplayStore for DemoStore {
    async fn first_use(&self, id: &SecretHash, until: SystemTime, now: SystemTime) -> Result<bool, StoreError> {
        delegate!(self, s => s.first_use(id, until, now).await)
    }
}

impl PushedRequestStore for DemoStore {
    async fn store_pushed_request(
        &self,
        request_uri: SecretHash,
        record: PushedRequestRecord,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.store_pushed_request(request_uri, record, now).await)
    }
    async fn take_pushed_request(
        &self,
        request_uri: &SecretHash,
        client_id: &str,
        now: SystemTime,
    ) -> Result<Option<PushedRequestRecord>, StoreError> {
        delegate!(self, s => s.take_pushed_request(request_uri, client_id, now).await)
    }
}

impl DeviceStore for DemoStore {
    async fn store_device_code(
        &self,
        device_code: SecretHash,
        user_code: SecretHash,
        record: DeviceCodeRecord,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.store_device_code(device_code, user_code, record, now).await)
    }
    async fn device_code_by_user_code(&self, user_code: &SecretHash) -> Result<Option<DeviceCodeRecord>, StoreError> {
        delegate!(self, s => s.device_code_by_user_code(user_code).await)
    }
    async fn decide_device_code(
        &self,
        user_code: &SecretHash,
        decision: DeviceDecision,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.decide_device_code(user_code, decision, now).await)
    }
    async fn poll_device_code(
        &self,
        device_code: &SecretHash,
        client_id: &str,
        now: SystemTime,
    ) -> Result<Option<(DeviceCodeRecord, bool)>, StoreError> {
        delegate!(self, s => s.poll_device_code(device_code, client_id, now).await)
    }
    async fn redeem_device_code(
        &self,
        device_code: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.redeem_device_code(device_code, access, refresh).await)
    }
}

impl KeyStore for DemoStore {
    async fn signing_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        delegate!(self, s => s.signing_keys().await)
    }
    async fn create_signing_key(&self, key: KeyRecord) -> Result<KeyRecord, StoreError> {
        delegate!(self, s => s.create_signing_key(key).await)
    }
    async fn rotate_signing_key(&self, key: KeyRecord, retired_until: SystemTime) -> Result<(), StoreError> {
        delegate!(self, s => s.rotate_signing_key(key, retired_until).await)
    }
}

impl Maintenance for DemoStore {
    async fn purge(&self, now: SystemTime) -> Result<u64, StoreError> {
        delegate!(self, s => s.purge(now).await)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Memory(m) => m.ping().await,
            Self::Sqlite(s) => Maintenance::ping(s).await,
            Self::Postgres(p) => Maintenance::ping(p).await,
        }
    }
}

impl AccessTokenVerifier for DemoStore {
    async fn verify(&self, token: &BearerToken<'_>, now: SystemTime) -> Result<Option<AccessGrant>, StoreError> {
        delegate!(self, s => s.verify(token, now).await)
    }

    async fn first_proof_use(
        &self,
        id: &oauth2_core::secret::SecretHash,
        until: SystemTime,
        now: SystemTime,
    ) -> Result<Option<bool>, StoreError> {
        delegate!(self, s => s.first_proof_use(id, until, now).await)
    }
}
