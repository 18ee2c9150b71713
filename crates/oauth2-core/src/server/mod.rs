//! The provider side of OAuth 2.0: an authorization server (RFC 6749 §3–6, RFC 7009, RFC 7662, RFC 8414, RFC 9207)
//! and a resource server (RFC 6750), with RFC 9700's defaults. No I/O: each endpoint takes an `http` request (or
//! its parts) and `now`, asks the store for the facts it needs, and returns the `http` response to send.
//!
//! | endpoint | call |
//! |---|---|
//! | authorization (§3.1, §4.1.1, §4.2.1) | [`AuthorizationServer::authorization_request`] → the app logs the user in and asks consent → [`AuthorizationServer::approve`] or [`AuthorizationServer::deny`] |
//! | token (§3.2, §4.1.3, §4.3, §4.4, §6) | [`AuthorizationServer::token`] |
//! | revocation (RFC 7009) | [`AuthorizationServer::revoke`] |
//! | introspection (RFC 7662) | [`AuthorizationServer::introspect`] |
//! | metadata (RFC 8414) | [`AuthorizationServer::metadata`] |
//! | protected resource (RFC 6750) | [`AuthorizationServer::authenticate_bearer`] |
//!
//! ```
//! # #[cfg(feature = "os-rng")] {
//! use std::time::SystemTime;
//! use oauth2_core::server::{AuthorizationServer, GrantType, MemoryStore, RegisteredClient, ServerConfig, OsTokenGenerator};
//!
//! let store = MemoryStore::new();
//! store.add_client(RegisteredClient::confidential("svc", "s3cret").grant_types([GrantType::ClientCredentials]).scopes("read"));
//! let server = AuthorizationServer::new(ServerConfig::new("https://as.example"), store, OsTokenGenerator);
//!
//! let request = http::Request::post("/token")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(b"grant_type=client_credentials&client_id=svc&client_secret=s3cret".to_vec())?;
//! # let response = futures_block_on(server.token(request, SystemTime::now()));
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["cache-control"], "no-store");
//! # fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod authorize;
mod client_auth;
mod management;
mod memory;
mod reply;
mod resource;
pub mod store;
pub mod suite;
mod token;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use authorize::{AuthorizationRequest, AuthorizeError, html_escape, redirect_uri_allowed};
pub use memory::MemoryStore;
pub use reply::{OAuthError, json_response};
pub use resource::AccessGrant;
pub use store::{
    ClientStore, CodeRecord, CodeUse, Grant, GrantId, GrantStore, GrantType, InvalidGrantId, RegisteredClient,
    Rotation, SecretHash, StoreError, TokenRecord,
};
pub use token::TokenResponse;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::random::{CryptoRng, TOKEN_BYTES};
use crate::scope::Scope;

/// Where the endpoints live and how long things last.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The issuer identifier (RFC 8414 §2): `iss` in authorization responses, and the base of the endpoint URLs.
    pub issuer: String,
    /// Path of the authorization endpoint (default `/authorize`).
    pub authorization_path: String,
    /// Path of the token endpoint (default `/token`).
    pub token_path: String,
    /// Path of the revocation endpoint (default `/revoke`).
    pub revocation_path: String,
    /// Path of the introspection endpoint (default `/introspect`).
    pub introspection_path: String,
    /// Path of an OpenID-style userinfo endpoint to advertise, if the app serves one.
    pub userinfo_path: Option<String>,
    /// How long a code may be redeemed (default 60 s; RFC 6749 §4.1.2 says at most 10 minutes).
    pub code_lifetime: Duration,
    /// Access token lifetime (default 1 hour).
    pub access_token_lifetime: Duration,
    /// Refresh token lifetime, renewed at each rotation (default 30 days).
    pub refresh_token_lifetime: Duration,
    /// Largest request body accepted (default 16 KiB).
    pub max_body_bytes: usize,
    /// The realm in `WWW-Authenticate: Bearer` challenges.
    pub realm: String,
    /// Scopes to advertise in metadata; `None` advertises none.
    pub scopes_supported: Option<Scope>,
    /// The grants this server offers, advertised in its metadata and refused (`unsupported_grant_type`,
    /// `unsupported_response_type`) when not listed, whatever a client's registration says. Default:
    /// authorization code, refresh token and client credentials; [`with_password_verifier`] adds the password
    /// grant. The implicit grant (legacy, RFC 9700 §2.1.2) is only offered when added here.
    ///
    /// [`with_password_verifier`]: AuthorizationServer::with_password_verifier
    pub grant_types: Vec<GrantType>,
}

impl ServerConfig {
    /// Defaults for an issuer such as `https://as.example` (no trailing slash).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            authorization_path: "/authorize".into(),
            token_path: "/token".into(),
            revocation_path: "/revoke".into(),
            introspection_path: "/introspect".into(),
            userinfo_path: None,
            code_lifetime: Duration::from_secs(60),
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(30 * 24 * 3600),
            max_body_bytes: 16 * 1024,
            realm: "oauth".into(),
            scopes_supported: None,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials],
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }

    /// Where the metadata is served: `/.well-known/oauth-authorization-server` followed by the issuer's path, if it
    /// has one (RFC 8414 §3.1).
    pub fn metadata_path(&self) -> String {
        let path = url::Url::parse(&self.issuer).map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default();
        format!("/.well-known/oauth-authorization-server{path}")
    }
}

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
/// from the OS (`getrandom`) and reseeded from it after every 64 KiB of output.
///
/// Why not one `getrandom` call per token: on the benchmark machine that syscall costs about 0.6 µs, and a token
/// request needs two values (grant id and token), so it alone would take some 8% of a bare handler's request time;
/// `ThreadRng` gives the same 32 bytes in about 15 ns. Both are cryptographically secure.
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

fn scope_refused() -> OAuthError {
    OAuthError::new(crate::ErrorCode::InvalidScope, "unknown scope, or one this client may not ask for")
}

/// A `scope` parameter as sent (RFC 6749 §3.3): `None` when omitted **or blank** (a scope has at least one token,
/// so `scope=%20` asks for nothing in particular), `invalid_scope` when a token has characters §3.3 does not allow.
pub(crate) fn requested_scope(raw: Option<&str>) -> Result<Option<Scope>, OAuthError> {
    let requested = raw.map(Scope::parse).filter(|s| !s.is_empty());
    match requested {
        Some(s) if !s.is_valid_syntax() => Err(scope_refused()),
        other => Ok(other),
    }
}

/// The one rule for every grant's scope (RFC 6749 §3.3, §6): omitted or blank means all of `allowed`; a malformed
/// one, or one wider than `allowed`, is `invalid_scope`; a narrower one is granted as asked. `allowed` is the
/// client's registration for a new grant, and the original grant's scope for a refresh.
pub(crate) fn decide_scope(raw: Option<&str>, allowed: &Scope) -> Result<Scope, OAuthError> {
    match requested_scope(raw)? {
        None => Ok(allowed.clone()),
        Some(s) if s.is_subset_of(allowed) => Ok(s),
        Some(_) => Err(scope_refused()),
    }
}

/// An authorization server over a store `S` (clients and grants).
pub struct AuthorizationServer<S> {
    config: ServerConfig,
    store: S,
    tokens: Box<dyn TokenGenerator>,
    passwords: Option<PasswordVerifier>,
    scope_policy: Option<ScopePolicy>,
}

impl<S> std::fmt::Debug for AuthorizationServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer").field("config", &self.config).finish_non_exhaustive()
    }
}

impl<S: ClientStore + GrantStore> AuthorizationServer<S> {
    /// A server with `config`, `store` and a token generator.
    pub fn new(config: ServerConfig, store: S, tokens: impl TokenGenerator + 'static) -> Self {
        Self { config, store, tokens: Box::new(tokens), passwords: None, scope_policy: None }
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

    /// The scope for a request by `client` that asked for `requested` (RFC 6749 §3.3): the server's policy if
    /// it has one, else [`decide_scope`] within the client's registered scopes.
    pub(crate) fn resolve_scope(
        &self,
        client: &RegisteredClient,
        requested: Option<&str>,
    ) -> Result<Scope, OAuthError> {
        match &self.scope_policy {
            Some(policy) => policy(client, requested_scope(requested)?.as_ref()).ok_or_else(scope_refused),
            None => decide_scope(requested, &client.scopes),
        }
    }

    /// Enables the password grant (legacy, RFC 9700 §2.4) with a function that checks credentials and returns the
    /// subject; only clients registered for the grant may use it.
    pub fn with_password_verifier(
        mut self,
        verify: impl Fn(&str, &str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.passwords = Some(Arc::new(verify));
        if !self.config.grant_types.contains(&GrantType::Password) {
            self.config.grant_types.push(GrantType::Password);
        }
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

    fn new_secret(&self) -> String {
        self.tokens.generate()
    }

    /// A fresh grant family id.
    fn new_grant_id(&self) -> GrantId {
        let mut bytes = [0u8; 16];
        self.tokens.fill_bytes(&mut bytes);
        GrantId::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests;
