//! The client side of OAuth 2.0 (RFC 6749 §4, §6): build requests, parse responses; the caller does the I/O.
//!
//! A [`Client`] is the registration of one app with one authorization server. Each grant is a method that returns
//! an `http::Request<Vec<u8>>` for the caller to send; each response goes back through a `parse_*` method that
//! returns a typed value or a typed error. Time (`now`) and randomness (`rng`) are arguments.
//!
//! | grant | request | response |
//! |---|---|---|
//! | authorization code (§4.1) | [`Client::authorization_request`] → URL + [`PendingAuthorization`]; then [`Client::finish_authorization`] | [`Client::parse_token_response`] |
//! | implicit (§4.2, legacy) | [`Client::implicit_request`]; then [`Client::finish_implicit`] | — |
//! | password (§4.3) | [`Client::password_request`] | [`Client::parse_token_response`] |
//! | client credentials (§4.4) | [`Client::client_credentials_request`] | [`Client::parse_token_response`] |
//! | refresh (§6) | [`Client::refresh_request`] | [`Client::parse_refresh_response`] |
//! | revocation (RFC 7009) | [`Client::revocation_request`] | [`Client::parse_revocation_response`] |
//! | introspection (RFC 7662) | [`Client::introspection_request`] | [`Client::parse_introspection_response`] |
//! | device (RFC 8628) | [`Client::device_authorization_request`] → [`Client::parse_device_authorization_response`]; then [`Client::device_token_request`] at [`DevicePoll`]'s times | [`DevicePoll::on_response`] |
//! | discovery (RFC 8414 §3) | [`discovery_urls`](crate::metadata::discovery_urls) | [`parse_metadata`] |

mod authorization;
mod bearer;
mod device;
mod discovery;
#[cfg(feature = "jose")]
mod id_token;
mod introspection;
mod par;
pub(crate) mod response;
mod revocation;
mod token;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use url::Url;

pub use authorization::{AuthorizationUrlBuilder, CallbackError, PendingAuthorization};
#[cfg(feature = "jose")]
pub use bearer::asks_for_dpop_nonce;
pub use bearer::{BearerChallenge, InvalidChallenge, InvalidTokenValue, ParsedChallenge, parse_challenges};
pub use device::{
    DEFAULT_INTERVAL, DeviceAuthorization, DeviceCode, DeviceFlowError, DevicePoll, DeviceStep, MAX_INTERVAL,
};
pub use discovery::{DiscoveryError, parse_metadata};
#[cfg(feature = "jose")]
pub use id_token::{IdTokenClaims, IdTokenError};
pub use par::PushedAuthorization;
pub use response::ResponseError;
pub use token::{Token, TokenType};

use crate::introspection::TokenTypeHint;
use crate::metadata::AuthorizationServerMetadata;
use crate::pkce::PkceMethod;
use crate::scope::Scope;
use crate::secret::{ClientSecret, Password, RefreshToken};
use crate::security::{InsecureEndpoint, check_endpoint};

/// How the client proves its identity at the token, revocation and introspection endpoints (RFC 6749 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-encoded id and secret (§2.3.1); the default for confidential clients.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body (§2.3.1).
    ClientSecretPost,
    /// A public client: only `client_id` in the body (§2.1, §3.2.1).
    None,
}

impl ClientAuthMethod {
    /// The RFC 8414 / RFC 7591 name of the method.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }
}

/// A function that rewrites an outgoing request, for a provider that departs from the RFC.
pub type RequestHook = Arc<dyn Fn(&mut http::Request<Vec<u8>>) + Send + Sync>;
/// A function that rewrites an incoming response before it is parsed.
pub type ResponseHook = Arc<dyn Fn(&mut http::Response<Vec<u8>>) + Send + Sync>;

/// A client configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL does not parse.
    #[error("{field} is not a valid URL: {value}")]
    InvalidUrl {
        /// Which setting.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// An endpoint uses plain http on a non-loopback host without the opt-in.
    #[error("{field}: {source}")]
    Insecure {
        /// Which setting.
        field: &'static str,
        /// The refused endpoint.
        source: InsecureEndpoint,
    },
    /// `client_secret_basic` or `client_secret_post` was chosen without a secret.
    #[error("{0} needs a client secret")]
    MissingSecret(&'static str),
    /// `require_issuer` was set without an expected issuer.
    #[error("requiring `iss` in authorization responses needs the expected issuer")]
    MissingIssuer,
}

/// A request the client cannot build with its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The endpoint this request goes to is not configured.
    #[error("no {0} is configured")]
    MissingEndpoint(&'static str),
    /// A scope token has characters RFC 6749 §3.3 does not allow.
    #[error("scope `{0}` has characters RFC 6749 §3.3 does not allow")]
    InvalidScope(String),
    /// An extra parameter would override one the protocol sets.
    #[error("`{0}` is set by the protocol and cannot be given as an extra parameter")]
    ReservedParameter(String),
    /// The pending authorization belongs to another flow (implicit instead of code, or the reverse).
    #[error("this pending authorization was started for response_type={0}")]
    WrongFlow(&'static str),
}

/// One app's registration with one authorization server, and the protocol rules it follows.
///
/// Build it with [`Client::builder`]. It is cheap to clone and shareable across threads.
///
/// ```
/// use oauth2_core::Client;
/// let client = Client::builder("my-app")
///     .secret("s3cret")
///     .authorization_endpoint("https://as.example/authorize")
///     .token_endpoint("https://as.example/token")
///     .redirect_uri("https://app.example/callback")
///     .build()
///     .unwrap();
/// assert_eq!(client.client_id(), "my-app");
/// ```
#[derive(Clone)]
pub struct Client {
    client_id: String,
    secret: Option<ClientSecret>,
    auth_method: ClientAuthMethod,
    authorization_endpoint: Option<Url>,
    token_endpoint: Option<Url>,
    revocation_endpoint: Option<Url>,
    introspection_endpoint: Option<Url>,
    jwks_uri: Option<Url>,
    userinfo_endpoint: Option<Url>,
    device_authorization_endpoint: Option<Url>,
    pushed_authorization_request_endpoint: Option<Url>,
    require_pushed_authorization_requests: bool,
    redirect_uri: Option<Url>,
    issuer: Option<String>,
    require_issuer: bool,
    pkce: Option<PkceMethod>,
    lenient: bool,
    request_hooks: Vec<RequestHook>,
    response_hooks: Vec<ResponseHook>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("auth_method", &self.auth_method)
            .field("authorization_endpoint", &self.authorization_endpoint.as_ref().map(Url::as_str))
            .field("token_endpoint", &self.token_endpoint.as_ref().map(Url::as_str))
            .field("issuer", &self.issuer)
            .field("pkce", &self.pkce)
            .field("lenient", &self.lenient)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]; see [`Client::builder`]. URLs are checked in [`build`](ClientBuilder::build).
#[derive(Clone)]
#[must_use]
pub struct ClientBuilder {
    client_id: String,
    secret: Option<ClientSecret>,
    auth_method: Option<ClientAuthMethod>,
    urls: Vec<(&'static str, String)>,
    require_pushed_authorization_requests: bool,
    issuer: Option<String>,
    require_issuer: bool,
    pkce: Option<PkceMethod>,
    lenient: bool,
    allow_insecure_http: bool,
    request_hooks: Vec<RequestHook>,
    response_hooks: Vec<ResponseHook>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("urls", &self.urls)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    fn url(mut self, field: &'static str, value: impl AsRef<str>) -> Self {
        self.urls.retain(|(f, _)| *f != field);
        self.urls.push((field, value.as_ref().to_owned()));
        self
    }

    /// The client secret of a confidential client (RFC 6749 §2.3.1). Without one the client is public.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(ClientSecret::new(secret));
        self
    }

    /// How to authenticate; defaults to `client_secret_basic` with a secret and `none` without.
    pub fn auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.auth_method = Some(method);
        self
    }

    /// The authorization endpoint (RFC 6749 §3.1).
    pub fn authorization_endpoint(self, url: impl AsRef<str>) -> Self {
        self.url("authorization_endpoint", url)
    }

    /// The token endpoint (RFC 6749 §3.2).
    pub fn token_endpoint(self, url: impl AsRef<str>) -> Self {
        self.url("token_endpoint", url)
    }

    /// The revocation endpoint (RFC 7009).
    pub fn revocation_endpoint(self, url: impl AsRef<str>) -> Self {
        self.url("revocation_endpoint", url)
    }

    /// The introspection endpoint (RFC 7662).
    pub fn introspection_endpoint(self, url: impl AsRef<str>) -> Self {
        self.url("introspection_endpoint", url)
    }

    /// The issuer's JWK Set, which id_tokens are checked against (RFC 8414 §2 `jwks_uri`).
    pub fn jwks_uri(self, url: impl AsRef<str>) -> Self {
        self.url("jwks_uri", url)
    }

    /// The OpenID Connect UserInfo endpoint (OIDC Core §5.3).
    pub fn userinfo_endpoint(self, url: impl AsRef<str>) -> Self {
        self.url("userinfo_endpoint", url)
    }

    /// The device authorization endpoint (RFC 8628 §3.1).
    pub fn device_authorization_endpoint(self, url: impl AsRef<str>) -> Self {
        self.url("device_authorization_endpoint", url)
    }

    /// The pushed authorization request endpoint (RFC 9126 §2).
    pub fn pushed_authorization_request_endpoint(self, url: impl AsRef<str>) -> Self {
        self.url("pushed_authorization_request_endpoint", url)
    }

    /// The server requires pushed authorization requests (RFC 9126 §5): what its metadata's
    /// `require_pushed_authorization_requests` says, which [`metadata`](Self::metadata) takes.
    pub fn require_pushed_authorization_requests(mut self, required: bool) -> Self {
        self.require_pushed_authorization_requests = required;
        self
    }

    /// The registered redirect URI sent in authorization and code-exchange requests (RFC 6749 §3.1.2).
    pub fn redirect_uri(self, url: impl AsRef<str>) -> Self {
        self.url("redirect_uri", url)
    }

    /// The authorization server's issuer identifier: `iss` in authorization responses must equal it (RFC 9207).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Rejects authorization responses without `iss` (RFC 9207 §2.4). Set automatically by
    /// [`metadata`](Self::metadata) when the server advertises `authorization_response_iss_parameter_supported`.
    pub fn require_issuer(mut self, require: bool) -> Self {
        self.require_issuer = require;
        self
    }

    /// Takes the endpoints and issuer from RFC 8414 metadata (explicitly set endpoints are replaced).
    pub fn metadata(mut self, metadata: &AuthorizationServerMetadata) -> Self {
        self.issuer = Some(metadata.issuer.clone());
        if metadata.authorization_response_iss_parameter_supported == Some(true) {
            self.require_issuer = true;
        }
        // An explicit requirement stays: the metadata can add one, not take it away.
        self.require_pushed_authorization_requests |= metadata.require_pushed_authorization_requests;
        let endpoints = [
            ("authorization_endpoint", &metadata.authorization_endpoint),
            ("token_endpoint", &metadata.token_endpoint),
            ("revocation_endpoint", &metadata.revocation_endpoint),
            ("introspection_endpoint", &metadata.introspection_endpoint),
            ("jwks_uri", &metadata.jwks_uri),
            ("userinfo_endpoint", &metadata.userinfo_endpoint),
            ("device_authorization_endpoint", &metadata.device_authorization_endpoint),
            ("pushed_authorization_request_endpoint", &metadata.pushed_authorization_request_endpoint),
        ];
        for (field, value) in endpoints {
            if let Some(v) = value {
                self = self.url(field, v);
            }
        }
        self
    }

    /// The PKCE method for authorization requests: `Some(S256)` by default. `None` turns PKCE off, which only a
    /// server that rejects `code_challenge` should ever need (RFC 9700 §2.1.1).
    pub fn pkce(mut self, method: Option<PkceMethod>) -> Self {
        self.pkce = method;
        self
    }

    /// Lenient parsing for providers that break RFC 6749 §5.1: `expires_in` as a string, a missing `token_type`
    /// (taken as Bearer), form-encoded bodies, an `error` field in a 2xx body, any 2xx status. Off by default.
    pub fn lenient(mut self, lenient: bool) -> Self {
        self.lenient = lenient;
        self
    }

    /// Allows plain-http endpoints on non-loopback hosts. Tokens and secrets then cross the network in clear text.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Adds a hook that rewrites every request to the token, revocation and introspection endpoints after it is
    /// built (like requests-oauthlib's compliance hooks).
    pub fn request_hook(mut self, hook: impl Fn(&mut http::Request<Vec<u8>>) + Send + Sync + 'static) -> Self {
        self.request_hooks.push(Arc::new(hook));
        self
    }

    /// Adds a hook that rewrites every response from those endpoints before it is parsed.
    pub fn response_hook(mut self, hook: impl Fn(&mut http::Response<Vec<u8>>) + Send + Sync + 'static) -> Self {
        self.response_hooks.push(Arc::new(hook));
        self
    }

    /// Checks the configuration and builds the client.
    pub fn build(self) -> Result<Client, ConfigError> {
        let auth_method = self.auth_method.unwrap_or(if self.secret.is_some() {
            ClientAuthMethod::ClientSecretBasic
        } else {
            ClientAuthMethod::None
        });
        if auth_method != ClientAuthMethod::None && self.secret.is_none() {
            return Err(ConfigError::MissingSecret(auth_method.as_str()));
        }
        if self.require_issuer && self.issuer.is_none() {
            return Err(ConfigError::MissingIssuer);
        }
        let mut client = Client {
            client_id: self.client_id,
            secret: self.secret,
            auth_method,
            authorization_endpoint: None,
            token_endpoint: None,
            revocation_endpoint: None,
            introspection_endpoint: None,
            jwks_uri: None,
            userinfo_endpoint: None,
            device_authorization_endpoint: None,
            pushed_authorization_request_endpoint: None,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            redirect_uri: None,
            issuer: self.issuer,
            require_issuer: self.require_issuer,
            pkce: self.pkce,
            lenient: self.lenient,
            request_hooks: self.request_hooks,
            response_hooks: self.response_hooks,
        };
        for (field, value) in self.urls {
            let url = Url::parse(&value).map_err(|_| ConfigError::InvalidUrl { field, value: value.clone() })?;
            // The redirect URI is where the browser goes, not where we send secrets; RFC 8252 native apps may
            // even use private-use schemes, so it is exempt from the TLS rule.
            if field != "redirect_uri" {
                check_endpoint(&url, self.allow_insecure_http)
                    .map_err(|source| ConfigError::Insecure { field, source })?;
            }
            let slot = match field {
                "authorization_endpoint" => &mut client.authorization_endpoint,
                "token_endpoint" => &mut client.token_endpoint,
                "revocation_endpoint" => &mut client.revocation_endpoint,
                "introspection_endpoint" => &mut client.introspection_endpoint,
                "jwks_uri" => &mut client.jwks_uri,
                "userinfo_endpoint" => &mut client.userinfo_endpoint,
                "device_authorization_endpoint" => &mut client.device_authorization_endpoint,
                "pushed_authorization_request_endpoint" => &mut client.pushed_authorization_request_endpoint,
                _ => &mut client.redirect_uri,
            };
            *slot = Some(url);
        }
        Ok(client)
    }
}

impl Client {
    /// Starts a configuration for the client registered as `client_id`.
    pub fn builder(client_id: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            client_id: client_id.into(),
            secret: None,
            auth_method: None,
            urls: Vec::new(),
            require_pushed_authorization_requests: false,
            issuer: None,
            require_issuer: false,
            pkce: Some(PkceMethod::S256),
            lenient: false,
            allow_insecure_http: false,
            request_hooks: Vec::new(),
            response_hooks: Vec::new(),
        }
    }

    /// The client identifier.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client authentication method in use.
    pub fn auth_method(&self) -> ClientAuthMethod {
        self.auth_method
    }

    /// The configured redirect URI.
    pub fn redirect_uri(&self) -> Option<&Url> {
        self.redirect_uri.as_ref()
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> Option<&Url> {
        self.token_endpoint.as_ref()
    }

    /// The issuer's JWK Set.
    pub fn jwks_uri(&self) -> Option<&Url> {
        self.jwks_uri.as_ref()
    }

    /// The OpenID Connect UserInfo endpoint.
    pub fn userinfo_endpoint(&self) -> Option<&Url> {
        self.userinfo_endpoint.as_ref()
    }

    /// The device authorization endpoint (RFC 8628 §3.1).
    pub fn device_authorization_endpoint(&self) -> Option<&Url> {
        self.device_authorization_endpoint.as_ref()
    }

    /// The pushed authorization request endpoint (RFC 9126 §2).
    pub fn pushed_authorization_request_endpoint(&self) -> Option<&Url> {
        self.pushed_authorization_request_endpoint.as_ref()
    }

    /// Whether the server requires pushed authorization requests of every client (its metadata says so, RFC 9126
    /// §5): then authorization requests go through [`build_pushed`](AuthorizationUrlBuilder::build_pushed).
    pub fn requires_pushed_authorization_requests(&self) -> bool {
        self.require_pushed_authorization_requests
    }

    /// The expected issuer, if known.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// Whether lenient parsing is on.
    pub fn is_lenient(&self) -> bool {
        self.lenient
    }

    /// Resource owner password credentials grant (RFC 6749 §4.3.2). Legacy: RFC 9700 §2.4 says not to use it.
    pub fn password_request(
        &self,
        username: &str,
        password: &Password,
        scope: impl Into<Scope>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let scope = checked_scope(scope.into())?;
        let mut params = vec![("grant_type", "password"), ("username", username), ("password", password.secret())];
        let scope_s = scope.to_string();
        if !scope.is_empty() {
            params.push(("scope", &scope_s));
        }
        self.token_endpoint_request(&params)
    }

    /// Client credentials grant (RFC 6749 §4.4.2). Only for confidential clients (§4.4).
    pub fn client_credentials_request(&self, scope: impl Into<Scope>) -> Result<http::Request<Vec<u8>>, RequestError> {
        let scope = checked_scope(scope.into())?;
        let scope_s = scope.to_string();
        let mut params = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            params.push(("scope", &scope_s));
        }
        self.token_endpoint_request(&params)
    }

    /// Refresh request (RFC 6749 §6). An empty `scope` asks for the originally granted scope; a narrower one
    /// asks for less.
    pub fn refresh_request(
        &self,
        refresh_token: &RefreshToken,
        scope: impl Into<Scope>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let scope = checked_scope(scope.into())?;
        let scope_s = scope.to_string();
        let mut params = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token.secret())];
        if !scope.is_empty() {
            params.push(("scope", &scope_s));
        }
        self.token_endpoint_request(&params)
    }

    /// A client-authenticated POST of `token` and its hint: the shape RFC 7009 §2.1 and RFC 7662 §2.1 share.
    fn token_management_request(
        &self,
        endpoint: &Option<Url>,
        name: &'static str,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let url = endpoint.as_ref().ok_or(RequestError::MissingEndpoint(name))?;
        let mut params = vec![("token", token)];
        if let Some(h) = hint {
            params.push(("token_type_hint", h.as_str()));
        }
        Ok(self.authenticated_post(url, &params))
    }

    /// A POST of `params` to the token endpoint with client authentication (§2.3, §3.2).
    fn token_endpoint_request(&self, params: &[(&str, &str)]) -> Result<http::Request<Vec<u8>>, RequestError> {
        let url = self.token_endpoint.as_ref().ok_or(RequestError::MissingEndpoint("token_endpoint"))?;
        Ok(self.authenticated_post(url, params))
    }

    fn authenticated_post(&self, url: &Url, params: &[(&str, &str)]) -> http::Request<Vec<u8>> {
        let mut params = params.to_vec();
        let mut basic = None;
        match (self.auth_method, &self.secret) {
            (ClientAuthMethod::ClientSecretBasic, Some(secret)) => {
                basic = Some(basic_credentials(&self.client_id, secret.secret()));
            }
            (ClientAuthMethod::ClientSecretPost, Some(secret)) => {
                params.push(("client_id", &self.client_id));
                params.push(("client_secret", secret.secret()));
            }
            _ => params.push(("client_id", &self.client_id)),
        }
        let body = crate::form::encode(params.iter().copied()).into_bytes();
        let mut request = http::Request::new(body);
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri_of(url);
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, http::HeaderValue::from_static("application/x-www-form-urlencoded"));
        headers.insert(ACCEPT, http::HeaderValue::from_static("application/json"));
        if let Some(value) = basic {
            headers.insert(AUTHORIZATION, value);
        }
        for hook in &self.request_hooks {
            hook(&mut request);
        }
        request
    }

    /// Runs the response hooks: every parser starts here.
    fn prepare(&self, mut response: http::Response<Vec<u8>>) -> http::Response<Vec<u8>> {
        for hook in &self.response_hooks {
            hook(&mut response);
        }
        response
    }
}

/// `Authorization: Basic` for a client: id and secret are form-encoded before base64 (RFC 6749 §2.3.1).
pub fn basic_credentials(client_id: &str, secret: &str) -> http::HeaderValue {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let creds = STANDARD.encode(format!("{}:{}", encode(client_id), encode(secret)));
    let mut value = http::HeaderValue::try_from(format!("Basic {creds}")).unwrap_or_else(|_| {
        // base64 output and the ASCII prefix are always a valid header value.
        http::HeaderValue::from_static("Basic")
    });
    value.set_sensitive(true);
    value
}

fn checked_scope(scope: Scope) -> Result<Scope, RequestError> {
    if scope.is_valid_syntax() { Ok(scope) } else { Err(RequestError::InvalidScope(scope.to_string())) }
}

/// `url::Url` to `http::Uri`. A parsed `Url` is always a valid URI (it is percent-encoded; checked for every
/// printable ASCII character in path, query and fragment), so the fallback is unreachable; it keeps this total.
fn uri_of(url: &Url) -> http::Uri {
    url.as_str().parse().unwrap_or_default()
}

#[cfg(test)]
mod tests;
