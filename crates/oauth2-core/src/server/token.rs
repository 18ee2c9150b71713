//! The token endpoint (RFC 6749 §3.2): one dispatcher on `grant_type`, client authentication first.

use std::time::SystemTime;

use http::StatusCode;

use super::authorize::redirect_uri_allowed;
use super::reply::{OAuthError, json_bytes_response, push_json_string};
use super::store::{
    ClientStore, CodeUse, Grant, GrantStore, GrantType, RegisteredClient, Rotation, SecretHash, TokenRecord,
};
use super::{AuthorizationServer, decide_scope};
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
            Ok(body) => body.into_response(),
            Err(e) => e.into_response(),
        }
    }

    async fn token_inner<B: AsRef<[u8]>>(
        &self,
        request: &http::Request<B>,
        now: SystemTime,
    ) -> Result<TokenResponse, OAuthError> {
        let params = form_of(request, self.config.max_body_bytes)?;
        let client = self.authenticate_client(request.headers(), &params).await?;
        let grant_type =
            params.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        let grant = match GrantType::parse(grant_type) {
            Some(g) if g != GrantType::Implicit && self.config.grant_types.contains(&g) => g,
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

    /// Whether a refresh token goes with `client`'s tokens: the client is registered for the refresh grant and the
    /// server offers it (a refresh token the token endpoint would then refuse is worse than none).
    fn issues_refresh(&self, client: &RegisteredClient) -> bool {
        client.allows(GrantType::RefreshToken) && self.config.grant_types.contains(&GrantType::RefreshToken)
    }

    fn records(&self, grant: Grant, with_refresh: bool, now: SystemTime) -> Issued {
        let lifetime = self.config.access_token_lifetime;
        let access = self.new_secret();
        let refresh = with_refresh.then(|| {
            let token = self.new_secret();
            let record = TokenRecord {
                grant: grant.clone(),
                issued_at: now,
                expires_at: later(now, self.config.refresh_token_lifetime),
            };
            (token, record)
        });
        let body = TokenResponse {
            token_type: "Bearer",
            expires_in: lifetime.as_secs(),
            // §3.3: a scope has at least one token, so an empty one is left out.
            scope: (!grant.scope.is_empty()).then(|| grant.scope.to_string()),
            refresh_token: refresh.as_ref().map(|(t, _)| t.clone()),
            access_token: access,
        };
        let access_hash = SecretHash::of(&body.access_token);
        let access_record = TokenRecord { grant, issued_at: now, expires_at: later(now, lifetime) };
        Issued { body, access: (access_hash, access_record), refresh: refresh.map(|(t, r)| (SecretHash::of(&t), r)) }
    }

    async fn issue(&self, grant: Grant, with_refresh: bool, now: SystemTime) -> Result<TokenResponse, OAuthError> {
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
    ) -> Result<TokenResponse, OAuthError> {
        let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let hash = SecretHash::of(code);
        // Bindings are checked before the code is spent, so someone holding an intercepted code (without the
        // client's credentials or verifier) cannot burn it for the real client.
        let (record, used) = self.store.code(&hash).await?.ok_or_else(|| OAuthError::invalid_grant("unknown code"))?;
        if record.grant.client_id != client.id {
            // Another client's replay does not revoke the owner's grant (it could not have redeemed it anyway).
            return Err(OAuthError::invalid_grant("the code was issued to another client"));
        }
        // A used code goes straight to the atomic call below, which revokes what it issued (§4.1.2, RFC 9700
        // §4.2.4) in the same step that detects the replay: no second call that a dropped future could skip.
        if !used {
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
        }
        // Spend it and store its tokens in one atomic step: exactly one concurrent redemption gets Fresh, and a
        // replay is revoked by the store within the same call.
        let issued = self.records(record.grant, self.issues_refresh(client), now);
        match self.store.redeem_code(&hash, issued.access, issued.refresh).await? {
            CodeUse::Fresh(_) => Ok(issued.body),
            CodeUse::Replayed(_) => Err(OAuthError::invalid_grant("the code was already used; its tokens are revoked")),
            CodeUse::Unknown => Err(OAuthError::invalid_grant("unknown code")),
        }
    }

    /// §4.3: only for clients registered for it, with the app's credential check.
    async fn password_grant(
        &self,
        client: &RegisteredClient,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<TokenResponse, OAuthError> {
        let username = params.get("username").ok_or_else(|| OAuthError::invalid_request("username is required"))?;
        let password = params.get("password").ok_or_else(|| OAuthError::invalid_request("password is required"))?;
        let scope = self.resolve_scope(client, params.get("scope"))?;
        let verify = self
            .passwords
            .as_ref()
            .ok_or_else(|| OAuthError::new(ErrorCode::UnsupportedGrantType, "the password grant is not enabled"))?;
        let subject =
            verify(username, password).ok_or_else(|| OAuthError::invalid_grant("wrong username or password"))?;
        let grant = Grant { id: self.new_grant_id(), client_id: client.id.clone(), subject: Some(subject), scope };
        self.issue(grant, self.issues_refresh(client), now).await
    }

    /// §4.4: confidential clients only; no refresh token unless the client opted in (§4.4.3).
    async fn client_credentials_grant(
        &self,
        client: &RegisteredClient,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.is_confidential() {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "client credentials need a confidential client",
            ));
        }
        let scope = self.resolve_scope(client, params.get("scope"))?;
        let grant = Grant { id: self.new_grant_id(), client_id: client.id.clone(), subject: None, scope };
        self.issue(grant, client.refresh_on_client_credentials && self.issues_refresh(client), now).await
    }

    /// §6 with rotation (RFC 9700 §4.14.2): the old refresh token is spent atomically; presenting a spent one
    /// revokes the whole grant. The scope may narrow, never widen; the new refresh token keeps the original scope.
    async fn refresh_grant(
        &self,
        client: &RegisteredClient,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<TokenResponse, OAuthError> {
        let token =
            params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let hash = SecretHash::of(token);
        let (record, used) =
            self.store.refresh_token(&hash).await?.ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
        // The client binding first: another client presenting a spent token must not revoke the owner's grant.
        if record.grant.client_id != client.id {
            return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
        }
        // A used token goes straight to the atomic call below, which revokes the family in the step that detects
        // the reuse (RFC 9700 §4.14.2).
        let scope = if used {
            record.grant.scope.clone()
        } else {
            if record.expires_at <= now {
                return Err(OAuthError::invalid_grant("the refresh token expired"));
            }
            // §6: the scope may narrow, never widen; omitted (or blank) means the original scope.
            decide_scope(params.get("scope"), &record.grant.scope)?
        };
        let access_grant = Grant { scope, ..record.grant.clone() };
        let mut issued = self.records(access_grant, true, now);
        let Some((refresh_hash, mut refresh_record)) = issued.refresh.take() else {
            return Err(OAuthError::new(ErrorCode::ServerError, "no refresh token minted"));
        };
        refresh_record.grant.scope = record.grant.scope.clone();
        match self.store.rotate_refresh(&hash, issued.access, (refresh_hash, refresh_record)).await? {
            Rotation::Rotated => Ok(issued.body),
            Rotation::Reused(_) => {
                Err(OAuthError::invalid_grant("the refresh token was already used; the grant is revoked"))
            }
            Rotation::Unknown => Err(OAuthError::invalid_grant("unknown refresh token")),
        }
    }
}

/// `now + lifetime`, or the far future when a lifetime is configured too large to add (never a panic).
pub(crate) fn later(now: SystemTime, lifetime: std::time::Duration) -> SystemTime {
    now.checked_add(lifetime)
        .unwrap_or_else(|| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(u32::MAX) * 4))
}

/// A successful token response as the server sends it (RFC 6749 §5.1): what every grant of the token endpoint
/// answers, and what an app's own grant (a token exchange, say) can answer too.
///
/// ```
/// use oauth2_core::server::TokenResponse;
/// let response = TokenResponse::new("2YotnFZFEjr1zCsicMWpAA", 3600).scope("read").into_response();
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// assert!(response.body().starts_with(br#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer""#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer` (RFC 6750).
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The granted scope, when it is not empty.
    pub scope: Option<String>,
    /// A refresh token, if one was issued.
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    /// A Bearer token response for `access_token`, expiring in `expires_in` seconds.
    pub fn new(access_token: impl Into<String>, expires_in: u64) -> Self {
        Self { access_token: access_token.into(), token_type: "Bearer", expires_in, scope: None, refresh_token: None }
    }

    /// With the granted scope (left out when empty: RFC 6749 §3.3 scopes have at least one token).
    pub fn scope(mut self, scope: impl std::fmt::Display) -> Self {
        let scope = scope.to_string();
        self.scope = (!scope.is_empty()).then_some(scope);
        self
    }

    /// With a refresh token.
    pub fn refresh_token(mut self, token: impl Into<String>) -> Self {
        self.refresh_token = Some(token.into());
        self
    }

    /// The `200` JSON response, with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
    pub fn into_response(self) -> http::Response<Vec<u8>> {
        json_bytes_response(StatusCode::OK, self.to_json())
    }

    /// The JSON object, written directly: every token request ends here, and a generic serializer spends more time
    /// escaping these few strings than the rest of the response costs.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(192);
        out.extend_from_slice(b"{\"access_token\":");
        push_json_string(&mut out, &self.access_token);
        out.extend_from_slice(b",\"token_type\":");
        push_json_string(&mut out, self.token_type);
        out.extend_from_slice(b",\"expires_in\":");
        push_decimal(&mut out, self.expires_in);
        if let Some(scope) = &self.scope {
            out.extend_from_slice(b",\"scope\":");
            push_json_string(&mut out, scope);
        }
        if let Some(refresh) = &self.refresh_token {
            out.extend_from_slice(b",\"refresh_token\":");
            push_json_string(&mut out, refresh);
        }
        out.push(b'}');
        out
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // n % 10 < 10, so the digit is one ASCII byte.
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

struct Issued {
    body: TokenResponse,
    access: (SecretHash, TokenRecord),
    refresh: Option<(SecretHash, TokenRecord)>,
}

#[cfg(test)]
mod tests {
    use super::TokenResponse;

    fn clone(b: &TokenResponse) -> TokenResponse {
        TokenResponse {
            access_token: b.access_token.clone(),
            token_type: b.token_type,
            expires_in: b.expires_in,
            scope: b.scope.clone(),
            refresh_token: b.refresh_token.clone(),
        }
    }

    #[test]
    fn rfc6749_5_1_token_body_is_the_json_serde_would_write() {
        let full = TokenResponse {
            access_token: "2YotnFZFEjr1zCsicMWpAA".into(),
            token_type: "Bearer",
            expires_in: 3600,
            scope: Some("read \"quoted\" \\ tab\t".into()),
            refresh_token: Some("tGzv3JOkF0XG5Qx2TlKWIA".into()),
        };
        let expected = serde_json::json!({
            "access_token": "2YotnFZFEjr1zCsicMWpAA",
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "read \"quoted\" \\ tab\t",
            "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA",
        });
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&full.to_json()).unwrap(), expected);
        for n in [0, 7, 10, 3600, u64::MAX] {
            let body =
                TokenResponse { expires_in: n, scope: None, refresh_token: None, ..TokenResponse { ..clone(&full) } };
            let parsed: serde_json::Value = serde_json::from_slice(&body.to_json()).unwrap();
            assert_eq!(parsed["expires_in"].as_u64(), Some(n));
        }
        let bare = TokenResponse { scope: None, refresh_token: None, ..full };
        let parsed: serde_json::Value = serde_json::from_slice(&bare.to_json()).unwrap();
        assert_eq!(parsed.as_object().map(|o| o.len()), Some(3), "absent members are left out: {parsed}");
    }
}
