//! The metadata endpoint (RFC 8414 §2, §3): what this server offers, built from its configuration.

use http::StatusCode;

use crate::grant::GrantType;
use crate::metadata::AuthorizationServerMetadata;
use crate::reply::json_response;
use crate::server::AuthorizationServer;
use crate::server::store::Store;

impl<S: Store> AuthorizationServer<S> {
    /// The server's metadata (RFC 8414 §2), built from the configuration.
    pub fn metadata(&self) -> AuthorizationServerMetadata {
        let c = &self.config;
        let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let auth_methods = strings(&["client_secret_basic", "client_secret_post", "none"]);
        let confidential_methods = strings(&["client_secret_basic", "client_secret_post"]);
        AuthorizationServerMetadata {
            issuer: c.issuer.clone(),
            authorization_endpoint: Some(c.url(&c.authorization_path)),
            token_endpoint: Some(c.url(&c.token_path)),
            revocation_endpoint: Some(c.url(&c.revocation_path)),
            introspection_endpoint: Some(c.url(&c.introspection_path)),
            userinfo_endpoint: c.userinfo_path.as_ref().map(|p| c.url(p)),
            #[cfg(feature = "jose")]
            jwks_uri: Some(c.url(&c.jwks_path)),
            scopes_supported: c.scopes_supported.as_ref().map(|s| s.iter().map(str::to_owned).collect()),
            response_types_supported: [(GrantType::AuthorizationCode, "code"), (GrantType::Implicit, "token")]
                .into_iter()
                .filter(|(g, _)| c.grant_types.contains(g))
                .map(|(_, r)| r.to_owned())
                .collect(),
            grant_types_supported: Some(c.grant_types.iter().map(|g| g.as_str().to_owned()).collect()),
            token_endpoint_auth_methods_supported: auth_methods.clone(),
            revocation_endpoint_auth_methods_supported: auth_methods.clone(),
            introspection_endpoint_auth_methods_supported: confidential_methods,
            code_challenge_methods_supported: strings(&["S256"]),
            authorization_response_iss_parameter_supported: Some(true),
            ..Default::default()
        }
    }

    /// The JWK Set of the signing keys (RFC 7517 §5) as the `200` JSON response for `jwks_uri`; `503` with
    /// `temporarily_unavailable` when the store cannot say. Caches must revalidate (`no-cache`): a client that
    /// meets an unknown `kid` after a rotation must get the new key, not a copy from before it.
    #[cfg(feature = "jose")]
    pub async fn jwks_response(&self, now: std::time::SystemTime) -> http::Response<Vec<u8>> {
        match self.signing_keys(now).await {
            Ok(keys) => {
                let mut r = json_response(StatusCode::OK, keys.jwks());
                r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
                r.headers_mut().remove(http::header::PRAGMA);
                r
            }
            Err(crate::server::keys::KeyError::Store(e)) => crate::error::OAuthError::from(e).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "the signing keys cannot be read");
                let error =
                    crate::error::OAuthError::new(crate::ErrorCode::ServerError, "the signing keys cannot be read");
                error.into_response()
            }
        }
    }

    /// The metadata as the `200` JSON response for `/.well-known/oauth-authorization-server`.
    pub fn metadata_response(&self) -> http::Response<Vec<u8>> {
        let mut r = json_response(StatusCode::OK, &self.metadata());
        r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("max-age=300"));
        r.headers_mut().remove(http::header::PRAGMA);
        r
    }
}
