//! Building the server's HTTP answers: JSON bodies with the RFC's headers, and OAuth errors that know their status.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};

use crate::error::{ErrorCode, ErrorResponse};

/// An OAuth error as the server sends it: code, description, HTTP status and any `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct OAuthError {
    /// The error body.
    pub error: ErrorResponse,
    /// The HTTP status.
    pub status: StatusCode,
    /// A `WWW-Authenticate` value to send with it.
    pub challenge: Option<String>,
}

impl OAuthError {
    /// A 400 error with `code` and `description` (RFC 6749 §5.2).
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        let status = match code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self { error: ErrorResponse::new(code).with_description(description), status, challenge: None }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_client` (401) with a `Basic` challenge: RFC 6749 §5.2 requires it when the client tried Basic, and
    /// RFC 7235 §3.1 requires a challenge on every 401. `_basic_attempted` is kept for callers' clarity.
    pub fn invalid_client(_basic_attempted: bool) -> Self {
        let mut e = Self::new(ErrorCode::InvalidClient, "client authentication failed");
        e.challenge = Some("Basic realm=\"oauth\", charset=\"UTF-8\"".into());
        e
    }

    /// The JSON response for this error, with `Cache-Control: no-store`.
    pub fn into_response(self) -> http::Response<Vec<u8>> {
        let mut response = json_response(self.status, &self.error);
        // RFC 6750 §3.1: a request without credentials gets a bare challenge and no error code, in the body too.
        if self.challenge.as_deref().is_some_and(|c| c.starts_with("Bearer") && !c.contains("error=")) {
            response.body_mut().clear();
            response.headers_mut().remove(http::header::CONTENT_TYPE);
        }
        if let Some(c) = self.challenge {
            // Challenge values are escaped where they are built; if one still is not a valid header, a bare
            // challenge is better than none (RFC 7235 §3.1 requires one on a 401).
            let value = HeaderValue::try_from(c).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl From<crate::server::store::StoreError> for OAuthError {
    fn from(_: crate::server::store::StoreError) -> Self {
        // The store's message may name internals; the client gets the RFC code only.
        Self::new(ErrorCode::TemporarilyUnavailable, "the authorization server's storage is unavailable")
    }
}

/// A JSON response with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> http::Response<Vec<u8>> {
    // Sized for a token response with a refresh token, so the common answers are written without regrowing.
    let mut bytes = Vec::with_capacity(256);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes = b"{}".to_vec();
    }
    json_bytes_response(status, bytes)
}

/// [`json_response`] for a body already serialized.
pub(crate) fn json_bytes_response(status: StatusCode, json: Vec<u8>) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(json);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The bytes a JSON string must escape: quote, backslash and the control characters.
const ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Appends `value` to `out` as a JSON string (RFC 8259 §7): quote, backslash and control characters escaped,
/// everything else (UTF-8 included) as is.
pub(crate) fn push_json_string(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let mut rest = value.as_bytes();
    while let Some(i) = rest.iter().position(|&b| ESCAPED[usize::from(b)]) {
        out.extend_from_slice(&rest[..i]);
        match rest[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// A `302 Found` to `location`.
pub(crate) fn redirect(location: &str) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::try_from(location) {
        response.headers_mut().insert(LOCATION, v);
    }
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `value` as an RFC 7230 quoted-string body: backslash and double quote escaped, control characters dropped.
pub(crate) fn quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| if c == '"' || c == '\\' { vec!['\\', c] } else { vec![c] })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::push_json_string;

    proptest! {
        #[test]
        fn rfc8259_7_strings_are_escaped_as_serde_json_reads_them(value in "\\PC*|[\"\\\\\u{0}-\u{1f}a-z]*") {
            let mut out = Vec::new();
            push_json_string(&mut out, &value);
            prop_assert_eq!(serde_json::from_slice::<String>(&out).unwrap(), value);
        }
    }
}
