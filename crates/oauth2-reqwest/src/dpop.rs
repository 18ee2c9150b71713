//! DPoP (RFC 9449) on reqwest: a key with the nonces servers gave it, which signs a fresh proof for each request and
//! sends a request once more when the server asks for its nonce.

use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use oauth2_core::client::asks_for_dpop_nonce;
use oauth2_core::dpop::{DPOP, DpopKey, DpopNonces};
use oauth2_core::random::OsRng;

use crate::{Error, execute};

/// A DPoP key in use: it signs the proofs, and remembers each server's `DPoP-Nonce` (RFC 9449 §8) for the next
/// ones. [`Session`](crate::Session) keeps one ([`SessionBuilder::dpop`](crate::SessionBuilder::dpop)); use it
/// directly with [`execute`](Self::execute) when driving the core by hand.
pub struct DpopSigner {
    key: DpopKey,
    nonces: Mutex<DpopNonces>,
}

impl std::fmt::Debug for DpopSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopSigner").field("key", &self.key).finish_non_exhaustive()
    }
}

impl DpopSigner {
    /// Proofs of `key`, with no nonce yet.
    pub fn new(key: DpopKey) -> Self {
        Self { key, nonces: Mutex::new(DpopNonces::new()) }
    }

    /// The key.
    pub fn key(&self) -> &DpopKey {
        &self.key
    }

    /// A fresh proof for `method` `url` now, with the `ath` of `access_token` at a resource, and the nonce the
    /// server gave last.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> Result<http::HeaderValue, Error> {
        let nonce = self.nonces.lock().unwrap_or_else(PoisonError::into_inner).get(url).map(str::to_owned);
        let proof = self
            .key
            .proof(method, url, access_token, nonce.as_deref(), SystemTime::now(), &mut OsRng)
            .map_err(|e| Error::Dpop(e.to_string()))?;
        http::HeaderValue::try_from(proof).map_err(|e| Error::Dpop(e.to_string()))
    }

    /// Remembers the nonce of an answer from `url`; `true` when the answer asks for the request again with it.
    pub fn observe(&self, url: &str, status: http::StatusCode, headers: &http::HeaderMap, body: &[u8]) -> bool {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner).observe(url, headers);
        asks_for_dpop_nonce(status, headers, body)
    }

    /// Sends `request` with a fresh proof ([`crate::execute`]), and once more with a new proof when the answer asks
    /// for the server's nonce (`use_dpop_nonce`). `access_token`: the token the request presents at a resource
    /// (its proof then carries `ath`).
    pub async fn execute(
        &self,
        http: &reqwest::Client,
        request: http::Request<Vec<u8>>,
        access_token: Option<&str>,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        let url = request.uri().to_string();
        let method = request.method().clone();
        let mut again = Some(request.clone());
        let mut request = request;
        loop {
            request.headers_mut().insert(DPOP, self.proof(method.as_str(), &url, access_token)?);
            let response = execute(http, request).await?;
            let asks = self.observe(&url, response.status(), response.headers(), response.body());
            match again.take() {
                Some(next) if asks => {
                    tracing::debug!("the server asks for its DPoP nonce; sending the request once more");
                    request = next;
                }
                _ => return Ok(response),
            }
        }
    }
}
