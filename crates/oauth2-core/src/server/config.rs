//! The server's configuration: where its endpoints live, what it offers, and how long things last.

use std::time::Duration;

use crate::grant::GrantType;
use crate::scope::Scope;
use crate::server::rules::throttle::ThrottlePolicy;

/// What the server's access tokens are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AccessTokenFormat {
    /// 256 random bits, looked up in the store by their hash: revocable at once everywhere, but every resource
    /// server must ask the store or the introspection endpoint.
    #[default]
    Opaque,
    /// RFC 9068 JWTs (`typ: at+jwt`) signed with this algorithm: resource servers check them with the JWKS
    /// alone. Tokens of a grant with a refresh token or a user are also recorded in the store (by the hash of the whole
    /// token, as opaque ones are), so revoking the grant revokes them at the issuer; tokens of client credentials are not stored at all, and are
    /// revoked by a deny-list of their `jti` until they expire.
    #[cfg(feature = "jose")]
    Jwt(crate::jose::Algorithm),
}

/// Where the endpoints live and how long things last. Start from [`ServerConfig::new`] and change what you need:
///
/// ```
/// use std::time::Duration;
/// use oauth2_core::server::ServerConfig;
/// let config = ServerConfig::new("https://as.example")
///     .access_token_lifetime(Duration::from_secs(10 * 60))
///     .refresh_token_lifetime(Duration::from_secs(7 * 24 * 3600));
/// assert_eq!(config.code_lifetime, Duration::from_secs(60));
/// ```
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
    /// Path of the JWK Set of the signing keys (default `/jwks`), advertised as `jwks_uri` with the `jose` feature.
    pub jwks_path: String,
    /// Path of an OpenID-style userinfo endpoint to advertise, if the app serves one.
    pub userinfo_path: Option<String>,
    /// How long a code may be redeemed (default 60 s; RFC 6749 §4.1.2 says at most 10 minutes).
    pub code_lifetime: Duration,
    /// Opaque access token lifetime (default 1 hour).
    pub access_token_lifetime: Duration,
    /// What access tokens are: opaque (the default) or RFC 9068 JWTs.
    pub access_tokens: AccessTokenFormat,
    /// JWT access token lifetime (default 5 minutes: a JWT is checked by resource servers without asking the
    /// server, so a revocation reaches them only when it expires). A signing key rotated out stays published for
    /// the longer of this and [`id_token_lifetime`](Self::id_token_lifetime), and a little more.
    pub jwt_access_token_lifetime: Duration,
    /// Refresh token lifetime, renewed at each rotation (default 30 days).
    pub refresh_token_lifetime: Duration,
    /// OpenID Connect id_token lifetime (default 10 minutes: it is read once, at login). A signing key rotated out
    /// stays in the JWKS for this long, and a little more.
    pub id_token_lifetime: Duration,
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
    /// [`with_password_verifier`]: super::AuthorizationServer::with_password_verifier
    pub grant_types: Vec<GrantType>,
    /// How password attempts are throttled (default [`ThrottlePolicy::PASSWORD`]: 10 per username and client
    /// address within 15 minutes, then 60 s of refusal).
    pub password_throttle: ThrottlePolicy,
    /// How long an adapter waits for a request body once the headers are in (default 10 s): a body that trickles
    /// in slower is refused, so slow senders cannot hold connections.
    pub body_timeout: Duration,
    /// Path of the device authorization endpoint (RFC 8628 §3.1; default `/device_authorization`), served once the
    /// server offers [`GrantType::DeviceCode`].
    pub device_authorization_path: String,
    /// Path of the app's verification page (RFC 8628 §3.3; default `/device`): the `verification_uri` devices show.
    pub device_verification_path: String,
    /// How long a device code and its user code are good (default 10 minutes; RFC 8628 §3.2 `expires_in`).
    pub device_code_lifetime: Duration,
    /// The polling interval devices are given (default 5 s, RFC 8628 §3.2's default; at least 1 s is used).
    pub device_interval: Duration,
    /// How user code entries are throttled per browser session (RFC 8628 §5.1; default
    /// [`ThrottlePolicy::USER_CODE_SESSION`]: 5 within 15 minutes).
    pub user_code_session_throttle: ThrottlePolicy,
    /// How user code entries are throttled per client address (RFC 8628 §5.1; default
    /// [`ThrottlePolicy::USER_CODE_ADDRESS`]: 20 a minute).
    pub user_code_address_throttle: ThrottlePolicy,
    /// How device authorization requests are throttled per client address (default
    /// [`ThrottlePolicy::DEVICE_AUTHORIZATION`]: 30 a minute), as each one is stored for its lifetime.
    pub device_authorization_throttle: ThrottlePolicy,
    /// Path of the pushed authorization request endpoint (RFC 9126 §2; default `/par`).
    pub pushed_authorization_request_path: String,
    /// How long a `request_uri` from `/par` is good (default 60 s, RFC 9126 §2.2 `expires_in`).
    pub pushed_request_lifetime: Duration,
    /// Every client must push its authorization requests (RFC 9126 §5, `require_pushed_authorization_requests`;
    /// default off: then only clients registered so must).
    pub require_pushed_authorization_requests: bool,
    /// How the pushed authorization requests of a public client are throttled per client address (default
    /// [`ThrottlePolicy::PUSHED_REQUEST`]: 60 a minute), as each one is stored for its lifetime. Another client's,
    /// or another address's, are counted apart.
    pub pushed_request_throttle: ThrottlePolicy,
    /// How the pushed authorization requests of a confidential client are throttled, from all its addresses
    /// together (default [`ThrottlePolicy::CONFIDENTIAL_PUSHED_REQUEST`]: 1200 a minute).
    pub confidential_pushed_request_throttle: ThrottlePolicy,
    /// How far a DPoP proof's `iat` may be from the server's clock, either way (RFC 9449 §11.1; default 60 s, at
    /// most 5 minutes). Proofs are remembered for this long, and a little more, to refuse their replay.
    pub dpop_proof_window: Duration,
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
            jwks_path: "/jwks".into(),
            userinfo_path: None,
            code_lifetime: Duration::from_secs(60),
            access_token_lifetime: Duration::from_secs(3600),
            access_tokens: AccessTokenFormat::Opaque,
            jwt_access_token_lifetime: Duration::from_secs(300),
            refresh_token_lifetime: Duration::from_secs(30 * 24 * 3600),
            id_token_lifetime: Duration::from_secs(600),
            max_body_bytes: 16 * 1024,
            realm: "oauth".into(),
            scopes_supported: None,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials],
            password_throttle: ThrottlePolicy::PASSWORD,
            body_timeout: Duration::from_secs(10),
            device_authorization_path: "/device_authorization".into(),
            device_verification_path: "/device".into(),
            device_code_lifetime: Duration::from_secs(600),
            device_interval: Duration::from_secs(5),
            user_code_session_throttle: ThrottlePolicy::USER_CODE_SESSION,
            user_code_address_throttle: ThrottlePolicy::USER_CODE_ADDRESS,
            device_authorization_throttle: ThrottlePolicy::DEVICE_AUTHORIZATION,
            pushed_authorization_request_path: "/par".into(),
            pushed_request_lifetime: Duration::from_secs(60),
            require_pushed_authorization_requests: false,
            pushed_request_throttle: ThrottlePolicy::PUSHED_REQUEST,
            confidential_pushed_request_throttle: ThrottlePolicy::CONFIDENTIAL_PUSHED_REQUEST,
            dpop_proof_window: Duration::from_secs(60),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }

    /// Sets the authorization endpoint's path.
    pub fn authorization_path(mut self, path: impl Into<String>) -> Self {
        self.authorization_path = path.into();
        self
    }

    /// Sets the token endpoint's path.
    pub fn token_path(mut self, path: impl Into<String>) -> Self {
        self.token_path = path.into();
        self
    }

    /// Sets the revocation endpoint's path.
    pub fn revocation_path(mut self, path: impl Into<String>) -> Self {
        self.revocation_path = path.into();
        self
    }

    /// Sets the introspection endpoint's path.
    pub fn introspection_path(mut self, path: impl Into<String>) -> Self {
        self.introspection_path = path.into();
        self
    }

    /// Sets the JWK Set's path.
    pub fn jwks_path(mut self, path: impl Into<String>) -> Self {
        self.jwks_path = path.into();
        self
    }

    /// Advertises the app's userinfo endpoint at `path`.
    pub fn userinfo_path(mut self, path: impl Into<String>) -> Self {
        self.userinfo_path = Some(path.into());
        self
    }

    /// Sets how long a code may be redeemed.
    pub fn code_lifetime(mut self, lifetime: Duration) -> Self {
        self.code_lifetime = lifetime;
        self
    }

    /// Sets the access token lifetime.
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }

    /// Issues RFC 9068 JWT access tokens signed with `algorithm` (the server needs a signing key for it:
    /// [`ensure_signing_key`](super::AuthorizationServer::ensure_signing_key)).
    ///
    /// ```
    /// use oauth2_core::jose::Algorithm;
    /// use oauth2_core::server::{AccessTokenFormat, ServerConfig};
    /// let config = ServerConfig::new("https://as.example").jwt_access_tokens(Algorithm::EdDsa);
    /// assert_eq!(config.access_tokens, AccessTokenFormat::Jwt(Algorithm::EdDsa));
    /// assert_eq!(config.current_access_token_lifetime().as_secs(), 300);
    /// ```
    #[cfg(feature = "jose")]
    pub fn jwt_access_tokens(mut self, algorithm: crate::jose::Algorithm) -> Self {
        self.access_tokens = AccessTokenFormat::Jwt(algorithm);
        self
    }

    /// Sets the JWT access token lifetime.
    pub fn jwt_access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.jwt_access_token_lifetime = lifetime;
        self
    }

    /// The lifetime of the access tokens issued now: [`jwt_access_token_lifetime`](Self::jwt_access_token_lifetime)
    /// for JWTs, else [`access_token_lifetime`](Self::access_token_lifetime).
    pub fn current_access_token_lifetime(&self) -> Duration {
        match self.access_tokens {
            AccessTokenFormat::Opaque => self.access_token_lifetime,
            #[cfg(feature = "jose")]
            AccessTokenFormat::Jwt(_) => self.jwt_access_token_lifetime,
        }
    }

    /// Sets the id_token lifetime.
    pub fn id_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.id_token_lifetime = lifetime;
        self
    }

    /// Sets the refresh token lifetime (renewed at each rotation).
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_token_lifetime = lifetime;
        self
    }

    /// Sets the largest request body accepted.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the realm of `WWW-Authenticate` challenges.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Advertises `scopes` in the metadata.
    pub fn scopes_supported(mut self, scopes: impl Into<Scope>) -> Self {
        self.scopes_supported = Some(scopes.into());
        self
    }

    /// Sets the grants the server offers (see [`grant_types`](Self::grant_types)).
    pub fn grant_types(mut self, grants: impl IntoIterator<Item = GrantType>) -> Self {
        self.grant_types = grants.into_iter().collect();
        self
    }

    /// Sets how password attempts are throttled.
    pub fn password_throttle(mut self, policy: ThrottlePolicy) -> Self {
        self.password_throttle = policy;
        self
    }

    /// Sets how long adapters wait for a request body.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Offers the device authorization grant (RFC 8628) with devices polling every `interval` (at least 1 s) and
    /// codes good for `lifetime`. The app serves the verification page at
    /// [`device_verification_path`](Self::device_verification_path) (see
    /// [`device_request`](super::AuthorizationServer::device_request)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use oauth2_core::grant::GrantType;
    /// use oauth2_core::server::ServerConfig;
    /// let config = ServerConfig::new("https://as.example").device_grant(Duration::from_secs(5), Duration::from_secs(600));
    /// assert!(config.grant_types.contains(&GrantType::DeviceCode));
    /// assert_eq!(config.device_authorization_path, "/device_authorization");
    /// ```
    pub fn device_grant(mut self, interval: Duration, lifetime: Duration) -> Self {
        self.device_interval = interval.clamp(Duration::from_secs(1), crate::server::store::MAX_DEVICE_INTERVAL);
        self.device_code_lifetime = lifetime;
        self.offer(GrantType::DeviceCode)
    }

    /// Requires every client to push its authorization requests to `/par` first (RFC 9126 §5): `/authorize` then
    /// takes only `client_id` and a `request_uri`.
    pub fn require_pushed_authorization_requests(mut self, yes: bool) -> Self {
        self.require_pushed_authorization_requests = yes;
        self
    }

    /// How long a pushed request's `request_uri` is good (RFC 9126 §2.2; at least 1 s is used).
    pub fn pushed_request_lifetime(mut self, lifetime: Duration) -> Self {
        self.pushed_request_lifetime = lifetime.max(Duration::from_secs(1));
        self
    }

    /// Sets how far a DPoP proof's `iat` may be from the server's clock (at least 1 s, at most 5 minutes).
    pub fn dpop_proof_window(mut self, window: Duration) -> Self {
        self.dpop_proof_window = window.clamp(Duration::from_secs(1), Duration::from_secs(300));
        self
    }

    /// Adds `grant` to those the server offers, if it is not there yet.
    pub fn offer(mut self, grant: GrantType) -> Self {
        if !self.grant_types.contains(&grant) {
            self.grant_types.push(grant);
        }
        self
    }

    /// Where the OpenID Provider metadata is served: the issuer's path followed by
    /// `/.well-known/openid-configuration` (OpenID Connect Discovery §4).
    pub fn openid_configuration_path(&self) -> String {
        let path = url::Url::parse(&self.issuer).map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default();
        format!("{path}/.well-known/openid-configuration")
    }

    /// Where the RFC 8414 metadata document is served: `/.well-known/oauth-authorization-server` with the issuer's
    /// path after it (RFC 8414 §3.1).
    pub fn metadata_path(&self) -> String {
        let path = url::Url::parse(&self.issuer).map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default();
        format!("/.well-known/oauth-authorization-server{path}")
    }
}
