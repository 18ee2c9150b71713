//! Access tokens as the server makes and reads them: opaque (256 random bits, stored by their hash) or RFC 9068
//! JWTs ([`AccessTokenFormat::Jwt`]), with one lookup for every endpoint that takes one back (the resource check,
//! UserInfo, introspection, revocation).

use std::time::SystemTime;

#[cfg(feature = "jose")]
use crate::error::ErrorCode;
use crate::error::{OAuthError, StoreError};
use crate::secret::SecretHash;
use crate::server::rules::lifetime::later;
use crate::server::store::{Grant, Store, TokenRecord};
use crate::server::{AccessTokenFormat, AuthorizationServer};

/// A new access token and what the store keeps of it.
pub(crate) struct Minted {
    /// The token the client gets.
    pub(crate) token: String,
    /// Its hash and record, for the store: `None` for a JWT the store holds nothing of.
    pub(crate) stored: Option<(SecretHash, TokenRecord)>,
}

/// A live access token, found by [`AuthorizationServer::live_access`].
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) record: TokenRecord,
    /// For a JWT: its `jti`, and whether the store holds no record of it (then it is revoked by a deny-list entry).
    pub(crate) jwt: Option<(String, bool)>,
}

/// Whether `token` has a JWS's shape (three base64url parts): an opaque token of this server has no `.`.
fn looks_like_jwt(token: &str) -> bool {
    token.contains('.') && token.bytes().filter(|&b| b == b'.').count() == 2
}

impl<S: Store> AuthorizationServer<S> {
    /// A new access token for `grant` at `now`. `family`: whether the issuance stores anything else (a code, a
    /// refresh token) or has a user, so that the grant may be revoked as a whole; only a JWT of a grant that is
    /// neither (client credentials) goes unstored.
    pub(crate) async fn mint_access(&self, grant: Grant, family: bool, now: SystemTime) -> Result<Minted, OAuthError> {
        let lifetime = self.config.current_access_token_lifetime();
        let record = TokenRecord { grant, issued_at: now, expires_at: later(now, lifetime) };
        match self.config.access_tokens {
            AccessTokenFormat::Opaque => {
                // Every opaque token is stored, whatever its grant.
                let _ = family;
                let token = self.new_secret();
                Ok(Minted { stored: Some((SecretHash::of(&token), record)), token })
            }
            // Boxed: the signing path's future is large, and the opaque path should not carry its size.
            #[cfg(feature = "jose")]
            AccessTokenFormat::Jwt(algorithm) => Box::pin(self.mint_jwt(record, family, algorithm, now)).await,
        }
    }

    /// A JWT access token (RFC 9068) of `record`, signed with `algorithm`'s current key.
    #[cfg(feature = "jose")]
    async fn mint_jwt(
        &self,
        record: TokenRecord,
        family: bool,
        algorithm: crate::jose::Algorithm,
        now: SystemTime,
    ) -> Result<Minted, OAuthError> {
        use crate::server::rules::access_token::{STATELESS, TYP, claims};
        let stateless = !family && record.grant.subject.is_none();
        let jti = if stateless { format!("{STATELESS}{}", self.new_secret()) } else { self.new_secret() };
        let key = self.current_key(algorithm, &record.grant.client_id, now).await?;
        let token = key.sign(Some(TYP), &claims(&self.config, &record, &jti)).map_err(|e| {
            tracing::error!(error = %e, "an access token could not be signed");
            OAuthError::new(ErrorCode::ServerError, "the access token cannot be signed")
        })?;
        // A stored JWT is kept under the hash of the whole token, as an opaque one: its `jti` (which a resource
        // server may log) is not a credential.
        Ok(Minted { stored: (!stateless).then(|| (SecretHash::of(&token), record)), token })
    }

    /// The access token `token` if it is live at the store's word (not revoked, its client still registered),
    /// whatever its kind; expiry is the caller's to check. A JWT of this server is verified with its keys first; a
    /// token that is neither an opaque token of the store nor a valid JWT of this server is not found.
    pub(crate) async fn live_access(&self, token: &str, now: SystemTime) -> Result<Option<Live>, StoreError> {
        #[cfg(feature = "jose")]
        if looks_like_jwt(token) {
            let Some(claims) = self.own_jwt(token, now).await? else {
                return Ok(None);
            };
            if claims.stateless() {
                return self.stateless_live(claims).await;
            }
            let found = self.store.access_token(&SecretHash::of(token)).await?;
            return Ok(found.map(|record| Live { record, jwt: Some((claims.jti, false)) }));
        }
        #[cfg(not(feature = "jose"))]
        let _ = (looks_like_jwt, now);
        let found = self.store.access_token(&SecretHash::of(token)).await?;
        Ok(found.map(|record| Live { record, jwt: None }))
    }

    /// What the access token `token` grants at this server's own resources (UserInfo, the routes behind its
    /// guard): as [`live_access`](Self::live_access), with the store's own lookup for stored tokens (which a store
    /// may cache, and which refuses the tokens of a removed client); and only a token that names no resource, or
    /// names the issuer (RFC 8707: a token for another API is not for this one).
    pub(crate) async fn access_grant_of(
        &self,
        token: &crate::resource::BearerToken<'_>,
        now: SystemTime,
    ) -> Result<Option<crate::resource::AccessGrant>, StoreError> {
        #[cfg(feature = "jose")]
        let found = if looks_like_jwt(token.secret()) {
            // Boxed: the opaque path, every request of an opaque-token server, should not carry this future's size.
            Box::pin(self.jwt_access_grant(token, now)).await?
        } else {
            self.store.access_grant(&token.hash()).await?
        };
        #[cfg(not(feature = "jose"))]
        let found = {
            let _ = now;
            self.store.access_grant(&token.hash()).await?
        };
        Ok(found.filter(|g| g.audience.is_empty() || g.is_for(&self.config.issuer)))
    }

    #[cfg(feature = "jose")]
    async fn jwt_access_grant(
        &self,
        token: &crate::resource::BearerToken<'_>,
        now: SystemTime,
    ) -> Result<Option<crate::resource::AccessGrant>, StoreError> {
        match self.own_jwt(token.secret(), now).await? {
            None => Ok(None),
            Some(claims) if claims.stateless() => {
                Ok(self.stateless_live(claims).await?.map(|live| live.record.into_access_grant()))
            }
            Some(_) => self.store.access_grant(&token.hash()).await,
        }
    }

    /// A token the store holds no record of is live unless its `jti` is on the deny-list or its client is gone.
    #[cfg(feature = "jose")]
    async fn stateless_live(
        &self,
        claims: crate::server::rules::access_token::Claims,
    ) -> Result<Option<Live>, StoreError> {
        if self.store.token_denied(&SecretHash::of(&claims.jti)).await?
            || self.store.client(&claims.client_id).await?.is_none()
        {
            return Ok(None);
        }
        let jti = claims.jti.clone();
        Ok(Some(Live { record: claims.into_record(&self.config), jwt: Some((jti, true)) }))
    }

    /// The claims of `token` if it is a JWT access token that this server signed and that has not expired.
    #[cfg(feature = "jose")]
    async fn own_jwt(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Option<crate::server::rules::access_token::Claims>, StoreError> {
        use crate::jose::{Algorithm, Validation};
        use crate::server::keys::KeyError;
        let keys = match self.signing_keys(now).await {
            Ok(keys) => keys,
            Err(KeyError::Store(e)) => return Err(e),
            // No usable key: no JWT of ours can be checked, so none is live.
            Err(_) => return Ok(None),
        };
        // No leeway: the issuer's own clock decides, as it does for opaque tokens.
        let check = Validation::new(&self.config.issuer, "", &Algorithm::ALL, now)
            .any_audience()
            .leeway(std::time::Duration::ZERO)
            .typ(crate::server::rules::access_token::TYP);
        match check.decode(token, keys.jwks()) {
            Ok(claims) => Ok(Some(claims)),
            // A key another instance rotated in since these keys were loaded: load them again (rate-limited).
            Err(crate::jose::JoseError::UnknownKey(_)) => {
                match self.keys.reload_for_unknown_kid(&self.store, now).await {
                    Ok(Some(keys)) => Ok(check.decode(token, keys.jwks()).ok()),
                    Ok(None) | Err(KeyError::Key { .. } | KeyError::Missing(_)) => Ok(None),
                    Err(KeyError::Store(e)) => Err(e),
                }
            }
            Err(_) => Ok(None),
        }
    }

    /// The current signing key of `algorithm`, for a token of `client_id`. A missing key is the server's fault.
    #[cfg(feature = "jose")]
    pub(crate) async fn current_key(
        &self,
        algorithm: crate::jose::Algorithm,
        client_id: &str,
        now: SystemTime,
    ) -> Result<std::sync::Arc<crate::jose::SigningKey>, OAuthError> {
        use crate::server::keys::KeyError;
        let server_error = |why: &dyn std::fmt::Display| {
            tracing::error!(client_id = %client_id, error = %why, "no signing key");
            OAuthError::new(ErrorCode::ServerError, "no token can be signed")
        };
        let keys = match self.signing_keys(now).await {
            Ok(keys) => keys,
            Err(KeyError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(server_error(&e)),
        };
        keys.current(algorithm).cloned().ok_or_else(|| server_error(&KeyError::Missing(algorithm)))
    }
}
