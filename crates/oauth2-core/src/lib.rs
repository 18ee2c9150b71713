//! # oauth2-core: OAuth 2.0 without I/O
//!
//! Every protocol decision of OAuth 2.0 (RFC 6749) and its companions (RFC 6750, 7009, 7636, 7662, 8414, 9207,
//! 9700) as functions over plain values: requests and responses are [`http::Request`] / [`http::Response`], URLs are
//! [`url::Url`], tokens are serde values. This crate opens no socket and needs no runtime: **time is an argument**
//! (`now`) and **randomness is injected** (`rng`), so any HTTP stack can drive it and tests are deterministic.
//! `oauth2-reqwest` drives it on reqwest; the same calls work with any other client.
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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The shared wire types, at the bottom: both sides and the resource server use them.
pub mod error;
pub mod form;
pub mod grant;
pub mod html;
pub mod introspection;
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
