//! # oauth2-reqwest: OAuth 2.0 client sessions on reqwest
//!
//! Runs `oauth2-core`'s client flows over [`reqwest`]. The core decides everything (what to send, what an answer
//! means); this crate only sends its `http::Request`s and hands back the `http::Response`s ([`execute`]), plus a
//! [`Session`] that keeps the token, attaches it to your API calls, and refreshes it.
//!
//! ```no_run
//! use oauth2_core::Client;
//! use oauth2_reqwest::Session;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder("my-app")
//!     .secret("s3cret")
//!     .authorization_endpoint("https://as.example/authorize")
//!     .token_endpoint("https://as.example/token")
//!     .redirect_uri("https://app.example/callback")
//!     .build()?;
//! let session = Session::builder(client)
//!     .on_refresh(|token| { /* save serde_json::to_string(token) */ })
//!     .build()?;
//!
//! // Log in: send the user to `url`, keep `pending` in their session. The request is pushed first (RFC 9126)
//! // when the server requires it or the session was built with `.par(true)`.
//! let (url, pending) = session.start_authorization("read profile").await?;
//! // The browser comes back to https://app.example/callback?code=...&state=...
//! # let callback_url = "";
//! let token = session.finish_authorization(&pending, callback_url).await?; // state checked, code redeemed
//!
//! // Call APIs: the token is attached and refreshed when needed.
//! let me: serde_json::Value = session.get("https://api.example/me").send().await?.json().await?;
//! # Ok(()) }
//! ```
//!
//! Pushed authorization requests (RFC 9126): [`SessionBuilder::par`] and [`Session::pushed_authorization_url`].
//! Sender-constrained tokens (DPoP, RFC 9449): [`SessionBuilder::dpop`] with an
//! [`oauth2_core::dpop::DpopKey`]: every token request and API call then carries a fresh proof, servers' nonces
//! included; [`DpopSigner`] does the same for requests built by hand.
//! Other grants: [`Session::client_credentials`], [`Session::device_authorization`] (RFC 8628), [`Session::password`], [`Session::implicit_url`] (legacy), and
//! [`Session::refresh`]; token management: [`Session::revoke`], [`Session::introspect`]; endpoints from an issuer:
//! [`discover`].
//!
//! ## Automatic refresh
//! Before each request the session refreshes a token that expires within the margin
//! ([`SessionBuilder::refresh_margin`], 30 s by default), and after a `401` with `error="invalid_token"` it refreshes
//! once and retries. Concurrent requests share a single refresh. Every refreshed token goes to
//! [`SessionBuilder::on_refresh`]. A failed refresh is [`Error::RefreshFailed`]: the app decides whether to send the
//! user to log in again. Client-credentials tokens are renewed by asking for a new one.
//!
//! ## Transport
//! [`http_client`] follows no redirects and has timeouts; bodies from the authorization server are capped at
//! [`MAX_BODY`]. TLS comes from reqwest's `rustls` feature (default) or `native-tls`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod dpop;
mod error;
mod execute;
mod oidc;
mod session;

pub mod resource;

pub use dpop::DpopSigner;
pub use error::Error;
pub use execute::{Discovered, MAX_BODY, TIMEOUT, discover, execute, fetch_metadata, http_client};
pub use oidc::JWKS_REFETCH_EVERY;
pub use session::{DeviceFlow, RequestBuilder, Session, SessionBuilder};

pub use oauth2_core;
pub use reqwest;
