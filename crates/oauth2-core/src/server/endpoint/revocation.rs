//! The revocation endpoint (RFC 7009 §2): parse → authenticate the client → look the token up → check it is the
//! client's → one revocation.

use std::time::SystemTime;

use crate::error::{ErrorCode, OAuthError};
use crate::secret::SecretHash;
use crate::server::access::Live;
use crate::server::rules::request::form_of;
use crate::server::store::Store;
use crate::server::{AuthorizationServer, ClientId, with_client};

impl<S: Store> AuthorizationServer<S> {
    /// Revokes a token (RFC 7009 §2.1). Revoking a refresh token revokes its whole grant, access tokens included.
    /// The answer is 200 for unknown tokens too (§2.2). A token issued to another client is left untouched and the
    /// request refused with 400 `unauthorized_client` (§2.1: "the request is refused and the client is informed").
    ///
    /// A JWT access token (RFC 9068) is revoked by its `jti`: at once at this server (introspection, UserInfo, the
    /// resource check through the server), while resource servers that check it with the JWKS alone accept it
    /// until it expires.
    pub async fn revoke<B: AsRef<[u8]>>(&self, request: http::Request<B>, now: SystemTime) -> http::Response<Vec<u8>> {
        let mut client = None;
        let response = match self.revoke_inner(&request, now, &mut client).await {
            Ok(()) => {
                let mut r = http::Response::new(Vec::new());
                r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
                r
            }
            Err(e) => e.into_response(),
        };
        with_client(response, client)
    }

    async fn revoke_inner<B: AsRef<[u8]>>(
        &self,
        request: &http::Request<B>,
        now: SystemTime,
        seen: &mut Option<ClientId>,
    ) -> Result<(), OAuthError> {
        let params = form_of(request, self.config.max_body_bytes)?;
        let client = self.authenticate_client(request.headers(), &params).await?;
        *seen = Some(ClientId(client.id.clone()));
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
                    tracing::info!(client_id = %client.id, grant_id = %record.grant.id, "grant revoked by its client");
                    return Ok(());
                }
            } else {
                let mut live = self.live_access(token, now).await?;
                if live.is_none() && token.contains('.') {
                    // A stored JWT whose signature cannot be checked now (its key is not loaded here yet): its row
                    // is found by the token's hash all the same, and the revocation must not be lost.
                    live = self.store.access_token(&hash).await?.map(|record| Live { record, jwt: None });
                }
                let Some(live) = live else { continue };
                if live.record.grant.client_id != client.id {
                    return Err(foreign());
                }
                match live.jwt {
                    // A JWT the store holds nothing of: on the deny-list until it expires, and as long again as
                    // any instance's clock may lag (the 5 minutes of `jose::MAX_LEEWAY`).
                    Some((jti, true)) => {
                        let lag = std::time::Duration::from_secs(300);
                        let until = live.record.expires_at.checked_add(lag).unwrap_or(live.record.expires_at);
                        self.store.deny_token(&SecretHash::of(&jti), until).await?;
                    }
                    _ => self.store.revoke_access_token(&hash).await?,
                }
                return Ok(());
            }
        }
        Ok(())
    }
}
