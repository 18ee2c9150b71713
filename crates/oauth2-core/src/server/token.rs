//! The token endpoint (RFC 6749 §3.2): one dispatcher on `grant_type`, client authentication first.

use std::time::SystemTime;

use http::StatusCode;
use serde_json::json;

use super::AuthorizationServer;
use super::authorize::redirect_uri_allowed;
use super::client_auth::authenticate;
use super::reply::{OAuthError, json_response};
use super::store::{
    ClientStore, CodeUse, Grant, GrantId, GrantStore, GrantType, RegisteredClient, Rotation, SecretHash, TokenRecord,
};
use crate::error::ErrorCode;
use crate::form::FormParams;
use crate::pkce::PkceVerifier;

/// Checks the parts every form-posting endpoint shares: POST, form content type, bounded body, no repeated
/// parameter (RFC 6749 §3.2).
pub(crate) fn form_of<B: AsRef<[u8]>>(request: &http::Request<B>, max: usize) -> Result<FormParams, OAuthError> {
    if request.method() != http::Method::POST {
        return Err(OAuthError::invalid_request("use POST"));
    }
    let media = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if media.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let body = request.body().as_ref();
    if body.len() > max {
        return Err(OAuthError::invalid_request("the request body is too large"));
    }
    FormParams::parse(body).map_err(|e| OAuthError::invalid_request(e.to_string()))
}

impl<S: ClientStore + GrantStore> AuthorizationServer<S> {
    /// Answers a token request (RFC 6749 §3.2): authorization code (§4.1.3), password (§4.3), client credentials
    /// (§4.4) and refresh (§6). Success is a §5.1 JSON body; failure a §5.2 error with its status. Every answer
    /// carries `Cache-Control: no-store` and `Pragma: no-cache`.
    pub async fn token<B: AsRef<[u8]>>(&self, request: http::Request<B>, now: SystemTime) -> http::Response<Vec<u8>> {
        match self.token_inner(&request, now).await {
            Ok(body) => json_response(StatusCode::OK, &body),
            Err(e) => e.into_response(),
        }
    }

    async fn token_inner<B: AsRef<[u8]>>(
        &self,
        request: &http::Request<B>,
        now: SystemTime,
    ) -> Result<serde_json::Value, OAuthError> {
        let params = form_of(request, self.config.max_body_bytes)?;
        let client = authenticate(&self.store, request.headers(), &params).await?;
        let grant_type =
            params.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        let grant = match GrantType::parse(grant_type) {
            Some(g) if g != GrantType::Implicit => g,
            _ => return Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type")),
        };
        if !client.allows(grant) {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use this grant type"));
        }
        match grant {
            GrantType::AuthorizationCode => self.code_grant(&client, &params, now).await,
            GrantType::Password => self.password_grant(&client, &params, now).await,
            GrantType::ClientCredentials => self.client_credentials_grant(&client, &params, now).await,
            GrantType::RefreshToken => self.refresh_grant(&client, &params, now).await,
            GrantType::Implicit => Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type")),
        }
    }

    fn records(&self, grant: Grant, with_refresh: bool, now: SystemTime) -> Issued {
        let access = self.new_secret();
        let access_record =
            TokenRecord { grant: grant.clone(), issued_at: now, expires_at: now + self.config.access_token_lifetime };
        let refresh = with_refresh.then(|| {
            let token = self.new_secret();
            let record = TokenRecord {
                grant: grant.clone(),
                issued_at: now,
                expires_at: now + self.config.refresh_token_lifetime,
            };
            (token, record)
        });
        let mut body = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.config.access_token_lifetime.as_secs(),
        });
        // §3.3: a scope has at least one token, so an empty one is left out.
        if !grant.scope.is_empty() {
            body["scope"] = json!(grant.scope.to_string());
        }
        if let Some((token, _)) = &refresh {
            body["refresh_token"] = json!(token);
        }
        Issued {
            body,
            access: (SecretHash::of(&access), access_record),
            refresh: refresh.map(|(t, r)| (SecretHash::of(&t), r)),
        }
    }

    async fn issue(&self, grant: Grant, with_refresh: bool, now: SystemTime) -> Result<serde_json::Value, OAuthError> {
        let issued = self.records(grant, with_refresh, now);
        if !self.store.store_tokens(issued.access, issued.refresh).await? {
            // The grant was revoked (a replayed code) between the redemption and now.
            return Err(OAuthError::invalid_grant("the grant was revoked"));
        }
        Ok(issued.body)
    }

    /// §4.1.3 with RFC 7636 §4.6: single use, bound to client, redirect URI and challenge. A replayed code revokes
    /// every token issued from it (§4.1.2, RFC 9700 §4.2.4).
    async fn code_grant(
        &self,
        client: &RegisteredClient,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<serde_json::Value, OAuthError> {
        let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let hash = SecretHash::of(code);
        // Bindings are checked before the code is spent, so someone holding an intercepted code (without the
        // client's credentials or verifier) cannot burn it for the real client.
        let (record, used) = self.store.code(&hash).await?.ok_or_else(|| OAuthError::invalid_grant("unknown code"))?;
        if record.grant.client_id != client.id {
            return Err(OAuthError::invalid_grant("the code was issued to another client"));
        }
        if used {
            // A replay by the client it was issued to: revoke what the code issued (§4.1.2, RFC 9700 §4.2.4).
            self.store.revoke_grant(&record.grant.id).await?;
            return Err(OAuthError::invalid_grant("the code was already used; its tokens are revoked"));
        }
        if record.expires_at <= now {
            return Err(OAuthError::invalid_grant("the code expired"));
        }
        match (&record.redirect_uri, params.get("redirect_uri")) {
            (Some(expected), Some(given)) if expected == given => {}
            (Some(_), _) => {
                return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request"));
            }
            (None, Some(given)) if !redirect_uri_allowed(client, given) => {
                return Err(OAuthError::invalid_grant("redirect_uri is not registered"));
            }
            (None, _) => {}
        }
        match (&record.challenge, params.get("code_verifier")) {
            (Some((challenge, method)), Some(verifier)) => {
                let ok = PkceVerifier::new(verifier).map(|v| v.matches(challenge, *method)).unwrap_or(false);
                if !ok {
                    return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
                }
            }
            (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
            // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant("code_verifier sent for a code issued without PKCE"));
            }
            (None, None) => {}
        }
        // Spend it and store its tokens in one atomic step: exactly one concurrent redemption gets Fresh.
        let issued = self.records(record.grant, client.allows(GrantType::RefreshToken), now);
        match self.store.redeem_code(&hash, issued.access, issued.refresh).await? {
            CodeUse::Fresh(_) => Ok(issued.body),
            CodeUse::Replayed(grant) => {
                self.store.revoke_grant(&grant).await?;
                Err(OAuthError::invalid_grant("the code was already used; its tokens are revoked"))
            }
            CodeUse::Unknown => Err(OAuthError::invalid_grant("unknown code")),
        }
    }

    /// §4.3: only for clients registered for it, with the app's credential check.
    async fn password_grant(
        &self,
        client: &RegisteredClient,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<serde_json::Value, OAuthError> {
        let username = params.get("username").ok_or_else(|| OAuthError::invalid_request("username is required"))?;
        let password = params.get("password").ok_or_else(|| OAuthError::invalid_request("password is required"))?;
        let scope = self.resolve_scope(client, params.get("scope"))?;
        let verify = self
            .passwords
            .as_ref()
            .ok_or_else(|| OAuthError::new(ErrorCode::UnsupportedGrantType, "the password grant is not enabled"))?;
        let subject =
            verify(username, password).ok_or_else(|| OAuthError::invalid_grant("wrong username or password"))?;
        let grant =
            Grant { id: GrantId(self.new_secret()), client_id: client.id.clone(), subject: Some(subject), scope };
        self.issue(grant, client.allows(GrantType::RefreshToken), now).await
    }

    /// §4.4: confidential clients only; no refresh token unless the client opted in (§4.4.3).
    async fn client_credentials_grant(
        &self,
        client: &RegisteredClient,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<serde_json::Value, OAuthError> {
        if !client.is_confidential() {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "client credentials need a confidential client",
            ));
        }
        let scope = self.resolve_scope(client, params.get("scope"))?;
        let grant = Grant { id: GrantId(self.new_secret()), client_id: client.id.clone(), subject: None, scope };
        self.issue(grant, client.refresh_on_client_credentials, now).await
    }

    /// §6 with rotation (RFC 9700 §4.14.2): the old refresh token is spent atomically; presenting a spent one
    /// revokes the whole grant. The scope may narrow, never widen; the new refresh token keeps the original scope.
    async fn refresh_grant(
        &self,
        client: &RegisteredClient,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<serde_json::Value, OAuthError> {
        let token =
            params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let hash = SecretHash::of(token);
        let (record, used) =
            self.store.refresh_token(&hash).await?.ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
        // The client binding first: another client presenting a spent token must not revoke the owner's grant.
        if record.grant.client_id != client.id {
            return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
        }
        if used {
            self.store.revoke_grant(&record.grant.id).await?;
            return Err(OAuthError::invalid_grant("the refresh token was already used; the grant is revoked"));
        }
        if record.expires_at <= now {
            return Err(OAuthError::invalid_grant("the refresh token expired"));
        }
        let scope = match params.get("scope") {
            None => record.grant.scope.clone(),
            Some(s) => {
                let s = crate::scope::Scope::parse(s);
                if !s.is_subset_of(&record.grant.scope) {
                    return Err(OAuthError::new(ErrorCode::InvalidScope, "a refresh cannot widen the scope"));
                }
                s
            }
        };
        let access_grant = Grant { scope, ..record.grant.clone() };
        let mut issued = self.records(access_grant, true, now);
        let Some((refresh_hash, mut refresh_record)) = issued.refresh.take() else {
            return Err(OAuthError::new(ErrorCode::ServerError, "no refresh token minted"));
        };
        refresh_record.grant.scope = record.grant.scope.clone();
        match self.store.rotate_refresh(&hash, issued.access, (refresh_hash, refresh_record)).await? {
            Rotation::Rotated => Ok(issued.body),
            Rotation::Reused(grant) => {
                self.store.revoke_grant(&grant).await?;
                Err(OAuthError::invalid_grant("the refresh token was already used; the grant is revoked"))
            }
            Rotation::Unknown => Err(OAuthError::invalid_grant("unknown refresh token")),
        }
    }
}

struct Issued {
    body: serde_json::Value,
    access: (SecretHash, TokenRecord),
    refresh: Option<(SecretHash, TokenRecord)>,
}
