//! Token introspection's answer (RFC 7662 §2.2) and the token type hint that revocation (RFC 7009 §2.1) and
//! introspection (RFC 7662 §2.1) share: wire types both sides use.

use serde::{Deserialize, Serialize};

use crate::scope::Scope;

/// Which kind of token is being revoked or introspected (RFC 7009 §2.1, RFC 7662 §2.1): a hint the server may use
/// to look it up faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    /// An access token.
    AccessToken,
    /// A refresh token.
    RefreshToken,
}

impl TokenTypeHint {
    /// The `token_type_hint` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
        }
    }

    /// Parses a `token_type_hint` value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "access_token" => Some(Self::AccessToken),
            "refresh_token" => Some(Self::RefreshToken),
            _ => None,
        }
    }
}

/// An introspection response (RFC 7662 §2.2). Only `active` is required; an inactive token carries nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Introspection {
    /// Whether the token is currently active.
    pub active: bool,
    /// Its scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// The client it was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The resource owner's human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Its type, such as `Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issue time, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not-before time, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The subject (resource owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The intended audience (a string or a list of strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The token's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The key the token is bound to (RFC 7800 §3.1; RFC 9449 §6.2: `cnf.jkt`, a DPoP key's thumbprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Any other member.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A `cnf` (confirmation) claim (RFC 7800 §3.1): the key a token's presenter must prove it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Confirmation {
    /// The RFC 7638 thumbprint of a DPoP key (RFC 9449 §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// Any other confirmation method (RFC 8705's `x5t#S256`, RFC 7800's `jwk`, ...): kept, so that a token bound
    /// in a way this library cannot check is never taken for one it can.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Confirmation {
    /// The confirmation of a DPoP key by its thumbprint.
    pub fn jkt(jkt: impl Into<String>) -> Self {
        Self { jkt: Some(jkt.into()), other: serde_json::Map::new() }
    }

    /// The DPoP key thumbprint a presenter must prove when that is all this confirmation asks; `None` when it asks
    /// anything else (RFC 7800 §3.1: the presenter must prove every method): no presenter can then be checked, and
    /// a resource refuses the token.
    ///
    /// ```
    /// use oauth2_core::introspection::Confirmation;
    /// let dpop: Confirmation = serde_json::from_str(r#"{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}"#)?;
    /// assert_eq!(dpop.checkable_jkt(), Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
    /// let mtls: Confirmation = serde_json::from_str(r#"{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}"#)?;
    /// assert_eq!(mtls.checkable_jkt(), None);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn checkable_jkt(&self) -> Option<&str> {
        if self.other.is_empty() { self.jkt.as_deref() } else { None }
    }
}

impl Introspection {
    /// An inactive result: what a server says of unknown, expired, revoked or foreign tokens (§2.2).
    pub fn inactive() -> Self {
        Self {
            active: false,
            scope: None,
            client_id: None,
            username: None,
            token_type: None,
            exp: None,
            iat: None,
            nbf: None,
            sub: None,
            aud: None,
            iss: None,
            jti: None,
            cnf: None,
            extra: serde_json::Map::new(),
        }
    }
}
