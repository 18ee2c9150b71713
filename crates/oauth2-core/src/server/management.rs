//! Revocation (RFC 7009), introspection (RFC 7662) and metadata (RFC 8414).

use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;

use super::AuthorizationServer;
use super::reply::{OAuthError, json_response};
use super::store::{ClientStore, GrantStore, GrantType, SecretHash, TokenRecord};
use super::token::form_of;
use crate::client::Introspection;
use crate::error::ErrorCode;
use crate::metadata::AuthorizationServerMetadata;

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl<S: ClientStore + GrantStore> AuthorizationServer<S> {
    /// Revokes a token (RFC 7009 §2.1). Revoking a refresh token revokes its whole grant, access tokens included.
    /// The answer is 200 for unknown tokens too (§2.2). A token issued to another client is left untouched and the
    /// request refused with 400 `unauthorized_client` (§2.1: "the request is refused and the client is informed").
    pub async fn revoke<B: AsRef<[u8]>>(&self, request: http::Request<B>) -> http::Response<Vec<u8>> {
        match self.revoke_inner(&request).await {
            Ok(()) => {
                let mut r = http::Response::new(Vec::new());
                r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
                r
            }
            Err(e) => e.into_response(),
        }
    }

    async fn revoke_inner<B: AsRef<[u8]>>(&self, request: &http::Request<B>) -> Result<(), OAuthError> {
        let params = form_of(request, self.config.max_body_bytes)?;
        let client = self.authenticate_client(request.headers(), &params).await?;
        let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let hash = SecretHash::of(token);
        let foreign = || OAuthError::new(ErrorCode::UnauthorizedClient, "the token was issued to another client");
        // The hint only orders the lookups (§2.1); both kinds are tried.
        let refresh_first = params.get("token_type_hint") == Some("refresh_token");
        for kind in if refresh_first { [true, false] } else { [false, true] } {
            if kind {
                if let Some((record, _)) = self.store.refresh_token(&hash).await? {
                    if record.grant.client_id != client.id {
                        return Err(foreign());
                    }
                    self.store.revoke_grant(&record.grant.id).await?;
                    return Ok(());
                }
            } else if let Some(record) = self.store.access_token(&hash).await? {
                if record.grant.client_id != client.id {
                    return Err(foreign());
                }
                self.store.revoke_access_token(&hash).await?;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Introspects a token for an authenticated client (RFC 7662 §2). A client sees only tokens issued to it;
    /// unknown, expired, revoked, used and foreign tokens are all `{"active": false}`.
    pub async fn introspect<B: AsRef<[u8]>>(
        &self,
        request: http::Request<B>,
        now: SystemTime,
    ) -> http::Response<Vec<u8>> {
        match self.introspect_inner(&request, now).await {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(e) => e.into_response(),
        }
    }

    async fn introspect_inner<B: AsRef<[u8]>>(
        &self,
        request: &http::Request<B>,
        now: SystemTime,
    ) -> Result<Introspection, OAuthError> {
        let params = form_of(request, self.config.max_body_bytes)?;
        let client = self.authenticate_client(request.headers(), &params).await?;
        if !client.is_confidential() {
            // A bare client_id proves nothing; introspection must not become a token oracle (RFC 7662 §2.1, §4).
            return Err(OAuthError::invalid_client(false));
        }
        let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let hash = SecretHash::of(token);
        let (record, kind): (Option<TokenRecord>, &str) = match self.store.access_token(&hash).await? {
            Some(r) => (Some(r), "access_token"),
            None => match self.store.refresh_token(&hash).await? {
                Some((r, false)) => (Some(r), "refresh_token"),
                _ => (None, ""),
            },
        };
        let Some(record) = record.filter(|r| r.expires_at > now && r.grant.client_id == client.id) else {
            return Ok(Introspection::inactive());
        };
        let mut info = Introspection::inactive();
        info.active = true;
        info.scope = Some(record.grant.scope.clone());
        info.client_id = Some(record.grant.client_id.clone());
        info.username = record.grant.subject.clone();
        info.sub = record.grant.subject.clone();
        // RFC 7662 §2.2: `token_type` is an access token type (RFC 6749 §7.1); a refresh token has none.
        info.token_type = (kind == "access_token").then(|| "Bearer".into());
        info.exp = Some(unix(record.expires_at));
        info.iat = Some(unix(record.issued_at));
        info.iss = Some(self.config.issuer.clone());
        Ok(info)
    }

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

    /// The metadata as the `200` JSON response for `/.well-known/oauth-authorization-server`.
    pub fn metadata_response(&self) -> http::Response<Vec<u8>> {
        let mut r = json_response(StatusCode::OK, &self.metadata());
        r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("max-age=300"));
        r.headers_mut().remove(http::header::PRAGMA);
        r
    }
}
