//! The resource server's check of a Bearer token (RFC 6750 §2.1, §3).

use std::sync::Arc;
use std::time::SystemTime;

use http::header::AUTHORIZATION;
use serde::Serialize;

use super::AuthorizationServer;
use super::reply::OAuthError;
use super::store::{ClientStore, GrantStore, SecretHash, TokenRecord};
use crate::error::ErrorCode;
use crate::scope::Scope;

/// What a valid access token grants: who, to which client, for what. Cheap to clone: its strings are shared with
/// the store (the in-memory store hands out the same ones for every token of a client, user and scope).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AccessGrant {
    /// The resource owner (`None` for client credentials).
    pub subject: Option<Arc<str>>,
    /// The client the token was issued to.
    pub client_id: Arc<str>,
    /// The token's scope.
    pub scope: Arc<Scope>,
    /// When it expires.
    pub expires_at: SystemTime,
}

impl AccessGrant {
    /// A grant for `client_id` on behalf of `subject`, with `scope`, until `expires_at` (for stores that build one).
    pub fn new(subject: Option<Arc<str>>, client_id: Arc<str>, scope: Arc<Scope>, expires_at: SystemTime) -> Self {
        Self { subject, client_id, scope, expires_at }
    }
}

impl From<TokenRecord> for AccessGrant {
    fn from(record: TokenRecord) -> Self {
        let grant = record.grant;
        Self {
            subject: grant.subject.map(Arc::from),
            client_id: Arc::from(grant.client_id),
            scope: Arc::new(grant.scope),
            expires_at: record.expires_at,
        }
    }
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, checked byte by byte
/// (a misplaced `=` is left to the lookup, where it simply matches no token). A table: every protected request
/// checks some 43 bytes here.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=');
        c += 1;
    }
    table
};

fn is_b64token_byte(c: u8) -> bool {
    B64TOKEN[usize::from(c)]
}

impl<S: ClientStore + GrantStore> AuthorizationServer<S> {
    fn bearer_error(&self, code: Option<ErrorCode>, description: &str, scope: Option<&Scope>) -> OAuthError {
        use super::reply::quoted;
        let mut challenge = format!("Bearer realm=\"{}\"", quoted(&self.config.realm));
        let mut error = OAuthError::new(code.clone().unwrap_or(ErrorCode::InvalidToken), description);
        if let Some(code) = &code {
            // The description as the body carries it: already within RFC 6749 §5.2's characters.
            let description = error.error.error_description.as_deref().unwrap_or("");
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
        let values = headers.get_all(AUTHORIZATION).iter().map(http::HeaderValue::as_bytes);
        self.authenticate_authorization(values, required, now).await
    }

    /// [`authenticate_bearer`](Self::authenticate_bearer) from the raw values of the request's `Authorization`
    /// headers, for stacks with header types of their own (they need not convert the rest of the request).
    pub async fn authenticate_authorization<'h>(
        &self,
        authorization: impl IntoIterator<Item = &'h [u8]>,
        required: &Scope,
        now: SystemTime,
    ) -> Result<AccessGrant, OAuthError> {
        let mut values = authorization.into_iter();
        let Some(value) = values.next() else {
            let mut e = self.bearer_error(None, "no access token", None);
            e.error.error_description = None;
            return Err(e);
        };
        if values.next().is_some() {
            return Err(self.bearer_error(Some(ErrorCode::InvalidRequest), "more than one Authorization header", None));
        }
        let value = std::str::from_utf8(value).unwrap_or("");
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            let mut e = self.bearer_error(None, "use the Bearer scheme", None);
            e.error.error_description = None;
            return Err(e);
        }
        let token = token.trim();
        if token.is_empty() || !token.bytes().all(is_b64token_byte) {
            return Err(self.bearer_error(Some(ErrorCode::InvalidRequest), "malformed Bearer token", None));
        }
        let grant = match self.store.access_grant(&SecretHash::of(token)).await? {
            Some(g) if g.expires_at > now => g,
            _ => {
                return Err(self.bearer_error(
                    Some(ErrorCode::InvalidToken),
                    "the access token is invalid or expired",
                    None,
                ));
            }
        };
        if !required.is_subset_of(&grant.scope) {
            return Err(self.bearer_error(
                Some(ErrorCode::InsufficientScope),
                "the access token lacks the scope this resource needs",
                Some(required),
            ));
        }
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::is_b64token_byte;

    #[test]
    fn rfc6750_2_1_b64token_characters() {
        let grammar = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";
        for c in 0..=255u8 {
            assert_eq!(is_b64token_byte(c), grammar.contains(&c), "byte {c:#04x}");
        }
    }
}
