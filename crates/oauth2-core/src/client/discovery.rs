//! Discovery (RFC 8414 §3): reading a metadata response and checking that it is the issuer's.

use super::ResponseError;
use super::response::{body_object, error_from, unexpected};
use crate::metadata::{AuthorizationServerMetadata, InvalidIssuer};

/// Why a metadata document was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer is not a URL, or has a query or fragment (RFC 8414 §2).
    #[error(transparent)]
    InvalidIssuer(#[from] InvalidIssuer),
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
    Response(#[from] ResponseError),
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

/// Reads a metadata response and checks that its `issuer` is `expected_issuer` (RFC 8414 §3.2, §3.3).
pub fn parse_metadata(
    expected_issuer: &str,
    response: &http::Response<Vec<u8>>,
) -> Result<AuthorizationServerMetadata, DiscoveryError> {
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
