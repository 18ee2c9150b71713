//! The UserInfo endpoint (OpenID Connect Core §5.3): the app's claims about the user of a live access token.

use std::time::SystemTime;

use http::StatusCode;

use crate::error::{Challenge, ErrorCode, OAuthError};
use crate::reply::json_response;
use crate::resource::Presented;
use crate::scope::Scope;
use crate::server::AuthorizationServer;
use crate::server::store::Store;

impl<S: Store> AuthorizationServer<S> {
    /// Answers a UserInfo request (OIDC Core §5.3.1, §5.3.2) of `method` with `headers`: the access token (RFC 6750
    /// §2.1; or a DPoP-bound one with its proof, RFC 9449 §7) must be live and issued for a user; the answer is
    /// `sub` (the grant's subject, the id_token's `sub`) and the app's claims for the grant, `200` JSON with
    /// `Cache-Control: no-store`. Refusals are RFC 6750 §3.1 (or RFC 9449 §7.1) errors with their
    /// `WWW-Authenticate` challenge; without [`with_userinfo`](Self::with_userinfo) it is `404`.
    pub async fn userinfo(
        &self,
        method: &http::Method,
        headers: &http::HeaderMap,
        now: SystemTime,
    ) -> http::Response<Vec<u8>> {
        let Some((claims, _)) = &self.userinfo else {
            return http::Response::builder().status(StatusCode::NOT_FOUND).body(Vec::new()).unwrap_or_default();
        };
        let check = self.resource_server();
        let path = self.config.userinfo_path.as_deref().unwrap_or("/userinfo");
        let presented = Presented::new(
            method.as_str(),
            path,
            headers.get_all(http::header::AUTHORIZATION).iter().map(http::HeaderValue::as_bytes),
            headers.get_all("dpop").iter().map(http::HeaderValue::as_bytes),
        );
        let grant = match check.check_presented(self, &presented, &Scope::empty(), now).await {
            Ok(grant) => grant,
            Err(refused) => return refused.into_response(),
        };
        let Some(subject) = grant.subject.clone() else {
            let challenge = Challenge::Bearer {
                realm: self.config.realm.clone(),
                error: Some(ErrorCode::InsufficientScope),
                scope: None,
            };
            let refused =
                OAuthError::new(ErrorCode::InsufficientScope, "this token was issued to a client, not for a user");
            return refused.with_challenge(challenge).into_response();
        };
        let mut body = claims(&grant);
        // §5.3.2: `sub` is always the grant's, whatever the app's claims say.
        body.insert("sub".into(), serde_json::Value::String(subject.to_string()));
        json_response(StatusCode::OK, &body)
    }
}
