//! Storage: the client registry and the grant/token store (design.md §2). Secrets, codes and tokens are stored as
//! SHA-256 hashes; each operation that must be atomic is one method, so every implementation gets it right or fails
//! [`suite`](super::suite). [`MemoryStore`](super::MemoryStore) is the in-memory implementation.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AccessGrant;
use crate::pkce::PkceMethod;
use crate::scope::Scope;
use crate::secret::constant_time_eq;

/// The SHA-256 of a secret, code or token: what stores keep instead of the value. 32 bytes, `Copy`; serialized as
/// base64url without padding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes `secret`.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `secret` hashes to this value, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        constant_time_eq(&Self::of(secret).0, &self.0)
    }

    /// The digest's bytes (safe to log or index by: they do not reveal the secret).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A hash read back from a store (the bytes [`as_bytes`](Self::as_bytes) gave).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretHash({}…)", URL_SAFE_NO_PAD.encode(&self.0[..6]))
    }
}

impl Serialize for SecretHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = URL_SAFE_NO_PAD.decode(text.as_bytes()).map_err(serde::de::Error::custom)?;
        bytes.try_into().map(Self).map_err(|_| serde::de::Error::custom("a SecretHash is 32 bytes"))
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

/// An identifier shared by every code and token issued from one authorization (the "grant family"): 128 random
/// bits, never sent to clients. Shown and serialized as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantId([u8; 16]);

impl GrantId {
    /// The id with these bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Display for GrantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for GrantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GrantId({self})")
    }
}

impl std::str::FromStr for GrantId {
    type Err = InvalidGrantId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.as_bytes();
        if hex.len() != 32 {
            return Err(InvalidGrantId);
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| InvalidGrantId)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| InvalidGrantId)?;
        }
        Ok(Self(bytes))
    }
}

/// A string that is not 32 hex digits, given as a [`GrantId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a grant id is 32 hex digits")]
pub struct InvalidGrantId;

impl Serialize for GrantId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GrantId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

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
    /// The code was used before: a replay. The store has revoked this grant family in the same atomic step
    /// (RFC 6749 §4.1.2), so no token issued from the code is live any more.
    Replayed(GrantId),
    /// No such code.
    Unknown,
}

/// The outcome of [`GrantStore::rotate_refresh`].
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The old refresh token is now used and the new tokens are stored.
    Rotated,
    /// The refresh token was already used: reuse. The store has revoked this grant family in the same atomic step
    /// (RFC 9700 §4.14.2), the tokens of the rotation that won included.
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
    /// The client registered as `id`. Shared, so a lookup on every token request copies nothing.
    fn client(&self, id: &str) -> impl Future<Output = Result<Option<Arc<RegisteredClient>>, StoreError>> + Send;
}

/// Stores codes and tokens. Implementations must make each method atomic.
pub trait GrantStore: Send + Sync {
    /// Stores a new code under its hash.
    fn store_code(&self, code: SecretHash, record: CodeRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Atomically: if the code is unused, mark it used and store the tokens issued for it, in one step. A second
    /// call for the same code stores nothing, **revokes the code's grant family** (as
    /// [`revoke_grant`](Self::revoke_grant) does) and returns [`CodeUse::Replayed`], all in the same atomic step:
    /// a caller whose future is dropped after this call started cannot leave the replayed grant alive. Exactly one
    /// of any number of concurrent calls sees [`CodeUse::Fresh`], and a code is never spent without its tokens
    /// being stored.
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

    /// Compare-and-swap: if `old` is unused, mark it used and store the new tokens, all at once. If `old` was
    /// already used, store nothing, **revoke its grant family** in the same atomic step (RFC 9700 §4.14.2) and
    /// return [`Rotation::Reused`]. Exactly one of any number of concurrent calls with the same `old` sees
    /// [`Rotation::Rotated`], and after such a race no token of the family is live, the winner's included.
    fn rotate_refresh(
        &self,
        old: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: (SecretHash, TokenRecord),
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    /// The access token's record, if it exists and was not revoked.
    fn access_token(&self, token: &SecretHash) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;

    /// What a live access token grants, for the resource server (RFC 6750): [`access_token`](Self::access_token)
    /// reduced to who, which client and what scope. The default builds it from `access_token`; a store that keeps
    /// these shared can hand them out without copying, as [`MemoryStore`](super::MemoryStore) does.
    fn access_grant(&self, token: &SecretHash) -> impl Future<Output = Result<Option<AccessGrant>, StoreError>> + Send {
        async move { Ok(self.access_token(token).await?.map(AccessGrant::from)) }
    }

    /// Revokes one access token.
    fn revoke_access_token(&self, token: &SecretHash) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes every code and token of a grant family: from now on its tokens are not found, its codes count as
    /// used, and a later [`store_tokens`](Self::store_tokens) or [`rotate_refresh`](Self::rotate_refresh) for it is
    /// refused, for as long as any code or token of it could still be alive (a store may forget the revocation
    /// after that).
    fn revoke_grant(&self, grant: &GrantId) -> impl Future<Output = Result<(), StoreError>> + Send;
}
