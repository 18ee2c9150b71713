//! What stores keep: registered clients, grant families, codes and tokens, signing keys, and the outcomes of the
//! atomic steps.
//! Secrets, codes and tokens are never kept, only their [`SecretHash`](crate::secret::SecretHash)es.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::grant::GrantType;
use crate::pkce::PkceChallenge;
use crate::resource::AccessGrant;
use crate::scope::Scope;
use crate::secret::SecretHash;

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
    /// How its id_tokens are signed (OpenID Connect Dynamic Client Registration §2): `RS256` when unset, as OpenID
    /// Connect requires of every provider, or `ES256` or `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// The resources (RFC 8707) it may ask tokens for; empty: any. A resource server registration's own
    /// resources too: it may introspect tokens for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// A resource server (RFC 7662 §2.1: a protected resource that authenticates to the introspection endpoint):
    /// it may introspect the tokens of other clients whose audience is the issuer or names it (its id or one of its
    /// `resources`). Confidential clients only; it gets no grant of its own unless registered for one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resource_server: bool,
    /// Its authorization requests must be pushed first (RFC 9126 §6, `require_pushed_authorization_requests`):
    /// `/authorize` refuses one that does not name a `request_uri`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// It always uses DPoP (RFC 9449 §5.2, `dpop_bound_access_tokens`): a token request without a proof is refused
    /// with `invalid_dpop_proof`, so none of its access tokens is a Bearer token.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
}

impl RegisteredClient {
    /// A confidential client with `secret` (only its hash is kept). Its defaults: grants `authorization_code` and
    /// `refresh_token`, no redirect URI, no scope, not native (redirect URIs match exactly). Set what it uses:
    ///
    /// ```
    /// use oauth2_core::grant::GrantType;
    /// use oauth2_core::server::RegisteredClient;
    /// // A backend service: client credentials only.
    /// let svc = RegisteredClient::confidential("svc", "s3cret").grant_types([GrantType::ClientCredentials]).scopes("read");
    /// // A web app: the code grant with refresh, back to its one callback.
    /// let web = RegisteredClient::confidential("web", "s3cret").redirect_uris(["https://app.example/cb"]).scopes("read");
    /// assert!(web.allows(GrantType::AuthorizationCode) && !svc.allows(GrantType::AuthorizationCode));
    /// ```
    pub fn confidential(id: impl Into<String>, secret: &str) -> Self {
        Self { secret_hash: Some(SecretHash::of(secret)), native: false, ..Self::public(id) }
    }

    /// A public client (RFC 6749 §2.1): no secret, so PKCE S256 is required of it. Its defaults: grants
    /// `authorization_code` and `refresh_token`, no redirect URI, no scope, and native (RFC 8252: the port of a
    /// loopback redirect URI may vary). Set `native` to `false` for a browser app.
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
            id_token_signed_response_alg: None,
            resources: Vec::new(),
            resource_server: false,
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
        }
    }

    /// Limits it to these resources (RFC 8707): a token request or authorization request naming another one is
    /// refused with `invalid_target`.
    pub fn resources<I: IntoIterator<Item = S>, S: Into<String>>(mut self, resources: I) -> Self {
        self.resources = resources.into_iter().map(Into::into).collect();
        self
    }

    /// Makes it a resource server (see [`resource_server`](Self#structfield.resource_server)): for an API that
    /// introspects the tokens presented to it. Its grants stay as set: clear them for an API that only introspects.
    ///
    /// ```
    /// use oauth2_core::server::RegisteredClient;
    /// let api = RegisteredClient::confidential("api", "s3cret").grant_types([]).resource_server(true);
    /// assert!(api.resource_server && api.grant_types.is_empty());
    /// ```
    pub fn resource_server(mut self, yes: bool) -> Self {
        self.resource_server = yes;
        self
    }

    /// Requires it to push its authorization requests (RFC 9126 §6): `/authorize` then takes only a `request_uri`
    /// from `/par`.
    pub fn require_pushed_authorization_requests(mut self, yes: bool) -> Self {
        self.require_pushed_authorization_requests = yes;
        self
    }

    /// Requires a DPoP proof of each of its token requests (RFC 9449 §5.2): its access tokens are all DPoP-bound.
    pub fn dpop_bound_access_tokens(mut self, yes: bool) -> Self {
        self.dpop_bound_access_tokens = yes;
        self
    }

    /// Signs its id_tokens with `alg` (`RS256`, `ES256` or `EdDSA`) instead of `RS256`.
    pub fn id_token_signed_response_alg(mut self, alg: impl Into<String>) -> Self {
        self.id_token_signed_response_alg = Some(alg.into());
        self
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

/// An identifier shared by every code and token issued from one authorization (the "grant family"), never sent to
/// clients: the server makes it from the time (milliseconds, 48 bits) and 80 random bits, so that ids made later
/// sort after earlier ones (a database's index on them grows at its end). Shown and serialized as 32 hex digits.
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
    /// When the user logged in for this grant (OpenID Connect's `auth_time`, kept through refreshes); `None` for
    /// grants without a login (client credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<SystemTime>,
    /// The resources its tokens are for (RFC 8707), their audience; empty: the issuer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The RFC 7638 thumbprint of the DPoP key this token is bound to (RFC 9449 §6: `cnf.jkt`); of a code, the
    /// `dpop_jkt` its authorization request named (§10), which the token request's proof must match. `None`: a
    /// Bearer token, or a code any proof (or none) may redeem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// A stored authorization code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The grant it starts.
    pub grant: Grant,
    /// The redirect URI of the authorization request, if it had one (RFC 6749 §4.1.3).
    pub redirect_uri: Option<String>,
    /// The PKCE challenge and method (RFC 7636 §4.4).
    pub challenge: Option<PkceChallenge>,
    /// OpenID Connect's `nonce` from the authorization request, for the id_token (OIDC Core §3.1.3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
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

/// The outcome of [`GrantStore::redeem_code`](super::GrantStore::redeem_code).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// One value per code redemption, moved once: boxing the record would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub enum CodeUse {
    /// First use: the code is now marked used and the tokens are stored.
    Fresh(CodeRecord),
    /// The code was used before: a replay. The store has revoked this grant family in the same atomic step
    /// (RFC 6749 §4.1.2), so no token issued from the code is live any more.
    Replayed(GrantId),
    /// No such code.
    Unknown,
}

/// The outcome of [`GrantStore::rotate_refresh`](super::GrantStore::rotate_refresh).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Rotation {
    /// The old refresh token is now used and the new tokens are stored.
    Rotated,
    /// The refresh token was already used: reuse. The store has revoked this grant family in the same atomic step
    /// (RFC 9700 §4.14.2), the tokens of the rotation that won included.
    Reused(GrantId),
    /// No such refresh token (unknown or revoked).
    Unknown,
}

impl TokenRecord {
    /// What this access token grants, for the resource server.
    pub fn into_access_grant(self) -> AccessGrant {
        let grant = self.grant;
        let audience =
            if grant.resources.is_empty() { crate::resource::no_audience() } else { Arc::from(grant.resources) };
        AccessGrant {
            subject: grant.subject.map(Arc::from),
            client_id: Arc::from(grant.client_id),
            scope: Arc::new(grant.scope),
            expires_at: self.expires_at,
            audience,
            jkt: grant.jkt.map(Arc::from),
        }
    }
}

/// A pushed authorization request (RFC 9126 §2) as a store keeps it, under the hash of its `request_uri`: the
/// request as `/par` validated it, for one use by its client before `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushedRequestRecord {
    /// The client that pushed it: the only one that may use it.
    pub client_id: String,
    /// The validated request.
    pub request: crate::server::AuthorizationRequest,
    /// When its `request_uri` stops working.
    pub expires_at: SystemTime,
}

/// A device authorization (RFC 8628 §3.1–3.2) as a store keeps it, under the hashes of its device code and its
/// user code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceCodeRecord {
    /// The client that asked.
    pub client_id: String,
    /// The scope asked for, as the server decided it.
    pub scope: Scope,
    /// The resources asked for (RFC 8707).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// When the codes stop working.
    pub expires_at: SystemTime,
    /// The polling interval now: the one given, plus 5 s for every `slow_down` (§3.5).
    pub interval: Duration,
    /// When the device last polled.
    pub last_poll: Option<SystemTime>,
    /// Where the user's answer stands.
    pub status: DeviceStatus,
}

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DeviceStatus {
    /// The user has not answered yet.
    Pending,
    /// The user allowed it: the grant its tokens are for.
    Approved(Grant),
    /// The user denied it.
    Denied,
    /// Its tokens were issued (once).
    Redeemed,
}

/// The largest polling interval a device is told to keep after `slow_down`s (RFC 8628 §3.5 adds 5 s each time).
pub const MAX_DEVICE_INTERVAL: Duration = Duration::from_secs(300);

impl DeviceCodeRecord {
    /// The record after a poll at `now`, and whether the poll came sooner than the interval after the last one
    /// (RFC 8628 §3.5: then the interval grows by 5 s, up to [`MAX_DEVICE_INTERVAL`], for this and every later
    /// poll). Every poll counts as the last one. Stores apply this atomically, so of concurrent polls one at most
    /// is on time.
    pub fn after_poll(mut self, now: SystemTime) -> (Self, bool) {
        let too_soon =
            self.last_poll.is_some_and(|last| now.duration_since(last).map_or(true, |since| since < self.interval));
        if too_soon {
            self.interval =
                self.interval.saturating_add(Duration::from_secs(5)).min(MAX_DEVICE_INTERVAL.max(self.interval));
        }
        self.last_poll = Some(self.last_poll.map_or(now, |last| last.max(now)));
        (self, too_soon)
    }
}

/// The outcome of [`DeviceStore::decide_device_code`](super::DeviceStore::decide_device_code): the user's answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// One value per answer, moved once.
#[allow(clippy::large_enum_variant)]
pub enum DeviceDecision {
    /// Allowed, for this grant.
    Approve(Grant),
    /// Denied.
    Deny,
}

/// A signing key as a store keeps it (design.md §3). The store never reads the private key: it holds the bytes the
/// server gave it (PKCS#8, sealed with AES-256-GCM when the server has a key-encryption key).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key id, unique in the store; tokens name it in their header.
    pub kid: String,
    /// The JWS algorithm it signs with (`RS256`, `ES256`, `EdDSA`).
    pub algorithm: String,
    /// The private key, as the server sealed it.
    pub private_key: Vec<u8>,
    /// When it was made.
    pub created_at: SystemTime,
    /// `None` while it is its algorithm's current key. Once rotated out: when the last token it signed expires;
    /// until then its public key stays in the JWKS, after that the store may delete it.
    pub retired_until: Option<SystemTime>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("retired_until", &self.retired_until)
            .finish()
    }
}
