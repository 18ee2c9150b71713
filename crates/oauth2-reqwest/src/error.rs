use std::sync::Arc;

use oauth2_core::ResponseError;
use oauth2_core::client::DiscoveryError;
use oauth2_core::client::{CallbackError, ConfigError, InvalidTokenValue, RequestError};
use oauth2_core::security::InsecureEndpoint;

/// Everything that can go wrong in a session, typed by where it went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP exchange itself failed (connection, TLS, timeout).
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The HTTP client followed a redirect away from an authorization server endpoint: configure it not to (see
    /// [`http_client`](crate::http_client)).
    #[error("{from} redirected to {to}; the client must not follow redirects from authorization server endpoints")]
    Redirected {
        /// The endpoint asked.
        from: String,
        /// Where the answer came from.
        to: String,
    },
    /// The server's response body was larger than we read.
    #[error("the response body exceeds {0} bytes")]
    BodyTooLarge(usize),
    /// The client configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The request could not be built from the client's configuration.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The authorization callback was rejected (state mismatch, provider error, ...).
    #[error(transparent)]
    Callback(#[from] CallbackError),
    /// The authorization server refused or answered something unreadable.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// Metadata discovery failed.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The issuer is not a usable URL.
    #[error("`{0}` is not a valid issuer URL")]
    InvalidIssuer(String),
    /// An endpoint is plain http on a non-loopback host.
    #[error(transparent)]
    Insecure(#[from] InsecureEndpoint),
    /// The access token cannot be put in a header.
    #[error(transparent)]
    InvalidToken(#[from] InvalidTokenValue),
    /// The session pushes its authorization requests (RFC 9126; [`SessionBuilder::par`](crate::SessionBuilder::par),
    /// or the server requires it): use [`Session::start_authorization`](crate::Session::start_authorization) or
    /// [`Session::pushed_authorization_url`](crate::Session::pushed_authorization_url), which are async.
    #[error("this session pushes its authorization requests: use start_authorization or pushed_authorization_url")]
    PushRequired,
    /// A DPoP proof could not be made (RFC 9449), or a DPoP-bound token was to be sent without the session's key.
    #[error("DPoP: {0}")]
    Dpop(String),
    /// The session holds no token yet.
    #[error("the session has no token: run a grant first")]
    NoToken,
    /// An id_token or a UserInfo answer failed the OpenID Connect checks (OIDC Core §3.1.3.7, §5.3.2).
    #[error("invalid id_token: {0}")]
    IdToken(#[from] oauth2_core::client::IdTokenError),
    /// A device flow ended without a token: denied, expired, or refused (RFC 8628 §3.5).
    #[error(transparent)]
    Device(#[from] oauth2_core::client::DeviceFlowError),
    /// The token expired and the session has no way to renew it.
    #[error("the access token expired and there is no refresh token")]
    TokenExpired,
    /// Renewing the token failed. The session does not start a new authorization by itself: the app decides.
    #[error("refreshing the access token failed: {0}")]
    RefreshFailed(Arc<Error>),
}

impl Error {
    /// A short code: the OAuth error code where the server sent one, else one of ours (`state_mismatch`,
    /// `request_failed`, `refresh_failed`, ...).
    pub fn code(&self) -> &str {
        match self {
            Self::Http(_) => "request_failed",
            Self::BodyTooLarge(_) => "response_too_large",
            Self::Redirected { .. } => "redirected",
            Self::Config(_) => "invalid_configuration",
            Self::Request(_) => "invalid_request",
            Self::Callback(e) => e.code(),
            Self::Response(e) => e.code(),
            Self::Discovery(e) => e.code(),
            Self::InvalidIssuer(_) => "invalid_issuer",
            Self::Insecure(_) => "insecure_endpoint",
            Self::InvalidToken(_) => "invalid_token",
            Self::NoToken => "no_token",
            Self::PushRequired => "par_required",
            Self::Dpop(_) => "dpop",
            Self::TokenExpired => "token_expired",
            Self::RefreshFailed(inner) => inner.code(),
            Self::IdToken(e) => e.code(),
            Self::Device(e) => e.code(),
        }
    }

    /// A description for people: the server's `error_description` where it sent one.
    pub fn description(&self) -> String {
        match self {
            Self::Response(e) | Self::Device(oauth2_core::client::DeviceFlowError::Response(e)) => e.description(),
            Self::Device(oauth2_core::client::DeviceFlowError::Denied) => "the user denied the request".into(),
            Self::Device(oauth2_core::client::DeviceFlowError::Expired) => {
                "the device code expired before the user answered".into()
            }
            Self::Callback(CallbackError::Provider(e)) => {
                e.error_description.clone().unwrap_or_else(|| "the authorization server refused".into())
            }
            Self::Discovery(DiscoveryError::Response(e)) => e.description(),
            Self::RefreshFailed(inner) => format!("refreshing the access token failed: {}", inner.description()),
            other => {
                // `Display` of the source chain, without repeating the code.
                let mut s = other.to_string();
                let mut source = std::error::Error::source(other);
                while let Some(e) = source {
                    let next = e.to_string();
                    if !s.contains(&next) {
                        s = format!("{s}: {next}");
                    }
                    source = e.source();
                }
                s
            }
        }
    }

    /// The OAuth error the server sent, if this error carries one.
    pub fn error_response(&self) -> Option<&oauth2_core::ErrorResponse> {
        match self {
            Self::Response(e) | Self::Device(oauth2_core::client::DeviceFlowError::Response(e)) => e.error_response(),
            Self::Callback(CallbackError::Provider(e)) => Some(e),
            Self::RefreshFailed(inner) => inner.error_response(),
            _ => None,
        }
    }
}
