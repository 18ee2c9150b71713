//! The token a client holds (RFC 6749 §5.1), with an absolute expiry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::scope::Scope;
use crate::secret::{AccessToken, RefreshToken};

/// The `token_type` of an access token; compared case-insensitively (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenType {
    /// A bearer token (RFC 6750).
    Bearer,
    /// Any other type, as received.
    Other(String),
}

impl TokenType {
    /// Parses a `token_type`; `bearer` in any case is [`TokenType::Bearer`].
    pub fn parse(value: &str) -> Self {
        if value.eq_ignore_ascii_case("bearer") { Self::Bearer } else { Self::Other(value.to_owned()) }
    }

    /// The type's name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Bearer => "Bearer",
            Self::Other(s) => s,
        }
    }
}

impl Serialize for TokenType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TokenType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// An access token with what came with it. Serializable so the app can save it (the expiry is stored as Unix
/// seconds).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use oauth2_core::Token;
/// let now = SystemTime::now();
/// let mut token = Token::new("abc");
/// token.expires_at = Some(now + Duration::from_secs(60));
/// assert!(!token.is_expired(now));
/// assert!(token.expires_within(now, Duration::from_secs(120)));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Token {
    /// The access token.
    pub access_token: AccessToken,
    /// Its type: Bearer for almost every server.
    pub token_type: TokenType,
    /// When it expires: `now` at receipt plus `expires_in`. `None` when the server did not say.
    #[serde(default, with = "unix_seconds", skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<SystemTime>,
    /// The refresh token, if one was issued (or kept from before, §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// The granted scope, when known (§5.1: omitted means as requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Every other field of the response (`id_token`, provider extensions), as received.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `extra` can hold an `id_token` (personal data) or provider secrets: show only the field names.
        f.debug_struct("Token")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token)
            .field("scope", &self.scope)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Token {
    /// A Bearer token with no expiry, refresh token or scope.
    pub fn new(access_token: impl Into<String>) -> Self {
        Self {
            access_token: AccessToken::new(access_token),
            token_type: TokenType::Bearer,
            expires_at: None,
            refresh_token: None,
            scope: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Whether the token has expired at `now`. A token without a known expiry never counts as expired.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_within(now, Duration::ZERO)
    }

    /// Whether the token expires before `now + margin` (used to refresh a little early).
    pub fn expires_within(&self, now: SystemTime, margin: Duration) -> bool {
        match (self.expires_at, now.checked_add(margin)) {
            (Some(at), Some(limit)) => at <= limit,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Seconds left before expiry at `now` (0 when expired), if the expiry is known.
    pub fn expires_in(&self, now: SystemTime) -> Option<Duration> {
        self.expires_at.map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
    }
}

mod unix_seconds {
    use super::*;

    pub(super) fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_u64(t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs))))
    }
}
