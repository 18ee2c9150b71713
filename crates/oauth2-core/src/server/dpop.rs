//! DPoP at the authorization server (RFC 9449 §4–5, §8, §10): the proof of a request to one of its endpoints,
//! checked, with its nonce and its replay; and the binding it asks for.

use std::time::SystemTime;

use crate::error::{ErrorCode, OAuthError};
use crate::server::AuthorizationServer;
use crate::server::store::Store;

/// `invalid_dpop_proof` (400 at the authorization server, RFC 9449 §5).
pub(crate) fn invalid_proof(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// Whether the token's key may be used with the proof's: a `bound` token or code needs a proof (`invalid_dpop_proof`
/// without one) of that very key (`invalid_grant` for another).
pub(crate) fn key_matches(bound: Option<&str>, proof: Option<&str>, what: &str) -> Result<(), OAuthError> {
    match (bound, proof) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(invalid_proof(&format!("the {what} is bound to a DPoP key: send a proof of it"))),
        (Some(bound), Some(proof)) if bound == proof => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(format!("the {what} is bound to another DPoP key"))),
    }
}

impl<S: Store> AuthorizationServer<S> {
    /// The thumbprint of the key of the DPoP proof that came with `request` to this server's endpoint at `path`
    /// (RFC 9449 §4.3), or `None` without one. A proof must be alone, well-formed, for this method and URL, within
    /// the window, carry a current nonce when the server gives nonces (§8: else `use_dpop_nonce`), and not have
    /// been seen before (its `jti`, across every instance).
    #[cfg(feature = "jose")]
    pub(crate) async fn dpop_proof<B>(
        &self,
        request: &http::Request<B>,
        path: &str,
        now: SystemTime,
    ) -> Result<Option<String>, OAuthError> {
        use crate::dpop::{DPOP, DpopError, Expected, check_proof};
        let mut values = request.headers().get_all(DPOP).iter();
        let Some(value) = values.next() else { return Ok(None) };
        if values.next().is_some() {
            return Err(invalid_proof("more than one DPoP header"));
        }
        let url = self.config.url(path);
        let expected =
            Expected { window: self.config.dpop_proof_window, ..Expected::new(request.method().as_str(), &url, now) };
        let proof = check_proof(value.as_bytes(), &expected).map_err(|e| match e {
            DpopError::UseNonce => OAuthError::new(ErrorCode::UseDpopNonce, "use the server's DPoP nonce"),
            e => invalid_proof(&e.to_string()),
        })?;
        if let Some(nonces) = &self.dpop_nonces
            && !proof.nonce.as_deref().is_some_and(|n| nonces.accepts(n, now))
        {
            return Err(OAuthError::new(ErrorCode::UseDpopNonce, "the proof must carry the nonce in DPoP-Nonce"));
        }
        let until = proof.remember_until(self.config.dpop_proof_window);
        if !self.store.first_use(&proof.replay_id(), until, now).await? {
            tracing::warn!(jkt = %proof.jkt, "a DPoP proof was replayed");
            return Err(invalid_proof("the DPoP proof was used before"));
        }
        Ok(Some(proof.jkt))
    }

    /// Without the `jose` feature there is no DPoP: a request with a proof is refused.
    #[cfg(not(feature = "jose"))]
    pub(crate) async fn dpop_proof<B>(
        &self,
        request: &http::Request<B>,
        _path: &str,
        _now: SystemTime,
    ) -> Result<Option<String>, OAuthError> {
        if request.headers().contains_key("dpop") {
            return Err(invalid_proof("DPoP is not supported"));
        }
        Ok(None)
    }

    /// Makes and checks DPoP nonces (RFC 9449 §8) with `secret`, shared by every instance: token requests and
    /// pushed requests must then carry a current one, and every answer of those endpoints gives it in
    /// `DPoP-Nonce`. Each nonce is good for 5 to 10 minutes.
    #[cfg(feature = "jose")]
    pub fn with_dpop_nonces(mut self, secret: &[u8]) -> Self {
        self.dpop_nonces = Some(crate::dpop::NonceIssuer::new(secret, std::time::Duration::from_secs(300)));
        self
    }

    /// `response` with the current DPoP nonce, when the server gives nonces.
    #[cfg_attr(not(feature = "jose"), allow(clippy::unused_self))]
    pub(crate) fn with_dpop_nonce(
        &self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> http::Response<Vec<u8>> {
        #[cfg(feature = "jose")]
        if let Some(nonces) = &self.dpop_nonces
            && let Ok(value) = http::HeaderValue::try_from(nonces.current(now))
        {
            let mut response = response;
            response.headers_mut().insert(crate::dpop::DPOP_NONCE, value);
            return response;
        }
        #[cfg(not(feature = "jose"))]
        let _ = now;
        response
    }
}
