//! Authorization server metadata (RFC 8414 §2), and OpenID Connect discovery documents, which share its fields; where
//! to find it (§3.1).

use serde::{Deserialize, Serialize};
use url::Url;

/// An authorization server's metadata document (RFC 8414 §2). Unknown members are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier: an https URL with no query or fragment.
    pub issuer: String,
    /// The authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// The revocation endpoint (RFC 7009).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// The introspection endpoint (RFC 7662).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// The OpenID Connect userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// The server's JSON Web Key Set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The device authorization endpoint (RFC 8628 §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// The pushed authorization request endpoint (RFC 9126 §5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// Whether every authorization request must be pushed first (RFC 9126 §5; `false` when absent).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// The algorithms of the DPoP proofs the server accepts (RFC 9449 §5.1); absent: it does not support DPoP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// Dynamic client registration (RFC 7591).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// Scopes the server supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// `response_type` values the server supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types_supported: Vec<String>,
    /// Grant types the server supports (default `authorization_code`, `implicit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    /// Client authentication methods at the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Client authentication methods at the revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Client authentication methods at the introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// PKCE methods (RFC 7636).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Whether authorization responses carry `iss` (RFC 9207 §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// Every other member, as received.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// An issuer identifier that is not a URL, or has a query or fragment (RFC 8414 §2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid issuer identifier")]
pub struct InvalidIssuer(pub String);

/// Where to fetch metadata for `issuer`, in order: RFC 8414 §3.1 (the well-known segment goes between host and path),
/// then OpenID Connect Discovery 1.0 §4 (appended to the issuer).
///
/// ```
/// let urls = oauth2_core::metadata::discovery_urls("https://as.example/tenant1").unwrap();
/// assert_eq!(urls[0].as_str(), "https://as.example/.well-known/oauth-authorization-server/tenant1");
/// assert_eq!(urls[1].as_str(), "https://as.example/tenant1/.well-known/openid-configuration");
/// ```
pub fn discovery_urls(issuer: &str) -> Result<[Url; 2], InvalidIssuer> {
    let invalid = || InvalidIssuer(issuer.to_owned());
    let url = Url::parse(issuer).map_err(|_| invalid())?;
    if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
        return Err(invalid());
    }
    let path = url.path().trim_end_matches('/');
    let mut oauth = url.clone();
    oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    let mut oidc = url.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    Ok([oauth, oidc])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8414_3_1_well_known_url_for_issuer_without_path() {
        let urls = discovery_urls("https://server.example.com").unwrap();
        assert_eq!(urls[0].as_str(), "https://server.example.com/.well-known/oauth-authorization-server");
        assert_eq!(urls[1].as_str(), "https://server.example.com/.well-known/openid-configuration");
        assert!(discovery_urls("https://as.example/?q=1").is_err());
        assert!(discovery_urls("not a url").is_err());
    }
}
