//! Storage: the client registry and the grant/token store (design.md §2). Secrets, codes and tokens are stored as
//! SHA-256 hashes; each operation that must be atomic is one method, so every implementation gets it right or fails
//! [`suite`](super::suite).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pkce::PkceMethod;
use crate::scope::Scope;
use crate::secret::constant_time_eq;

/// The SHA-256 of a secret, code or token, base64url-encoded: what stores keep instead of the value.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    /// Hashes `secret`.
    pub fn of(secret: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes())))
    }

    /// Whether `secret` hashes to this value, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        constant_time_eq(Self::of(secret).0.as_bytes(), self.0.as_bytes())
    }

    /// The encoded hash (safe to log: it does not reveal the secret).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretHash({}…)", self.0.get(..8).unwrap_or(""))
    }
}

/// A grant type a client may be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §4.2 (legacy; RFC 9700 §2.1.2).
    Implicit,
    /// RFC 6749 §4.3 (legacy; RFC 9700 §2.4).
    Password,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §6.
    RefreshToken,
}

impl GrantType {
    /// The `grant_type` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::Implicit => "implicit",
            Self::Password => "password",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
        }
    }

    /// Parses a `grant_type` name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::AuthorizationCode, Self::Implicit, Self::Password, Self::ClientCredentials, Self::RefreshToken]
            .into_iter()
            .find(|g| g.as_str() == s)
    }
}

/// A registered client. Build with [`RegisteredClient::confidential`] or [`RegisteredClient::public`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The client identifier.
    pub id: String,
    /// A display name for consent pages.
    pub name: Option<String>,
    /// The hash of the client secret; `None` for a public client.
    pub secret_hash: Option<SecretHash>,
    /// Registered redirect URIs, matched exactly (RFC 9700 §4.1.1).
    pub redirect_uris: Vec<String>,
    /// Grants the client may use.
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may ask for; an omitted `scope` means all of them.
    pub scopes: Scope,
    /// A native app (RFC 8252): loopback redirect URIs may use any port. Public clients are native by default.
    pub native: bool,
    /// Opt-in: accept PKCE `plain` (RFC 7636 §4.2) from this client.
    pub allow_plain_pkce: bool,
    /// Opt-in: issue a refresh token with client credentials (RFC 6749 §4.4.3 says it SHOULD NOT).
    pub refresh_on_client_credentials: bool,
}

impl RegisteredClient {
    /// A confidential client with `secret` (only its hash is kept).
    pub fn confidential(id: impl Into<String>, secret: &str) -> Self {
        Self { secret_hash: Some(SecretHash::of(secret)), native: false, ..Self::public(id) }
    }

    /// A public client: no secret, PKCE required, loopback ports may vary.
    pub fn public(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            secret_hash: None,
            redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: Scope::empty(),
            native: true,
            allow_plain_pkce: false,
            refresh_on_client_credentials: false,
        }
    }

    /// Sets the redirect URIs.
    pub fn redirect_uris<I: IntoIterator<Item = S>, S: Into<String>>(mut self, uris: I) -> Self {
        self.redirect_uris = uris.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the grant types.
    pub fn grant_types(mut self, grants: impl IntoIterator<Item = GrantType>) -> Self {
        self.grant_types = grants.into_iter().collect();
        self
    }

    /// Sets the scopes.
    pub fn scopes(mut self, scopes: impl Into<Scope>) -> Self {
        self.scopes = scopes.into();
        self
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether the client has a secret.
    pub fn is_confidential(&self) -> bool {
        self.secret_hash.is_some()
    }

    /// Whether the client is registered for `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// An identifier shared by every code and token issued from one authorization (the "grant family").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GrantId(pub String);

/// What a token or code was issued for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// The family.
    pub id: GrantId,
    /// The client it was issued to.
    pub client_id: String,
    /// The resource owner, if any (none for client credentials).
    pub subject: Option<String>,
    /// The scope granted.
    pub scope: Scope,
}

/// A stored authorization code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The grant it starts.
    pub grant: Grant,
    /// The redirect URI of the authorization request, if it had one (RFC 6749 §4.1.3).
    pub redirect_uri: Option<String>,
    /// The PKCE challenge and method (RFC 7636 §4.4).
    pub challenge: Option<(String, PkceMethod)>,
    /// When it stops being redeemable.
    pub expires_at: SystemTime,
}

/// A stored access or refresh token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The grant it belongs to.
    pub grant: Grant,
    /// When it was issued.
    pub issued_at: SystemTime,
    /// When it expires.
    pub expires_at: SystemTime,
}

/// The outcome of [`GrantStore::redeem_code`].
#[derive(Debug, Clone, PartialEq)]
pub enum CodeUse {
    /// First use: the code is now marked used and the tokens are stored.
    Fresh(CodeRecord),
    /// The code was used before: a replay. The caller revokes this grant.
    Replayed(GrantId),
    /// No such code.
    Unknown,
}

/// The outcome of [`GrantStore::rotate_refresh`].
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The old refresh token is now used and the new tokens are stored.
    Rotated,
    /// The refresh token was already used: reuse. The caller revokes this grant (RFC 9700 §4.14.2).
    Reused(GrantId),
    /// No such refresh token (unknown or revoked).
    Unknown,
}

/// A store failure (a database error, say). Endpoints answer `server_error` / 503 and store nothing half-done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(pub String);

/// Looks up registered clients.
pub trait ClientStore: Send + Sync {
    /// The client registered as `id`.
    fn client(&self, id: &str) -> impl Future<Output = Result<Option<RegisteredClient>, StoreError>> + Send;
}

/// Stores codes and tokens. Implementations must make each method atomic.
pub trait GrantStore: Send + Sync {
    /// Stores a new code under its hash.
    fn store_code(&self, code: SecretHash, record: CodeRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Atomically: if the code is unused, mark it used and store the tokens issued for it, in one step. A second
    /// call for the same code stores nothing and returns [`CodeUse::Replayed`]. Exactly one of any number of
    /// concurrent calls sees [`CodeUse::Fresh`], and a code is never spent without its tokens being stored.
    fn redeem_code(
        &self,
        code: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> impl Future<Output = Result<CodeUse, StoreError>> + Send;

    /// The code's record and whether it was used, without using it (to check bindings before spending it).
    fn code(&self, code: &SecretHash) -> impl Future<Output = Result<Option<(CodeRecord, bool)>, StoreError>> + Send;

    /// Stores an access token and optionally a refresh token (a new issuance), atomically refusing (returning
    /// `false`, storing nothing) if their grant was revoked, so a replay racing a first redemption cannot leave
    /// live tokens behind.
    fn store_tokens(
        &self,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The refresh token's record, and whether it was already used.
    fn refresh_token(
        &self,
        token: &SecretHash,
    ) -> impl Future<Output = Result<Option<(TokenRecord, bool)>, StoreError>> + Send;

    /// Compare-and-swap: if `old` is unused, mark it used and store the new tokens, all at once. Exactly one of any
    /// number of concurrent calls with the same `old` sees [`Rotation::Rotated`].
    fn rotate_refresh(
        &self,
        old: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: (SecretHash, TokenRecord),
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    /// The access token's record, if it exists and was not revoked.
    fn access_token(&self, token: &SecretHash) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;

    /// Revokes one access token.
    fn revoke_access_token(&self, token: &SecretHash) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes every code and token of a grant family, and refuses any later [`store_tokens`](Self::store_tokens)
    /// for it.
    fn revoke_grant(&self, grant: &GrantId) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// An in-memory store for clients and grants: correct under concurrency (one lock per operation), for tests, demos
/// and single-process servers. Expired entries are dropped when touched and by [`purge_expired`](Self::purge_expired).
#[derive(Debug, Default)]
pub struct MemoryStore {
    clients: Mutex<HashMap<String, RegisteredClient>>,
    grants: Mutex<Grants>,
}

#[derive(Debug, Default)]
struct Grants {
    codes: HashMap<SecretHash, (CodeRecord, bool)>,
    access: HashMap<SecretHash, TokenRecord>,
    refresh: HashMap<SecretHash, (TokenRecord, bool)>,
    revoked: std::collections::HashSet<GrantId>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) a client.
    pub fn add_client(&self, client: RegisteredClient) {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner).insert(client.id.clone(), client);
    }

    fn grants(&self) -> std::sync::MutexGuard<'_, Grants> {
        // Every operation leaves the maps consistent before it can panic, so a poisoned lock is still sound.
        self.grants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops every code and token that expired before `now`.
    pub fn purge_expired(&self, now: SystemTime) {
        let mut g = self.grants();
        // Revoked grant ids stay: a late store_tokens for them must still be refused.
        g.codes.retain(|_, (c, _)| c.expires_at > now);
        g.access.retain(|_, t| t.expires_at > now);
        g.refresh.retain(|_, (t, _)| t.expires_at > now);
    }

    /// How many codes, access tokens and refresh tokens are stored (for tests and metrics).
    pub fn counts(&self) -> (usize, usize, usize) {
        let g = self.grants();
        (g.codes.len(), g.access.len(), g.refresh.len())
    }
}

impl ClientStore for MemoryStore {
    async fn client(&self, id: &str) -> Result<Option<RegisteredClient>, StoreError> {
        Ok(self.clients.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned())
    }
}

impl GrantStore for MemoryStore {
    async fn store_code(&self, code: SecretHash, record: CodeRecord) -> Result<(), StoreError> {
        self.grants().codes.insert(code, (record, false));
        Ok(())
    }

    async fn redeem_code(
        &self,
        code: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<CodeUse, StoreError> {
        let mut g = self.grants();
        let record = match g.codes.get_mut(code) {
            None => return Ok(CodeUse::Unknown),
            Some((record, used)) if *used => return Ok(CodeUse::Replayed(record.grant.id.clone())),
            Some((record, used)) => {
                *used = true;
                record.clone()
            }
        };
        g.access.insert(access.0, access.1);
        if let Some((hash, r)) = refresh {
            g.refresh.insert(hash, (r, false));
        }
        Ok(CodeUse::Fresh(record))
    }

    async fn code(&self, code: &SecretHash) -> Result<Option<(CodeRecord, bool)>, StoreError> {
        Ok(self.grants().codes.get(code).cloned())
    }

    async fn store_tokens(
        &self,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<bool, StoreError> {
        let mut g = self.grants();
        if g.revoked.contains(&access.1.grant.id) {
            return Ok(false);
        }
        g.access.insert(access.0, access.1);
        if let Some((hash, record)) = refresh {
            g.refresh.insert(hash, (record, false));
        }
        Ok(true)
    }

    async fn refresh_token(&self, token: &SecretHash) -> Result<Option<(TokenRecord, bool)>, StoreError> {
        Ok(self.grants().refresh.get(token).cloned())
    }

    async fn rotate_refresh(
        &self,
        old: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: (SecretHash, TokenRecord),
    ) -> Result<Rotation, StoreError> {
        let mut g = self.grants();
        if g.revoked.contains(&access.1.grant.id) {
            return Ok(Rotation::Unknown);
        }
        match g.refresh.get_mut(old) {
            None => Ok(Rotation::Unknown),
            Some((record, used)) if *used => Ok(Rotation::Reused(record.grant.id.clone())),
            Some((_, used)) => {
                *used = true;
                g.access.insert(access.0, access.1);
                g.refresh.insert(refresh.0, (refresh.1, false));
                Ok(Rotation::Rotated)
            }
        }
    }

    async fn access_token(&self, token: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.grants().access.get(token).cloned())
    }

    async fn revoke_access_token(&self, token: &SecretHash) -> Result<(), StoreError> {
        self.grants().access.remove(token);
        Ok(())
    }

    async fn revoke_grant(&self, grant: &GrantId) -> Result<(), StoreError> {
        let mut g = self.grants();
        g.revoked.insert(grant.clone());
        g.access.retain(|_, t| t.grant.id != *grant);
        g.refresh.retain(|_, (t, _)| t.grant.id != *grant);
        // Codes stay (marked used) so a later replay is still recognised as one.
        for (record, used) in g.codes.values_mut() {
            if record.grant.id == *grant {
                *used = true;
            }
        }
        Ok(())
    }
}
