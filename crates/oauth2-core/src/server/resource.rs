//! The resource server's check of a Bearer token (RFC 6750 §2.1, §3).

use std::time::SystemTime;

use http::header::AUTHORIZATION;
use serde::Serialize;

use super::AuthorizationServer;
use super::reply::OAuthError;
use super::store::{ClientStore, GrantStore, SecretHash};
use crate::error::ErrorCode;
use crate::scope::Scope;

/// What a valid access token grants: who, to which client, for what.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AccessGrant {
    /// The resource owner (`None` for client credentials).
    pub subject: Option<String>,
    /// The client the token was issued to.
    pub client_id: String,
    /// The token's scope.
    pub scope: Scope,
    /// When it expires.
    pub expires_at: SystemTime,
}

/// The resource server's check as an object-safe trait, so framework adapters can hold any server as
/// `Arc<dyn BearerAuthority>` without carrying its store type into their extractors.
pub trait BearerAuthority: Send + Sync {
    /// [`AuthorizationServer::authenticate_bearer`].
    fn authenticate<'a>(
        &'a self,
        headers: &'a http::HeaderMap,
        required: &'a Scope,
        now: SystemTime,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<AccessGrant, OAuthError>> + Send + 'a>>;
}

impl<S: ClientStore + GrantStore> BearerAuthority for AuthorizationServer<S> {
    fn authenticate<'a>(
        &'a self,
        headers: &'a http::HeaderMap,
        required: &'a Scope,
        now: SystemTime,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<AccessGrant, OAuthError>> + Send + 'a>> {
        Box::pin(self.authenticate_bearer(headers, required, now))
    }
}

impl<S: ClientStore + GrantStore> AuthorizationServer<S> {
    fn bearer_error(&self, code: Option<ErrorCode>, description: &str, scope: Option<&Scope>) -> OAuthError {
        use super::reply::quoted;
        let mut challenge = format!("Bearer realm=\"{}\"", quoted(&self.config.realm));
        let mut error = OAuthError::new(code.clone().unwrap_or(ErrorCode::InvalidToken), description);
        if let Some(code) = &code {
            challenge.push_str(&format!(
                ", error=\"{}\", error_description=\"{}\"",
                quoted(code.as_str()),
                quoted(description)
            ));
        }
        if let Some(scope) = scope {
            challenge.push_str(&format!(", scope=\"{}\"", quoted(&scope.to_string())));
        }
        error.challenge = Some(challenge);
        error
    }

    /// Checks the Bearer token of a request to a protected resource (RFC 6750): from the `Authorization` header
    /// only (never the query string). `required` is the scope the resource needs (empty for none).
    ///
    /// Errors carry their RFC 6750 §3.1 status and challenge: no token → 401 with a bare challenge; malformed →
    /// 400 `invalid_request`; unknown, expired or revoked → 401 `invalid_token`; missing scope → 403
    /// `insufficient_scope`.
    pub async fn authenticate_bearer(
        &self,
        headers: &http::HeaderMap,
        required: &Scope,
        now: SystemTime,
    ) -> Result<AccessGrant, OAuthError> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            let mut e = self.bearer_error(None, "no access token", None);
            e.error.error_description = None;
            return Err(e);
        };
        if values.next().is_some() {
            return Err(self.bearer_error(Some(ErrorCode::InvalidRequest), "more than one Authorization header", None));
        }
        let value = value.to_str().unwrap_or("");
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            let mut e = self.bearer_error(None, "use the Bearer scheme", None);
            e.error.error_description = None;
            return Err(e);
        }
        let token = token.trim();
        let b64token = |c: u8| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c);
        if token.is_empty() || !token.bytes().all(b64token) {
            return Err(self.bearer_error(Some(ErrorCode::InvalidRequest), "malformed Bearer token", None));
        }
        let record = self.store.access_token(&SecretHash::of(token)).await?;
        let record = match record {
            Some(r) if r.expires_at > now => r,
            _ => {
                return Err(self.bearer_error(
                    Some(ErrorCode::InvalidToken),
                    "the access token is invalid or expired",
                    None,
                ));
            }
        };
        if !required.is_subset_of(&record.grant.scope) {
            return Err(self.bearer_error(
                Some(ErrorCode::InsufficientScope),
                "the access token lacks the scope this resource needs",
                Some(required),
            ));
        }
        Ok(AccessGrant {
            subject: record.grant.subject,
            client_id: record.grant.client_id,
            scope: record.grant.scope,
            expires_at: record.expires_at,
        })
    }
}
