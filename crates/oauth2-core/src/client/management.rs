//! Token revocation (RFC 7009) and introspection (RFC 7662) requests and responses.

use serde::{Deserialize, Serialize};

use super::response::{body_object, error_from, unexpected};
use super::{Client, RequestError, TokenError};
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
    /// Any other member.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
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
            extra: serde_json::Map::new(),
        }
    }
}

impl Client {
    /// A client-authenticated POST of `token` and its hint: the shape RFC 7009 §2.1 and RFC 7662 §2.1 share.
    fn token_management_request(
        &self,
        endpoint: &Option<url::Url>,
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

    /// Asks the server to revoke `token` (RFC 7009 §2.1), with client authentication.
    pub fn revocation_request(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        self.token_management_request(&self.revocation_endpoint, "revocation_endpoint", token, hint)
    }

    /// Reads a revocation response: 200 means revoked or unknown, both success (RFC 7009 §2.2).
    pub fn parse_revocation_response(&self, response: http::Response<Vec<u8>>) -> Result<(), TokenError> {
        let response = self.prepare(response);
        if super::response::is_success(response.status(), self.lenient) {
            Ok(())
        } else {
            Err(error_from(&response, self.lenient))
        }
    }

    /// Asks the server about `token` (RFC 7662 §2.1), with client authentication.
    pub fn introspection_request(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        self.token_management_request(&self.introspection_endpoint, "introspection_endpoint", token, hint)
    }

    /// Reads an introspection response (RFC 7662 §2.2): a JSON object with a boolean `active`.
    pub fn parse_introspection_response(&self, response: http::Response<Vec<u8>>) -> Result<Introspection, TokenError> {
        let response = self.prepare(response);
        if !super::response::is_success(response.status(), self.lenient) {
            return Err(error_from(&response, self.lenient));
        }
        let map = body_object(&response, self.lenient)?;
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| unexpected(&response, format!("not an RFC 7662 introspection response: {e}")))
    }
}
