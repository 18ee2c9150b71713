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
            device_authorization_endpoint: c
                .grant_types
                .contains(&GrantType::DeviceCode)
                .then(|| c.url(&c.device_authorization_path)),
            pushed_authorization_request_endpoint: Some(c.url(&c.pushed_authorization_request_path)),
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            #[cfg(feature = "jose")]
            jwks_uri: Some(c.url(&c.jwks_path)),
            #[cfg(feature = "jose")]
            dpop_signing_alg_values_supported: Some(
                crate::dpop::ALGORITHMS.iter().map(|a| a.as_str().to_owned()).collect(),
            ),
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
            Err(e) => keys_unavailable(e),
        }
    }

    /// The OpenID Provider metadata (OpenID Connect Discovery §3): everything [`metadata`](Self::metadata) says,
    /// and `subject_types_supported`, the id_token algorithms this server has keys for, the claims it issues (the
    /// id_token's and the app's UserInfo claims), and `openid` among the scopes.
    #[cfg(feature = "jose")]
    pub async fn openid_configuration(
        &self,
        now: std::time::SystemTime,
    ) -> Result<AuthorizationServerMetadata, crate::server::keys::KeyError> {
        use serde_json::json;
        let keys = self.signing_keys(now).await?;
        let mut metadata = self.metadata();
        let scopes = metadata.scopes_supported.get_or_insert_with(Vec::new);
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        let algorithms: Vec<&str> = crate::jose::Algorithm::ALL
            .into_iter()
            .filter(|a| keys.current(*a).is_some())
            .map(crate::jose::Algorithm::as_str)
            .collect();
        let mut claims: Vec<String> = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let Some((_, names)) = &self.userinfo {
            claims.extend(names.iter().filter(|n| !claims.contains(n)).cloned().collect::<Vec<_>>());
        }
        let extra = &mut metadata.extra;
        extra.insert("subject_types_supported".into(), json!(["public"]));
        extra.insert("id_token_signing_alg_values_supported".into(), json!(algorithms));
        extra.insert("claims_supported".into(), json!(claims));
        extra.insert("claims_parameter_supported".into(), json!(false));
        extra.insert("request_parameter_supported".into(), json!(false));
        extra.insert("request_uri_parameter_supported".into(), json!(false));
        Ok(metadata)
    }

    /// [`openid_configuration`](Self::openid_configuration) as the `200` JSON response for
    /// `/.well-known/openid-configuration`.
    #[cfg(feature = "jose")]
    pub async fn openid_configuration_response(&self, now: std::time::SystemTime) -> http::Response<Vec<u8>> {
        match self.openid_configuration(now).await {
            Ok(metadata) => {
                let mut r = json_response(StatusCode::OK, &metadata);
                r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("max-age=300"));
                r.headers_mut().remove(http::header::PRAGMA);
                r
            }
            Err(e) => keys_unavailable(e),
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

/// The answer when the signing keys cannot be had: `503` if the store failed, `500` if a stored key is unusable.
#[cfg(feature = "jose")]
fn keys_unavailable(e: crate::server::keys::KeyError) -> http::Response<Vec<u8>> {
    match e {
        crate::server::keys::KeyError::Store(e) => crate::error::OAuthError::from(e).into_response(),
        e => {
            tracing::error!(error = %e, "the signing keys cannot be read");
            crate::error::OAuthError::new(crate::ErrorCode::ServerError, "the signing keys cannot be read")
                .into_response()
        }
    }
}
