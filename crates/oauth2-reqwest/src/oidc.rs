//! OpenID Connect on a [`Session`]: the issuer's JWK Set, cached and refetched on an unknown `kid` (at most once a
//! minute), the id_token checks of the core after each login and refresh, and UserInfo with its `sub` check.

use std::time::{Duration, Instant, SystemTime};

use oauth2_core::client::{IdTokenClaims, IdTokenError};
use oauth2_core::jose::{JoseError, JwkSet};
use oauth2_core::{PendingAuthorization, Token};

use crate::{Error, Session, execute};

/// How often an unknown `kid` may make the JWK Set be fetched again: a forged token naming random kids must not
/// turn a client into a request amplifier.
pub const JWKS_REFETCH_EVERY: Duration = Duration::from_secs(60);

/// The issuer's keys as last fetched, and when.
#[derive(Debug, Default)]
pub(crate) struct JwksCache {
    keys: Option<(JwkSet, Instant)>,
}

impl Session {
    /// The issuer's JWK Set: cached; fetched again when `stale` and the last fetch is a minute old.
    async fn jwks(&self, stale: bool) -> Result<JwkSet, Error> {
        let mut cache = self.inner.jwks.lock().await;
        if let Some((keys, at)) = &cache.keys
            && (!stale || at.elapsed() < JWKS_REFETCH_EVERY)
        {
            return Ok(keys.clone());
        }
        let uri = self.inner.client.jwks_uri().ok_or(oauth2_core::client::RequestError::MissingEndpoint("jwks_uri"))?;
        let request =
            http::Request::get(uri.as_str()).body(Vec::new()).map_err(|_| Error::InvalidIssuer(uri.to_string()))?;
        let response = execute(&self.inner.http, request).await?;
        if response.status() != http::StatusCode::OK {
            return Err(IdTokenError::Claims(format!("the JWK Set answered {}", response.status())).into());
        }
        let keys: JwkSet = serde_json::from_slice(response.body())
            .map_err(|e| IdTokenError::Claims(format!("the JWK Set is malformed: {e}")))?;
        cache.keys = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }

    /// Runs `check` with the issuer's keys; once more with freshly fetched keys when the token's `kid` is unknown
    /// (a rotation at the issuer).
    async fn with_keys<T>(&self, check: impl Fn(&JwkSet) -> Result<T, IdTokenError>) -> Result<T, Error> {
        match check(&self.jwks(false).await?) {
            Err(IdTokenError::Jose(JoseError::UnknownKey(_))) => Ok(check(&self.jwks(true).await?)?),
            other => Ok(other?),
        }
    }

    /// Checks the id_token of a login's token response, when there is one, and keeps its claims.
    pub(crate) async fn check_login_id_token(
        &self,
        pending: &PendingAuthorization,
        token: &Token,
    ) -> Result<(), Error> {
        let Some(id_token) = token.extra.get("id_token").and_then(|v| v.as_str()) else {
            if pending.nonce.is_some() && token.scope.as_ref().is_some_and(|s| s.contains("openid")) {
                return Err(IdTokenError::Claims("openid was granted but no id_token came".into()).into());
            }
            return Ok(());
        };
        let access = token.access_token.secret();
        let client = &self.inner.client;
        let claims = self
            .with_keys(|keys| client.validate_id_token(id_token, pending, Some(access), keys, SystemTime::now()))
            .await?;
        *self.id_token_slot() = Some(claims);
        Ok(())
    }

    /// Checks the id_token of a refresh, when there is one (same user as the login's, when the session saw the
    /// login), and keeps its claims; a bad one leaves no claims behind.
    pub(crate) async fn check_refreshed_id_token(&self, token: &Token) -> Result<(), Error> {
        let Some(id_token) = token.extra.get("id_token").and_then(|v| v.as_str()) else { return Ok(()) };
        let previous = self.id_token_claims();
        let access = token.access_token.secret();
        let client = &self.inner.client;
        let checked = self
            .with_keys(|keys| {
                client.validate_refreshed_id_token(id_token, previous.as_ref(), Some(access), keys, SystemTime::now())
            })
            .await;
        *self.id_token_slot() = checked.as_ref().ok().cloned();
        checked.map(|_| ())
    }

    fn id_token_slot(&self) -> std::sync::MutexGuard<'_, Option<IdTokenClaims>> {
        self.inner.id_token.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The claims of the last id_token this session validated (after an OpenID Connect login or refresh).
    pub fn id_token_claims(&self) -> Option<IdTokenClaims> {
        self.id_token_slot().clone()
    }

    /// The UserInfo answer for the session's token (OIDC Core §5.3), from the endpoint of the issuer's metadata;
    /// when the session holds an id_token, the answer's `sub` must be its (§5.3.2), or it is refused.
    pub async fn userinfo(&self) -> Result<serde_json::Value, Error> {
        let uri = self
            .inner
            .client
            .userinfo_endpoint()
            .ok_or(oauth2_core::client::RequestError::MissingEndpoint("userinfo_endpoint"))?
            .clone();
        let mut response = self.get(uri).send().await?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > crate::MAX_BODY {
                return Err(Error::BodyTooLarge(crate::MAX_BODY));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let error: oauth2_core::ErrorResponse = serde_json::from_slice(&body)
                .unwrap_or_else(|_| oauth2_core::ErrorResponse::new(oauth2_core::ErrorCode::InvalidToken));
            return Err(oauth2_core::ResponseError::Provider { status, error }.into());
        }
        let info: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| IdTokenError::Claims(format!("UserInfo is not JSON: {e}")))?;
        if let Some(claims) = self.id_token_claims() {
            self.inner.client.check_userinfo(&info, &claims)?;
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use oauth2_core::jose::{Jwk, SigningKey};

    use super::*;

    fn key(kid: &str, seed: u8) -> Jwk {
        SigningKey::ed25519_from_seed(kid, &[seed; 32]).unwrap().public_jwk()
    }

    /// The JWK Set is fetched once, fetched again for a kid it lacks (a rotation at the issuer), but not more than
    /// once a minute however many unknown kids come (a forged token must not make the client hammer the issuer).
    #[tokio::test]
    async fn an_unknown_kid_refetches_the_jwks_at_most_once_a_minute() {
        let published = Arc::new(Mutex::new(JwkSet { keys: vec![key("k1", 1)] }));
        let hits = Arc::new(AtomicUsize::new(0));
        let app = {
            let (published, hits) = (published.clone(), hits.clone());
            axum::Router::new().route(
                "/jwks",
                axum::routing::get(move || {
                    let (published, hits) = (published.clone(), hits.clone());
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        axum::Json(published.lock().unwrap().clone())
                    }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = oauth2_core::Client::builder("rp")
            .token_endpoint(format!("{base}/token"))
            .jwks_uri(format!("{base}/jwks"))
            .build()
            .unwrap();
        let session = Session::new(client).unwrap();
        let has = |kid: &'static str| {
            move |keys: &JwkSet| match keys.find(kid) {
                Some(_) => Ok(()),
                None => Err(IdTokenError::Jose(JoseError::UnknownKey(Some(kid.into())))),
            }
        };
        session.with_keys(has("k1")).await.unwrap();
        session.with_keys(has("k1")).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1, "cached");
        // The issuer rotates; a token with the new kid arrives within the minute: one refetch is not allowed yet.
        published.lock().unwrap().keys.insert(0, key("k2", 2));
        assert!(session.with_keys(has("k2")).await.is_err());
        assert!(session.with_keys(has("k-forged")).await.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 1, "no refetch within a minute of the last");
        // A minute later, an unknown kid fetches the set again, once.
        {
            let mut cache = session.inner.jwks.lock().await;
            let (_, at) = cache.keys.as_mut().unwrap();
            *at = Instant::now().checked_sub(JWKS_REFETCH_EVERY + Duration::from_secs(1)).unwrap();
        }
        session.with_keys(has("k2")).await.unwrap();
        assert!(session.with_keys(has("k-forged")).await.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 2, "one refetch for the rotation, none for the forged kid");
    }
}
