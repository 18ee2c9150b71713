//! The provider side of OAuth 2.0: an authorization server (RFC 6749 §3–6, RFC 7009, RFC 7662, RFC 8414, RFC 9207)
//! with RFC 9700's defaults. No I/O: each endpoint takes an `http` request and `now`, asks the store for the facts
//! it needs, decides with plain functions, makes at most one atomic write, and returns the `http` response to send.
//!
//! | endpoint | call |
//! |---|---|
//! | authorization (§3.1, §4.1.1, §4.2.1) | [`AuthorizationServer::authorization_request`] → the app logs the user in and asks consent → [`AuthorizationServer::approve`] or [`AuthorizationServer::deny`] |
//! | token (§3.2, §4.1.3, §4.3, §4.4, §6) | [`AuthorizationServer::token`] |
//! | revocation (RFC 7009) | [`AuthorizationServer::revoke`] |
//! | introspection (RFC 7662) | [`AuthorizationServer::introspect`] |
//! | metadata (RFC 8414) | [`AuthorizationServer::metadata_response`] |
//! | device authorization (RFC 8628 §3.1) | [`AuthorizationServer::device_authorization`]; the app's verification page: [`AuthorizationServer::device_request`] → login and consent → [`AuthorizationServer::approve_device`] or [`AuthorizationServer::deny_device`]; the device polls [`AuthorizationServer::token`] |
//! | DPoP (RFC 9449 §4–5, §8, §10): proofs at the token and PAR endpoints, bound tokens | [`AuthorizationServer::token`] with a `DPoP` header; nonces with [`AuthorizationServer::with_dpop_nonces`]; resources through [`AuthorizationServer::resource_server`] |
//! | pushed authorization requests (RFC 9126 §2) | [`AuthorizationServer::pushed_authorization_request`]; then [`AuthorizationServer::authorization_request`] with `client_id` and `request_uri` |
//! | any of these but the authorization endpoint, by [`Endpoint`] | [`AuthorizationServer::serve`] |
//!
//! The server also verifies its own access tokens for a resource server ([`crate::resource`]): it is an
//! [`AccessTokenVerifier`].
//!
//! Layout: `endpoint/` (one file per endpoint) is above `rules/` (redirect URIs, client authentication, the
//! request form, scope, lifetimes), which is above `store/` (the store traits, records, the in-memory store and the
//! store suite).
//!
//! ```
//! # #[cfg(feature = "os-rng")] futures_executor::block_on(async {
//! use std::time::SystemTime;
//! use oauth2_core::grant::GrantType;
//! use oauth2_core::server::{AuthorizationServer, MemoryStore, OsTokenGenerator, RegisteredClient, ServerConfig};
//!
//! let store = MemoryStore::new();
//! store.add_client(RegisteredClient::confidential("svc", "s3cret").grant_types([GrantType::ClientCredentials]).scopes("read"));
//! let server = AuthorizationServer::new(ServerConfig::new("https://as.example"), store, OsTokenGenerator);
//!
//! let request = http::Request::post("/token")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(b"grant_type=client_credentials&client_id=svc&client_secret=s3cret".to_vec())?;
//! let response = server.token(request, SystemTime::now()).await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["cache-control"], "no-store");
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

mod access;
mod config;
mod dpop;
mod endpoint;
#[cfg(feature = "jose")]
pub mod keys;
mod rules;
pub mod store;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use config::{AccessTokenFormat, ServerConfig};
pub use endpoint::Endpoint;
pub use endpoint::authorize::{AuthorizationRequest, AuthorizeError};
pub use endpoint::device::{DeviceError, DeviceRequest};
pub use endpoint::password::PasswordError;
pub use endpoint::token::TokenResponse;
pub use rules::redirect_uri::redirect_uri_allowed;
pub use store::{
    ClientStore, CodeRecord, CodeUse, DeviceStore, Grant, GrantId, GrantStore, InvalidGrantId, Maintenance,
    MemoryStore, PushedRequestStore, RegisteredClient, ReplayStore, Rotation, Store, ThrottlePolicy, ThrottleStore,
    TokenRecord,
};

/// The client an endpoint's response was for, once it authenticated: in the extensions of the responses of
/// [`AuthorizationServer::serve`]'s endpoints, for an access log (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(pub String);

/// `response` with the client it was for in its extensions.
fn with_client(mut response: http::Response<Vec<u8>>, client: Option<ClientId>) -> http::Response<Vec<u8>> {
    if let Some(client) = client {
        response.extensions_mut().insert(client);
    }
    response
}

/// The address a request came from, for the throttles (RFC 6749 §4.3.2): adapters put it in the extensions of the
/// `http::Request` they pass to the server (the peer's address, or one from a trusted proxy's header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(pub std::net::IpAddr);

use crate::error::{OAuthError, StoreError};
use crate::form::FormParams;
use crate::random::{CryptoRng, TOKEN_BYTES};
use crate::resource::{AccessGrant, AccessTokenVerifier, BearerToken, ResourceServer};
use crate::scope::Scope;

/// Makes the codes, tokens and grant ids the server issues. Implemented for `Mutex<R>` of any [`CryptoRng`], so
/// tests can pass a seeded generator; [`OsTokenGenerator`] is the one for production.
pub trait TokenGenerator: Send + Sync {
    /// Fills `dest` with unguessable bytes from a cryptographically secure generator.
    fn fill_bytes(&self, dest: &mut [u8]);

    /// A fresh code or token: 256 random bits, base64url without padding (43 characters). Override it to shape
    /// tokens differently (with a prefix, say), keeping at least 128 bits of entropy.
    fn generate(&self) -> String {
        let mut bytes = [0u8; TOKEN_BYTES];
        self.fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

impl<R: CryptoRng + Send> TokenGenerator for Mutex<R> {
    fn fill_bytes(&self, dest: &mut [u8]) {
        self.lock().unwrap_or_else(std::sync::PoisonError::into_inner).fill_bytes(dest);
    }
}

/// Tokens from the operating system's entropy, through rand's `ThreadRng`: a ChaCha12 CSPRNG per thread, seeded
/// from the OS (`getrandom`) and reseeded from it after every 64 KiB of output. Both it and a `getrandom` call per
/// token are cryptographically secure; this one is much cheaper per token (BENCHMARKS.md has the figures).
#[cfg(feature = "os-rng")]
#[derive(Debug, Clone, Copy, Default)]
pub struct OsTokenGenerator;

#[cfg(feature = "os-rng")]
impl TokenGenerator for OsTokenGenerator {
    fn fill_bytes(&self, dest: &mut [u8]) {
        rand::Rng::fill_bytes(&mut rand::rng(), dest);
    }
}

/// Checks a resource owner's username and password for the password grant; returns the subject on success.
pub type PasswordVerifier = Arc<dyn Fn(&str, &str) -> Option<String> + Send + Sync>;

/// Decides the scope of a request from the client and the scope it asked for (`None` when it asked for none);
/// `None` refuses with `invalid_scope`. The default grants the client's registered scopes when none is asked for,
/// and refuses any scope outside them.
pub type ScopePolicy = Arc<dyn Fn(&RegisteredClient, Option<&Scope>) -> Option<Scope> + Send + Sync>;

/// The app's UserInfo claims (OIDC Core §5.3) for a live grant, given its subject and granted scope: `name`,
/// `email`, ... as the scope allows. `sub` is added by the server (the grant's subject, as in the id_token).
pub type UserInfoClaims =
    Arc<dyn Fn(&crate::resource::AccessGrant) -> serde_json::Map<String, serde_json::Value> + Send + Sync>;

/// An authorization server over a store `S` (clients and grants).
pub struct AuthorizationServer<S> {
    config: ServerConfig,
    store: S,
    tokens: Box<dyn TokenGenerator>,
    passwords: Option<PasswordVerifier>,
    scope_policy: Option<ScopePolicy>,
    /// The app's UserInfo claims and the names it may return (for `claims_supported`).
    userinfo: Option<(UserInfoClaims, Vec<String>)>,
    #[cfg(feature = "jose")]
    keys: keys::KeyRing,
    /// The DPoP nonces it gives and requires (RFC 9449 §8), if any.
    #[cfg(feature = "jose")]
    dpop_nonces: Option<crate::dpop::NonceIssuer>,
}

impl<S> std::fmt::Debug for AuthorizationServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer").field("config", &self.config).finish_non_exhaustive()
    }
}

impl<S: Store> AuthorizationServer<S> {
    /// A server with `config`, `store` and a token generator.
    pub fn new(config: ServerConfig, store: S, tokens: impl TokenGenerator + 'static) -> Self {
        Self {
            config,
            store,
            tokens: Box::new(tokens),
            passwords: None,
            scope_policy: None,
            userinfo: None,
            #[cfg(feature = "jose")]
            keys: keys::KeyRing::default(),
            #[cfg(feature = "jose")]
            dpop_nonces: None,
        }
    }

    /// Serves the UserInfo endpoint (OIDC Core §5.3, `GET` and `POST` at [`ServerConfig::userinfo_path`], which
    /// this sets to `/userinfo` when unset) with the app's `claims` for each live access token of a user;
    /// `claims_supported` names the claims it may return, for the OpenID Provider metadata.
    ///
    /// ```
    /// use oauth2_core::server::{AuthorizationServer, MemoryStore, ServerConfig};
    /// let server = AuthorizationServer::new(ServerConfig::new("https://as.example"), MemoryStore::new(), oauth2_core::server::OsTokenGenerator)
    ///     .with_userinfo(&["name", "email"], |grant| {
    ///         let mut claims = serde_json::Map::new();
    ///         claims.insert("name".into(), "Alice Liddell".into());
    ///         if grant.scope.contains("email") {
    ///             claims.insert("email".into(), "alice@example.com".into());
    ///         }
    ///         claims
    ///     });
    /// assert_eq!(server.config().userinfo_path.as_deref(), Some("/userinfo"));
    /// ```
    pub fn with_userinfo(
        mut self,
        claims_supported: &[&str],
        claims: impl Fn(&crate::resource::AccessGrant) -> serde_json::Map<String, serde_json::Value> + Send + Sync + 'static,
    ) -> Self {
        self.config.userinfo_path.get_or_insert_with(|| "/userinfo".to_owned());
        self.userinfo = Some((Arc::new(claims), claims_supported.iter().map(|c| (*c).to_owned()).collect()));
        self
    }

    /// Replaces the default scope policy (see [`ScopePolicy`]): for example to add a default scope, or to grant
    /// only part of what was asked.
    pub fn with_scope_policy(
        mut self,
        policy: impl Fn(&RegisteredClient, Option<&Scope>) -> Option<Scope> + Send + Sync + 'static,
    ) -> Self {
        self.scope_policy = Some(Arc::new(policy));
        self
    }

    /// Enables the password grant (legacy, RFC 9700 §2.4) with a function that checks credentials and returns the
    /// subject; only clients registered for the grant may use it.
    pub fn with_password_verifier(
        mut self,
        verify: impl Fn(&str, &str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.passwords = Some(Arc::new(verify));
        self.config = self.config.offer(crate::grant::GrantType::Password);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The check of this server's resources, with its realm, taking Bearer tokens and DPoP-bound ones under the
    /// issuer's URL (paths given to it are under the issuer, as the server's endpoints are: proofs name
    /// `issuer + path`), with the server's proof window: pass the server itself as the verifier.
    pub fn resource_server(&self) -> ResourceServer {
        let check = ResourceServer::new(self.config.realm.clone());
        #[cfg(feature = "jose")]
        let check = check.dpop(&self.config.issuer).dpop_window(self.config.dpop_proof_window);
        check
    }

    /// Authenticates the client of a form-posting request (RFC 6749 §2.3, §3.2.1) as the token, revocation and
    /// introspection endpoints do, for an app's own client-authenticated endpoints: a confidential client by its
    /// secret (`client_secret_basic` or `client_secret_post`, never both), a public client by its `client_id`
    /// alone. Unknown clients and wrong secrets are both `invalid_client` (401, with a `Basic` challenge).
    pub async fn authenticate_client(
        &self,
        headers: &http::HeaderMap,
        params: &FormParams,
    ) -> Result<Arc<RegisteredClient>, OAuthError> {
        rules::client_auth::authenticate(&self.store, headers, params).await.map_err(|e| {
            if matches!(e.challenge(), Some(crate::error::Challenge::Basic { .. })) {
                e.with_challenge(crate::error::Challenge::Basic { realm: self.config.realm.clone() })
            } else {
                e
            }
        })
    }

    /// The scope for a request by `client` that asked for `requested` (RFC 6749 §3.3): the server's policy if
    /// it has one, else the one scope rule within the client's registered scopes.
    pub(crate) fn resolve_scope(
        &self,
        client: &RegisteredClient,
        requested: Option<&str>,
    ) -> Result<Scope, OAuthError> {
        match &self.scope_policy {
            Some(policy) => policy(client, rules::scope::requested_scope(requested)?.as_ref())
                .ok_or_else(rules::scope::scope_refused),
            None => rules::scope::decide_scope(requested, &client.scopes),
        }
    }

    fn new_secret(&self) -> String {
        self.tokens.generate()
    }

    /// A fresh grant family id, made at `now`: the milliseconds since 1970 in its first 6 bytes (big-endian), 80
    /// random bits after them. Ids never leave the server; made in time order, they land at the end of a
    /// database's indexes on them instead of at a random page of each (with random ids, every issuance rewrote a
    /// random page of two indexes: most of what a durable store wrote).
    fn new_grant_id(&self, now: SystemTime) -> GrantId {
        let mut bytes = [0u8; 16];
        self.tokens.fill_bytes(&mut bytes[6..]);
        let millis = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let millis = u64::try_from(millis).unwrap_or(u64::MAX).min((1 << 48) - 1);
        bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        GrantId::from_bytes(bytes)
    }
}

/// Opaque tokens and this server's own JWT access tokens alike: a JWT must verify with the server's keys, and is
/// then live unless revoked (itself, or its grant, or its client removed).
impl<S: Store> AccessTokenVerifier for AuthorizationServer<S> {
    async fn verify(&self, token: &BearerToken<'_>, now: SystemTime) -> Result<Option<AccessGrant>, StoreError> {
        self.access_grant_of(token, now).await
    }

    /// DPoP proofs at the server's resources are remembered in its store, as at its token endpoint: once across
    /// every instance.
    async fn first_proof_use(
        &self,
        id: &crate::secret::SecretHash,
        until: SystemTime,
        now: SystemTime,
    ) -> Result<Option<bool>, StoreError> {
        self.store.first_use(id, until, now).await.map(Some)
    }
}

#[cfg(feature = "jose")]
impl<S: Store> AuthorizationServer<S> {
    /// Seals the signing keys at rest with `sealer` (design.md §3): keys created or rotated from now on are stored
    /// sealed, and sealed keys cannot be read without it.
    pub fn with_key_sealer(mut self, sealer: crate::jose::KeySealer) -> Self {
        self.keys = keys::KeyRing::new(Some(sealer));
        self
    }

    /// The signing keys, as loaded from the store at most [`keys::KEYS_REFRESH`] ago.
    pub async fn signing_keys(&self, now: SystemTime) -> Result<Arc<keys::SigningKeys>, keys::KeyError> {
        self.keys.get(&self.store, now).await
    }

    /// Makes sure `algorithm` has a current signing key: if the store has none, `generate` makes one and it is
    /// stored, unless another instance stored one first, which is then used by all (the generated key is dropped).
    /// Call it at start for every algorithm the server signs with.
    pub async fn ensure_signing_key(
        &self,
        algorithm: crate::jose::Algorithm,
        now: SystemTime,
        generate: impl FnOnce() -> Result<crate::jose::SigningKey, crate::jose::JoseError>,
    ) -> Result<Arc<keys::SigningKeys>, keys::KeyError> {
        self.keys.ensure(&self.store, algorithm, self.nonce(), now, generate).await
    }

    /// Rotates the signing key of `key`'s algorithm: `key` signs from now on, at every instance within
    /// [`keys::KEYS_REFRESH`]; the key it replaces stays in the JWKS until every token it signed has expired.
    pub async fn rotate_signing_key(
        &self,
        key: crate::jose::SigningKey,
        now: SystemTime,
    ) -> Result<Arc<keys::SigningKeys>, keys::KeyError> {
        self.keys
            .rotate(
                &self.store,
                key,
                self.nonce(),
                keys::retired_until(now, self.config.id_token_lifetime.max(self.config.jwt_access_token_lifetime)),
                now,
            )
            .await
    }

    /// 96 fresh bits for sealing a key.
    fn nonce(&self) -> [u8; crate::jose::NONCE_LEN] {
        let mut nonce = [0u8; crate::jose::NONCE_LEN];
        self.tokens.fill_bytes(&mut nonce);
        nonce
    }
}

#[cfg(test)]
mod tests;
