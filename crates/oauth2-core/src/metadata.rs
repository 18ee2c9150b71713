//! Authorization server metadata (RFC 8414), and OpenID Connect discovery documents, which share its fields.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::TokenError;

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

/// Why a metadata document was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer is not a URL, or has a query or fragment (RFC 8414 §2).
    #[error("`{0}` is not a valid issuer identifier")]
    InvalidIssuer(String),
    /// The document's `issuer` is not the one asked for (RFC 8414 §3.3): it must not be used.
    #[error("the metadata's issuer `{found}` is not `{expected}`")]
    IssuerMismatch {
        /// The issuer asked for.
        expected: String,
        /// The document's issuer.
        found: String,
    },
    /// The server did not answer with a metadata document.
    #[error(transparent)]
    Response(#[from] TokenError),
}

impl DiscoveryError {
    /// A short code: `invalid_issuer`, `issuer_mismatch`, or the response's.
    pub fn code(&self) -> &str {
        match self {
            Self::InvalidIssuer(_) => "invalid_issuer",
            Self::IssuerMismatch { .. } => "issuer_mismatch",
            Self::Response(e) => e.code(),
        }
    }
}

/// Where to fetch metadata for `issuer`, in order: RFC 8414 §3.1 (the well-known segment goes between host and path),
/// then OpenID Connect Discovery 1.0 §4 (appended to the issuer).
///
/// ```
/// let urls = oauth2_core::metadata::discovery_urls("https://as.example/tenant1").unwrap();
/// assert_eq!(urls[0].as_str(), "https://as.example/.well-known/oauth-authorization-server/tenant1");
/// assert_eq!(urls[1].as_str(), "https://as.example/tenant1/.well-known/openid-configuration");
/// ```
pub fn discovery_urls(issuer: &str) -> Result<[Url; 2], DiscoveryError> {
    let invalid = || DiscoveryError::InvalidIssuer(issuer.to_owned());
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

/// Reads a metadata response and checks that its `issuer` is `expected_issuer` (RFC 8414 §3.2, §3.3).
pub fn parse_metadata(
    expected_issuer: &str,
    response: &http::Response<Vec<u8>>,
) -> Result<AuthorizationServerMetadata, DiscoveryError> {
    use crate::client::response::{body_object, error_from, unexpected};
    if response.status() != http::StatusCode::OK {
        return Err(error_from(response, false).into());
    }
    let map = body_object(response, false)?;
    let metadata: AuthorizationServerMetadata = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| unexpected(response, format!("not an RFC 8414 metadata document: {e}")))?;
    if metadata.issuer != expected_issuer {
        return Err(DiscoveryError::IssuerMismatch { expected: expected_issuer.to_owned(), found: metadata.issuer });
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(status: u16, body: &str) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn rfc8414_3_1_well_known_url_for_issuer_without_path() {
        let urls = discovery_urls("https://server.example.com").unwrap();
        assert_eq!(urls[0].as_str(), "https://server.example.com/.well-known/oauth-authorization-server");
        assert_eq!(urls[1].as_str(), "https://server.example.com/.well-known/openid-configuration");
        assert!(discovery_urls("https://as.example/?q=1").is_err());
        assert!(discovery_urls("not a url").is_err());
    }

    #[test]
    fn rfc8414_3_2_example_response_parses() {
        let body = r#"{
          "issuer": "https://server.example.com",
          "authorization_endpoint": "https://server.example.com/authorize",
          "token_endpoint": "https://server.example.com/token",
          "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
          "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
          "userinfo_endpoint": "https://server.example.com/userinfo",
          "jwks_uri": "https://server.example.com/jwks.json",
          "registration_endpoint": "https://server.example.com/register",
          "scopes_supported": ["openid", "profile", "email", "address", "phone", "offline_access"],
          "response_types_supported": ["code", "code token"],
          "service_documentation": "http://server.example.com/service_documentation.html",
          "ui_locales_supported": ["en-US", "en-GB", "en-CA", "fr-FR", "fr-CA"]
        }"#;
        let m = parse_metadata("https://server.example.com", &json(200, body)).unwrap();
        assert_eq!(m.token_endpoint.as_deref(), Some("https://server.example.com/token"));
        assert!(m.extra.contains_key("ui_locales_supported"));
    }

    #[test]
    fn rfc8414_3_3_issuer_must_match() {
        let r = json(200, r#"{"issuer":"https://evil.example","response_types_supported":["code"]}"#);
        assert_eq!(
            parse_metadata("https://server.example.com", &r),
            Err(DiscoveryError::IssuerMismatch {
                expected: "https://server.example.com".into(),
                found: "https://evil.example".into()
            })
        );
    }

    #[test]
    fn metadata_errors_are_typed() {
        let e = parse_metadata("https://a.example", &json(404, "{}")).unwrap_err();
        assert_eq!(e.code(), "unexpected_response");
    }
}
