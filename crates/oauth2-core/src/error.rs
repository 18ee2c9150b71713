//! OAuth error responses (RFC 6749 §4.1.2.1, §4.2.2.1, §5.2; RFC 6750 §3.1; RFC 7009 §2.2.1).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    /// arrives escaped, never as it was sent. At most [`MAX_DESCRIPTION`] bytes are kept.
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

/// The longest `error_description` [`ErrorResponse::with_description`] keeps, in bytes.
pub const MAX_DESCRIPTION: usize = 256;

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
    fn unknown_error_codes_are_kept() {
        let r: ErrorResponse = serde_json::from_str(r#"{"error":"slow_down","error_description":"wait"}"#).unwrap();
        assert_eq!(r.error, ErrorCode::Other("slow_down".into()));
        assert_eq!(r.to_string(), "slow_down: wait");
    }
}
