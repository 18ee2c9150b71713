//! # oauth2-core: OAuth 2.0 without I/O
//!
//! Every protocol decision of OAuth 2.0 (RFC 6749) and its companions (RFC 6750, 7009, 7636, 7662, 8252, 8414,
//! 8628, 9068, 9126, 9207, 9449, 9700) as functions over plain values: requests and responses are [`http::Request`] / [`http::Response`],
//! URLs are [`url::Url`], tokens are serde values. This crate opens no socket and needs no runtime: **time is an
//! argument** (`now`) and **randomness is injected** (`rng`), so any HTTP stack can drive it and tests are
//! deterministic. `oauth2-reqwest` drives it on reqwest; the same calls work with any other client.
//!
//! ## Where each rule lives
//!
//! Tests are named after the section they enforce (`rfc6749_4_1_2_...`), and `cargo xtask lint` checks that every
//! such section is in this map. Paths are under `src/`.
//!
//! | RFC section | file |
//! |---|---|
//! | RFC 6749 §2.3, §2.3.1, §3.2.1 (client authentication) | `server/rules/client_auth.rs`; the client's side in `client/mod.rs` |
//! | RFC 6749 §3.1, §3.2 (request form, repeated parameters) | `form.rs`, `server/rules/request.rs` |
//! | RFC 6749 §3.1.2, RFC 9700 §4.1.1, RFC 8252 §7.3 (redirect URIs) | `server/rules/redirect_uri.rs` |
//! | RFC 6749 §3.3, §6 (scope) | `scope.rs`, `server/rules/scope.rs` |
//! | RFC 6749 §4 (grant and response types) | `grant.rs` |
//! | RFC 6749 §4.1, §4.1.1, §4.1.2, §4.1.2.1, §4.2, §4.2.2 (authorization endpoint) | `server/endpoint/authorize.rs`; the client's side in `client/authorization.rs` |
//! | RFC 6749 §4.1.2, §4.1.3, §4.3, §4.3.2, §4.4, §4.4.2, §4.4.3, §6 (token endpoint) | `server/endpoint/token.rs`, the atomic steps in `server/store/`; the client's side in `client/mod.rs`, `client/response.rs` |
//! | RFC 6749 §5.1, §5.2 (token and error responses) | `server/endpoint/token.rs`, `error.rs`, `reply.rs`; the client's side in `client/response.rs`, `client/token.rs` |
//! | RFC 6749 §10.4, §10.12, §10.15 (security considerations) | `server/endpoint/token.rs`, `server/endpoint/authorize.rs`, `client/authorization.rs` |
//! | RFC 6750 §2.1, §3, §3.1 (Bearer tokens at resources) | `resource/mod.rs`, `error.rs` (challenges); the client's side in `client/bearer.rs` |
//! | RFC 6750 §5.3, RFC 8252 §8.3 (TLS, loopback) | `security.rs` |
//! | RFC 7009 §2, §2.1 (revocation) | `server/endpoint/revocation.rs`, `client/revocation.rs` |
//! | RFC 7235 §4.1 (challenges) | `client/bearer.rs`, `error.rs` |
//! | RFC 7515 §4.1.9, §4.1.11, §5.2, Appendix A (JWS) | `jose/jws.rs`, `jose/key.rs` |
//! | RFC 7517 §5, RFC 7638 §3.1, RFC 8037 Appendix A (JWK, thumbprints, Ed25519) | `jose/jwk.rs`, `jose/key.rs`; the server's keys and `jwks_uri` in `server/keys.rs`, `server/endpoint/metadata.rs` |
//! | RFC 7518 §3.1 (algorithms: no `none`, no HMAC) | `jose/mod.rs`, `jose/jws.rs` |
//! | RFC 7519 §4.1.1, §4.1.3, §4.1.4, §4.1.5 (JWT claims) | `jose/jwt.rs` |
//! | OIDC Core §3.1.2.1, §3.1.2.6 (`nonce`, `prompt`, `max_age`, `login_hint`) | `server/endpoint/authorize.rs`; the client's `nonce` in `client/authorization.rs` |
//! | OIDC Core §5.3.1, §5.3.2 (UserInfo) | `server/endpoint/userinfo.rs`; the client's check in `client/id_token.rs` |
//! | OIDC Discovery §3, §4 (OpenID Provider metadata) | `server/endpoint/metadata.rs` |
//! | OIDC Core §3.1.3.3, §3.1.3.6, §3.1.3.7, §12.2 (the id_token, `at_hash`, its algorithm, on refresh) | `server/rules/id_token.rs`, `server/endpoint/token.rs`, `jose/mod.rs`; the client's checks in `client/id_token.rs` |
//! | RFC 7636 §4.1, §4.2, §4.3, §4.4.1, §4.6, Appendix B (PKCE) | `pkce.rs`, `server/endpoint/authorize.rs`, `server/endpoint/token.rs` |
//! | RFC 7662 §2, §2.1, §2.2 (introspection; resource servers that introspect) | `server/endpoint/introspection.rs`, `server/rules/resource.rs`, `introspection.rs`, `client/introspection.rs` |
//! | RFC 7662 §4 (caching introspection answers) | `resource/cache.rs` |
//! | RFC 8707 §2, §2.2 (resource indicators, `invalid_target`) | `server/rules/resource.rs`, `form.rs` (the one parameter that may repeat), `server/endpoint/token.rs`, `server/endpoint/authorize.rs` |
//! | RFC 8628 §3.1, §3.2, §3.3, §4 (device authorization: codes, the verification page, metadata) | `server/endpoint/device.rs`, `server/rules/user_code.rs`, `server/endpoint/metadata.rs`; the client's side in `client/device.rs` |
//! | RFC 8628 §3.4, §3.5 (the device access token request: `authorization_pending`, `slow_down`, `access_denied`, `expired_token`, one redemption) | `server/endpoint/device.rs`, `server/store/records.rs` (`DeviceCodeRecord::after_poll`), the atomic steps in `server/store/`; the client's polling in `client/device.rs` |
//! | RFC 9126 §2, §2.1, §2.2, §2.3 (the pushed authorization request endpoint: client authentication, validation, `request_uri`, errors) | `server/endpoint/par.rs`, `server/endpoint/authorize.rs` (`validate`); the client's push in `client/authorization.rs` (`build_pushed`) and `client/par.rs` |
//! | RFC 9126 §4, §5, §6 (the authorization request with `request_uri`: single use, bound to the client; metadata; per-client and server-wide requirement) | `server/endpoint/authorize.rs` (`pushed_request`), the store's `take_pushed_request`, `server/endpoint/metadata.rs`; `client/par.rs` |
//! | RFC 8628 §5.1, §5.2, §6.1 (user code guessing, device authorization requests per address, the alphabet and entropy) | `server/rules/throttle.rs`, `server/rules/user_code.rs`, `server/endpoint/device.rs` |
//! | RFC 9449 §4.2, §4.3, §8, §11.1 (DPoP proofs: made, checked, nonces, replay) | `dpop.rs`; the server's check in `server/dpop.rs`, the store's `first_use` in `server/store/` |
//! | RFC 9449 §5, §5.1, §5.2, §6.1, §6.2, §10, §10.1 (DPoP-bound tokens: the token endpoint, metadata, `dpop_bound_access_tokens`, `cnf.jkt`, `dpop_jkt`) | `server/endpoint/token.rs`, `server/dpop.rs`, `server/endpoint/authorize.rs`, `server/endpoint/par.rs`, `server/rules/access_token.rs`, `server/endpoint/introspection.rs`, `server/endpoint/metadata.rs` |
//! | RFC 9449 §7, §7.1, §7.2 (DPoP at resources: the scheme, `ath`, the key binding, challenges) | `resource/mod.rs`, `resource/dpop.rs`, `error.rs` |
//! | RFC 9068 §2.1, §2.2, §2.2.1, §3 (JWT access tokens: header, claims, audience) | `server/rules/access_token.rs`, `server/access.rs` |
//! | RFC 7800 §3.1 (`cnf`: a token bound by a method other than DPoP's `jkt` is refused, never taken as Bearer) | `introspection.rs`, `resource/jwt.rs`; oauth2-reqwest's `resource.rs` |
//! | RFC 9068 §4 (validating JWT access tokens) | `resource/jwt.rs`; the issuer's own check in `server/access.rs` |
//! | RFC 8259 §7 (JSON strings) | `reply.rs` |
//! | RFC 8414 §2, §3.1, §3.2, §3.3 (metadata, discovery) | `metadata.rs`, `server/endpoint/metadata.rs`, `client/discovery.rs` |
//! | RFC 9207 §2, §2.4 (`iss`) | `server/endpoint/authorize.rs`, `client/authorization.rs` |
//! | RFC 9700 §2.1.1, §2.1.2, §4.2.4, §4.14.2 (current best practice) | `server/endpoint/token.rs`, `server/endpoint/authorize.rs`, `server/store/` |
//!
//! The layers depend one way: the shared wire types at the top of this list of modules (errors, grant types,
//! forms, scopes, PKCE, secrets, metadata) know nothing of the roles; [`client`], [`resource`] and [`server`] use
//! them, and `client` and `server` never use each other.
//!
//! ## The client side, driven by hand
//!
//! ```
//! use std::time::SystemTime;
//! use oauth2_core::{Client, random::OsRng};
//!
//! let client = Client::builder("my-app")
//!     .secret("s3cret")
//!     .authorization_endpoint("https://as.example/authorize")
//!     .token_endpoint("https://as.example/token")
//!     .redirect_uri("https://app.example/callback")
//!     .build()?;
//!
//! // 1. Send the user to `url`; keep `pending` in their session (it is serializable).
//! let (url, pending) = client.authorization_request(&mut OsRng).scope("read profile").build()?;
//!
//! // 2. The browser comes back. The state is checked (CSRF) and the code exchange is built.
//! let callback = format!("https://app.example/callback?code=SplxlOBeZQQYbYS6WxSbIA&state={}", pending.state.secret());
//! let request: http::Request<Vec<u8>> = client.finish_authorization(&pending, &callback)?;
//!
//! // 3. Send `request` with any HTTP client; hand the response back with the time it arrived.
//! let response = http::Response::builder()
//!     .header("content-type", "application/json")
//!     .body(br#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","expires_in":3600}"#.to_vec())?;
//! let token = client.parse_token_response(response, SystemTime::now())?;
//!
//! // 4. Call APIs with it.
//! let mut api_call = http::Request::get("https://api.example/me").body(())?;
//! token.authorize(&mut api_call)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every grant has a request builder and a parser on [`Client`]; see the [`client`] module for the table.
//!
//! ## Security defaults
//! - PKCE S256 on every authorization code request; `state` of 256 random bits, compared in constant time.
//! - `iss` in authorization responses is checked when the issuer is known, and required when the server's metadata
//!   says it sends it (RFC 9207).
//! - Endpoints must be `https`, except on loopback, unless the caller opts in.
//! - Secrets ([`secret`]) have a redacted `Debug` and constant-time equality.
//! - Strict parsing by default; [`ClientBuilder::lenient`] accepts the common provider deviations, per client.
//!
//! ## Features
//! - `os-rng` (default): [`random::OsRng`], the operating system's CSPRNG. Without it, pass any
//!   [`rand_core::CryptoRng`].
//! - `jose` (default): [`jose`], JWS/JWK/JWT on aws-lc-rs (RS256, ES256, EdDSA). Cryptography is aws-lc-rs's; the
//!   core still opens no socket and reads no clock.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The shared wire types, at the bottom: both sides and the resource server use them.
#[cfg(feature = "jose")]
pub mod dpop;
pub mod error;
pub mod form;
pub mod grant;
pub mod html;
pub mod introspection;
#[cfg(feature = "jose")]
pub mod jose;
pub mod metadata;
pub mod pkce;
pub mod random;
mod reply;
pub mod scope;
pub mod secret;
pub mod security;

// The three roles, above them; client/ and server/ never name each other (`cargo xtask lint` checks).
pub mod client;
pub mod resource;
pub mod server;

pub use client::{Client, ClientAuthMethod, ClientBuilder, PendingAuthorization, ResponseError, Token};
pub use error::{ErrorCode, ErrorResponse, OAuthError, StoreError};
pub use scope::Scope;
pub use secret::{AccessToken, AuthorizationCode, ClientSecret, Password, RefreshToken, State};

pub use http;
pub use rand_core;
pub use url;
