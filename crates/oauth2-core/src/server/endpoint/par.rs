//! The pushed authorization request endpoint (RFC 9126 §2): parse → authenticate the client → validate as
//! `/authorize` would → one write. The browser then carries only `client_id` and the `request_uri`
//! ([`authorization_request`](AuthorizationServer::authorization_request) takes it from the store, once).

use std::time::SystemTime;

use http::StatusCode;
use serde::Serialize;

use crate::error::{ErrorCode, OAuthError};
use crate::reply::json_response;
use crate::secret::SecretHash;
use crate::server::endpoint::authorize::AuthorizeError;
use crate::server::rules::lifetime::later;
use crate::server::rules::request::form_of;
use crate::server::rules::throttle::pushed_request_key;
use crate::server::store::{PushedRequestRecord, Store};
use crate::server::{AuthorizationServer, ClientAddress, ClientId, with_client};

/// What every `request_uri` this server issues starts with (RFC 9126 §2.2); 256 random bits follow.
pub(crate) const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The pushed authorization response (RFC 9126 §2.2).
#[derive(Serialize)]
struct Pushed<'a> {
    request_uri: &'a str,
    expires_in: u64,
}

impl<S: Store> AuthorizationServer<S> {
    /// Answers a pushed authorization request (RFC 9126 §2): the client authenticates as at the token endpoint (a
    /// public client sends `client_id`), and the request is validated as `/authorize` would validate it, but a
    /// refusal is the RFC 6749 JSON error here (`invalid_request` where `/authorize` would show a page, §2.3). The
    /// answer is `201` with a `request_uri` (256 random bits, stored hashed, single use, bound to the client) and
    /// `expires_in` ([`ServerConfig::pushed_request_lifetime`](crate::server::ServerConfig::pushed_request_lifetime)).
    /// Requests are throttled per client, and for a public client per address too
    /// ([`ServerConfig::pushed_request_throttle`](crate::server::ServerConfig::pushed_request_throttle),
    /// [`confidential_pushed_request_throttle`](crate::server::ServerConfig::confidential_pushed_request_throttle)):
    /// past it, `429` with `Retry-After` (§2.3). A `prompt=none` request is answered `login_required` here, since this
    /// server shows a login page at every authorization request.
    pub async fn pushed_authorization_request<B: AsRef<[u8]>>(
        &self,
        request: http::Request<B>,
        now: SystemTime,
    ) -> http::Response<Vec<u8>> {
        let mut client = None;
        let response = match self.pushed_inner(&request, now, &mut client).await {
            Ok(response) => response,
            Err(e) => e.into_response(),
        };
        with_client(self.with_dpop_nonce(response, now), client)
    }

    async fn pushed_inner<B: AsRef<[u8]>>(
        &self,
        request: &http::Request<B>,
        now: SystemTime,
        seen: &mut Option<ClientId>,
    ) -> Result<http::Response<Vec<u8>>, OAuthError> {
        let params = form_of(request, self.config.max_body_bytes)?;
        let client = self.authenticate_client(request.headers(), &params).await?;
        *seen = Some(ClientId(client.id.clone()));
        // §2.1: a pushed request cannot point to another one.
        if params.get("request_uri").is_some() {
            return Err(OAuthError::invalid_request("request_uri must not be pushed"));
        }
        let mut validated = self.validate(&client, &params).map_err(|e| match e {
            // §2.3: what /authorize shows as a page (the redirect URI) is invalid_request here.
            AuthorizeError::Page(text) => OAuthError::invalid_request(text),
            AuthorizeError::Unavailable(text) => OAuthError::new(ErrorCode::TemporarilyUnavailable, text),
            AuthorizeError::Redirect { error, .. } => {
                OAuthError::new(error.error, error.error_description.unwrap_or_default())
            }
        })?;
        // Each one is stored for its lifetime: no client, and no address for a public one, may fill the store. A
        // confidential client's pushes come from its servers, for all its users: they are counted together, and
        // apart from every other client's.
        let address = request.extensions().get::<ClientAddress>().map(|a| a.0);
        let (key, policy) = if client.is_confidential() {
            (pushed_request_key(&client.id, None), &self.config.confidential_pushed_request_throttle)
        } else {
            (pushed_request_key(&client.id, address), &self.config.pushed_request_throttle)
        };
        let attempts = self.store.record_attempt(&key, now, policy).await?;
        if let Some(wait) = attempts.refused(now) {
            tracing::warn!(address = ?address, client_id = %client.id, "pushed authorization requests throttled");
            return Err(OAuthError::new(ErrorCode::InvalidRequest, "too many pushed requests; try again later")
                .with_status(StatusCode::TOO_MANY_REQUESTS)
                .with_retry_after(wait));
        }
        // RFC 9449 §10.1: a proof at /par binds the code to its key, as `dpop_jkt` does; both must then agree.
        if let Some(jkt) = self.dpop_proof(request, &self.config.pushed_authorization_request_path, now).await? {
            if validated.dpop_jkt.as_ref().is_some_and(|given| *given != jkt) {
                return Err(crate::server::dpop::invalid_proof("dpop_jkt is not the thumbprint of the proof's key"));
            }
            validated.dpop_jkt = Some(jkt);
        }
        let request_uri = format!("{REQUEST_URI_PREFIX}{}", self.new_secret());
        let lifetime = self.config.pushed_request_lifetime.max(std::time::Duration::from_secs(1));
        let record =
            PushedRequestRecord { client_id: client.id.clone(), request: validated, expires_at: later(now, lifetime) };
        self.store.store_pushed_request(SecretHash::of(&request_uri), record, now).await?;
        let body = Pushed { request_uri: &request_uri, expires_in: lifetime.as_secs() };
        Ok(json_response(StatusCode::CREATED, &body))
    }
}
