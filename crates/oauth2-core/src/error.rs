//! OAuth error responses (RFC 6749 §4.1.2.1, §4.2.2.1, §5.2; RFC 6750 §3.1; RFC 7009 §2.2.1): the codes and
//! bodies both sides share, and [`OAuthError`], an error as a server sends it (code, status, challenge).

use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::reply::{json_response, quoted};
use crate::scope::Scope;

/// An OAuth `error` code. The registered codes are variants; a code we do not know is kept as [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed (§4.1.2.1, §5.2).
    InvalidRequest,
    /// Client authentication failed (§5.2).
    InvalidClient,
    /// The grant or refresh token is invalid, expired, revoked or was issued to another client (§5.2).
    InvalidGrant,
    /// The client may not use this grant or response type (§4.1.2.1, §5.2).
    UnauthorizedClient,
    /// The server does not support this grant type (§5.2).
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown or exceeds what was granted (§4.1.2.1, §5.2).
    InvalidScope,
    /// The resource owner or server denied the request (§4.1.2.1).
    AccessDenied,
    /// The server does not support this response type (§4.1.2.1).
    UnsupportedResponseType,
    /// The server hit an unexpected condition (§4.1.2.1).
    ServerError,
    /// The server is temporarily overloaded or down (§4.1.2.1).
    TemporarilyUnavailable,
    /// The access token is expired, revoked or malformed (RFC 6750 §3.1).
    InvalidToken,
    /// The token lacks the scope the resource needs (RFC 6750 §3.1).
    InsufficientScope,
    /// The server cannot revoke tokens of this type (RFC 7009 §2.2.1).
    UnsupportedTokenType,
    /// The user must log in, and `prompt=none` forbids showing a page (OIDC Core §3.1.2.6).
    LoginRequired,
    /// The user must interact, and `prompt=none` forbids it (OIDC Core §3.1.2.6).
    InteractionRequired,
    /// The user must consent, and `prompt=none` forbids asking (OIDC Core §3.1.2.6).
    ConsentRequired,
    /// The requested resource (RFC 8707 `resource`) is invalid, unknown, or not one this client may ask for
    /// (RFC 8707 §2).
    InvalidTarget,
    /// The user has not yet answered the device authorization request: poll again after the interval (RFC 8628
    /// §3.5).
    AuthorizationPending,
    /// The device polls too fast: the polling interval grows by 5 seconds for this and every later request (RFC
    /// 8628 §3.5).
    SlowDown,
    /// The device code expired: start a new device authorization request (RFC 8628 §3.5).
    ExpiredToken,
    /// The DPoP proof is missing where one is required, malformed, for another request, too old, replayed, or of
    /// another key than the token's (RFC 9449 §5, §7.1).
    InvalidDpopProof,
    /// The DPoP proof must carry the server's nonce, given in the `DPoP-Nonce` header (RFC 9449 §8, §9).
    UseDpopNonce,
    /// A code not registered in RFC 6749, 6750 or 7009, kept as received.
    Other(String),
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::ConsentRequired => "consent_required",
            Self::InvalidTarget => "invalid_target",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::Other(s) => s,
        }
    }

    /// Parses a code; unknown codes become [`ErrorCode::Other`].
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "access_denied" => Self::AccessDenied,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            "invalid_token" => Self::InvalidToken,
            "insufficient_scope" => Self::InsufficientScope,
            "unsupported_token_type" => Self::UnsupportedTokenType,
            "login_required" => Self::LoginRequired,
            "interaction_required" => Self::InteractionRequired,
            "consent_required" => Self::ConsentRequired,
            "invalid_target" => Self::InvalidTarget,
            "authorization_pending" => Self::AuthorizationPending,
            "slow_down" => Self::SlowDown,
            "expired_token" => Self::ExpiredToken,
            "invalid_dpop_proof" => Self::InvalidDpopProof,
            "use_dpop_nonce" => Self::UseDpopNonce,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// An error response: the `error` code with its optional description and URI (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// The error code.
    pub error: ErrorCode,
    /// Human-readable text for the developer, if the server sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// A page about the error, if the server sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl ErrorResponse {
    /// An error with a code and no description.
    pub fn new(error: ErrorCode) -> Self {
        Self { error, error_description: None, error_uri: None }
    }

    /// Adds a description, kept to the characters RFC 6749 §5.2 allows in `error_description` (%x20-21 / %x23-5B
    /// / %x5D-7E): every other byte is written as `%XX`, so text echoed from a request (a parameter's name, say)
    /// arrives escaped, never as it was sent. At most 256 bytes are kept.
    ///
    /// ```
    /// use oauth2_core::{ErrorCode, ErrorResponse};
    /// let e = ErrorResponse::new(ErrorCode::InvalidRequest).with_description("`a\"b` appears twice §");
    /// assert_eq!(e.error_description.as_deref(), Some("`a%22b` appears twice %C2%A7"));
    /// ```
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.error_description = Some(description_text(&description.into()));
        self
    }
}

/// The longest `error_description` `ErrorResponse::with_description` keeps, in bytes.
pub(crate) const MAX_DESCRIPTION: usize = 256;

/// Whether RFC 6749 §5.2 allows `b` in an `error_description`: %x20-21 / %x23-5B / %x5D-7E.
pub(crate) fn is_description_byte(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// `text` within RFC 6749 §5.2's `error_description` characters: others as `%XX` (and `%` itself as `%25`, so the
/// escaping is unambiguous), cut at [`MAX_DESCRIPTION`] bytes without splitting a character.
fn description_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_DESCRIPTION));
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        let bytes = c.encode_utf8(&mut utf8).as_bytes();
        let kept = bytes.len() == 1 && is_description_byte(bytes[0]) && bytes[0] != b'%';
        let width = if kept { 1 } else { 3 * bytes.len() };
        if out.len() + width > MAX_DESCRIPTION {
            break;
        }
        if kept {
            out.push(c);
        } else {
            for b in bytes {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

impl std::fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.error.as_str())?;
        if let Some(d) = &self.error_description {
            write!(f, ": {d}")?;
        }
        if let Some(u) = &self.error_uri {
            write!(f, " ({u})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorResponse {}

/// The `WWW-Authenticate` challenge an [`OAuthError`] is sent with (RFC 7235 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Challenge {
    /// `Basic realm="…", charset="UTF-8"`: a client failed to authenticate (RFC 6749 §5.2, RFC 7617).
    Basic {
        /// The protection space.
        realm: String,
    },
    /// `Bearer realm="…"[, error="…", error_description="…"][, scope="…"]` (RFC 6750 §3). Without `error`, the
    /// request carried no credentials: the challenge is bare and the body empty (§3.1).
    Bearer {
        /// The protection space.
        realm: String,
        /// The error code, when credentials were sent (the description comes from the error itself).
        error: Option<ErrorCode>,
        /// The scope the resource needs, for `insufficient_scope`.
        scope: Option<Scope>,
    },
    /// `DPoP realm="…", algs="…"[, error="…", error_description="…"][, scope="…"]` (RFC 9449 §7.1): the resource
    /// takes DPoP-bound tokens, with proofs in these algorithms. With `also_bearer`, a bare `Bearer realm="…"`
    /// challenge follows in a second header: the resource takes Bearer tokens too (a request with no credentials).
    Dpop {
        /// The protection space.
        realm: String,
        /// The proof algorithms accepted, space-separated.
        algs: String,
        /// The error code, when credentials were sent.
        error: Option<ErrorCode>,
        /// The scope the resource needs, for `insufficient_scope`.
        scope: Option<Scope>,
        /// Whether a bare Bearer challenge goes with it.
        also_bearer: bool,
    },
}

/// An OAuth error as the server sends it: the RFC error body, the HTTP status, and any `WWW-Authenticate`
/// challenge. [`into_response`](Self::into_response) renders it; adapters need nothing else.
///
/// ```
/// use oauth2_core::{ErrorCode, OAuthError};
/// let e = OAuthError::new(ErrorCode::InvalidGrant, "the code expired");
/// assert_eq!(e.status(), 400);
/// let response = e.into_response();
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{response}")]
#[non_exhaustive]
pub struct OAuthError {
    response: ErrorResponse,
    status: StatusCode,
    // Boxed: most errors have none, and every `Result<_, OAuthError>` carries the size of this struct.
    challenge: Option<Box<Challenge>>,
    retry_after: Option<u64>,
}

impl OAuthError {
    /// An error with `code` and `description`, and the status the RFCs give the code: 401 for `invalid_client`
    /// and `invalid_token`, 403 for `insufficient_scope`, 500 / 503 for `server_error` / `temporarily_unavailable`,
    /// 400 for the rest (RFC 6749 §5.2, RFC 6750 §3.1). The description is kept within RFC 6749 §5.2's characters.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        let status = match code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            response: ErrorResponse::new(code).with_description(description),
            status,
            challenge: None,
            retry_after: None,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_client` (401) with a `Basic` challenge of realm `oauth`: RFC 6749 §5.2 requires one when the client
    /// tried Basic, and RFC 7235 §3.1 requires a challenge on every 401.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description).with_challenge(Challenge::Basic { realm: "oauth".into() })
    }

    /// The same error with `challenge` instead of the one it had.
    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = Some(Box::new(challenge));
        self
    }

    /// The same error with `Retry-After: seconds` (RFC 9110 §10.2.3): the client may try again after that long,
    /// rounded up to whole seconds.
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        self
    }

    /// The `Retry-After` seconds, if set.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The same error with another status (a `Retry-After` answer the RFC leaves to the server, say).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The error code.
    pub fn code(&self) -> &ErrorCode {
        &self.response.error
    }

    /// The description sent, if any.
    pub fn description(&self) -> Option<&str> {
        self.response.error_description.as_deref()
    }

    /// The error body.
    pub fn response(&self) -> &ErrorResponse {
        &self.response
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `WWW-Authenticate` challenge, if the error has one.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_deref()
    }

    /// The `WWW-Authenticate` header value, if the error has a challenge. A DPoP challenge that goes with a bare
    /// Bearer one (a request with no credentials) comes second: this is the Bearer one, which clients that know only
    /// Bearer read first.
    pub fn www_authenticate(&self) -> Option<HeaderValue> {
        if let Some(Challenge::Dpop { realm, also_bearer: true, .. }) = self.challenge.as_deref() {
            return HeaderValue::try_from(format!("Bearer realm=\"{}\"", quoted(realm))).ok();
        }
        self.challenge_value(false)
    }

    /// The challenge's header value; for a DPoP challenge with `also_bearer`, the DPoP one when `second`.
    fn challenge_value(&self, second: bool) -> Option<HeaderValue> {
        let value = match self.challenge.as_deref()? {
            Challenge::Basic { realm } => format!("Basic realm=\"{}\", charset=\"UTF-8\"", quoted(realm)),
            Challenge::Dpop { also_bearer: true, .. } if !second => return None,
            Challenge::Bearer { realm, error, scope } | Challenge::Dpop { realm, error, scope, .. } => {
                let mut value = match self.challenge.as_deref() {
                    Some(Challenge::Dpop { algs, .. }) => {
                        format!("DPoP realm=\"{}\", algs=\"{}\"", quoted(realm), quoted(algs))
                    }
                    _ => format!("Bearer realm=\"{}\"", quoted(realm)),
                };
                if let Some(code) = error {
                    // The description is already within RFC 6749 §5.2's characters (no quote, no backslash).
                    let description = self.description().unwrap_or("");
                    value.push_str(&format!(
                        ", error=\"{}\", error_description=\"{}\"",
                        quoted(code.as_str()),
                        quoted(description)
                    ));
                }
                if let Some(scope) = scope {
                    value.push_str(&format!(", scope=\"{}\"", quoted(&scope.to_string())));
                }
                value
            }
        };
        // Every part is quoted or a token, so the value is valid; a bare scheme is the fallback that cannot fail.
        Some(HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("Bearer")))
    }

    /// The JSON response for this error (RFC 6749 §5.2), with `Cache-Control: no-store` and its challenge. A Bearer
    /// challenge without an error code (no credentials were sent) has an empty body (RFC 6750 §3.1).
    pub fn into_response(self) -> http::Response<Vec<u8>> {
        let bare = matches!(
            self.challenge.as_deref(),
            Some(Challenge::Bearer { error: None, .. } | Challenge::Dpop { error: None, .. })
        );
        let second = match self.challenge.as_deref() {
            Some(Challenge::Dpop { also_bearer: true, .. }) => self.challenge_value(true),
            _ => None,
        };
        let mut response = json_response(self.status, &self.response);
        if bare {
            response.body_mut().clear();
            response.headers_mut().remove(http::header::CONTENT_TYPE);
        }
        if let Some(value) = self.www_authenticate() {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        if let Some(value) = second {
            response.headers_mut().append(WWW_AUTHENTICATE, value);
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A failure of what a decision depends on: a database, a cache, an introspection endpoint. Endpoints answer 503
/// `temporarily_unavailable` and store nothing half-done; the message and source are for logs, never for the peer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store error: {message}")]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    /// A failure caused by `source` (a database driver's error, say), kept for `Error::source`.
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { message: message.into(), source: Some(std::sync::Arc::new(source)) }
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<StoreError> for OAuthError {
    fn from(_: StoreError) -> Self {
        // The store's message may name internals; the peer gets the RFC code only.
        Self::new(ErrorCode::TemporarilyUnavailable, "the authorization server's storage is unavailable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_5_2_error_codes_round_trip() {
        for code in [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
        ] {
            let parsed = ErrorCode::parse(code);
            assert!(!matches!(parsed, ErrorCode::Other(_)), "{code} should be a known code");
            assert_eq!(parsed.as_str(), code);
        }
    }

    #[test]
    fn rfc6749_5_2_error_description_stays_within_its_characters() {
        let hostile = "quote\" backslash\\ tab\t newline\n nul\0 é § 100% `name`";
        let d = ErrorResponse::new(ErrorCode::InvalidRequest).with_description(hostile).error_description.unwrap();
        assert!(d.bytes().all(is_description_byte), "{d}");
        assert_eq!(d, "quote%22 backslash%5C tab%09 newline%0A nul%00 %C3%A9 %C2%A7 100%25 `name`");
        let long = ErrorResponse::new(ErrorCode::InvalidRequest).with_description("é".repeat(1000));
        let d = long.error_description.unwrap();
        assert!(d.len() <= MAX_DESCRIPTION && d.ends_with("%C3%A9"), "cut inside a character: {d}");
    }

    proptest::proptest! {
        #[test]
        fn rfc6749_5_2_any_description_is_sanitized(text in "\\PC*|[\\x00-\\xff]*") {
            let d = ErrorResponse::new(ErrorCode::InvalidRequest).with_description(text).error_description.unwrap();
            proptest::prop_assert!(d.bytes().all(is_description_byte) && d.len() <= MAX_DESCRIPTION);
        }
    }

    #[test]
    fn store_errors_keep_their_source_and_tell_the_peer_nothing() {
        let io = std::io::Error::other("connection refused by db.internal:5432");
        let e = StoreError::with_source("cannot reach the database", io);
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection refused by db.internal:5432"));
        let reply = OAuthError::from(e);
        assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!reply.description().unwrap_or("").contains("db.internal"));
    }

    #[test]
    fn unknown_error_codes_are_kept() {
        let r: ErrorResponse = serde_json::from_str(r#"{"error":"over_quota","error_description":"wait"}"#).unwrap();
        assert_eq!(r.error, ErrorCode::Other("over_quota".into()));
        assert_eq!(r.to_string(), "over_quota: wait");
    }

    #[test]
    fn rfc8628_3_5_the_device_grant_error_codes_are_known() {
        for (code, known) in [
            ("authorization_pending", ErrorCode::AuthorizationPending),
            ("slow_down", ErrorCode::SlowDown),
            ("expired_token", ErrorCode::ExpiredToken),
        ] {
            assert_eq!(ErrorCode::parse(code), known);
            assert_eq!(known.as_str(), code);
            assert_eq!(OAuthError::new(known, "x").status(), http::StatusCode::BAD_REQUEST, "§3.5: §5.2 errors, 400");
        }
    }
}
