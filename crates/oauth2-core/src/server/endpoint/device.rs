//! The device authorization grant (RFC 8628). Three steps, each parse → look up → decide → one atomic write:
//!
//! 1. the device asks for codes at the device authorization endpoint ([`device_authorization`], §3.1–3.2);
//! 2. the user types the user code into the app's verification page, which asks the server for the pending request
//!    ([`device_request`], §3.3, throttled per §5.1), logs the user in, asks consent and answers
//!    ([`approve_device`] or [`deny_device`]);
//! 3. meanwhile the device polls the token endpoint ([`device_code_grant`], §3.4–3.5) until it gets the tokens,
//!    once, or a final error.
//!
//! [`device_authorization`]: AuthorizationServer::device_authorization
//! [`device_request`]: AuthorizationServer::device_request
//! [`approve_device`]: AuthorizationServer::approve_device
//! [`deny_device`]: AuthorizationServer::deny_device
//! [`device_code_grant`]: AuthorizationServer::device_code_grant

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, OAuthError, StoreError};
use crate::form::FormParams;
use crate::grant::GrantType;
use crate::reply::json_response;
use crate::scope::Scope;
use crate::secret::SecretHash;
use crate::server::endpoint::token::{TokenResponse, issues_refresh};
use crate::server::rules::lifetime::later;
use crate::server::rules::request::form_of;
use crate::server::rules::throttle::{device_authorization_key, user_code_address_key, user_code_session_key};
use crate::server::rules::{resource, user_code};
use crate::server::store::{
    DeviceCodeRecord, DeviceDecision, DeviceStatus, Grant, MAX_DEVICE_INTERVAL, RegisteredClient, Store,
};
use crate::server::{AuthorizationServer, ClientAddress, ClientId, with_client};

/// Draws of a user code before giving up on finding a free one (each collides with a live code with a chance of
/// live codes / 2.56 × 10¹⁰).
const USER_CODE_DRAWS: usize = 8;

/// A device authorization waiting for the user, as the verification page gets it from a user code: what the app
/// shows on its consent page, then passes back to [`approve_device`](AuthorizationServer::approve_device) or
/// [`deny_device`](AuthorizationServer::deny_device). Serializable, to keep in the user's session while they log in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceRequest {
    /// The client asking (the device's).
    pub client_id: String,
    /// Its display name, if registered.
    pub client_name: Option<String>,
    /// The scope asked for.
    pub scope: Scope,
    /// The resources asked for (RFC 8707).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The user code, as its 8 letters (show it as `XXXX-XXXX`: [`display_user_code`](Self::display_user_code)).
    pub user_code: String,
    /// When the codes stop working.
    pub expires_at: SystemTime,
}

impl DeviceRequest {
    /// The user code as devices show it: `XXXX-XXXX`.
    pub fn display_user_code(&self) -> String {
        user_code::display(&self.user_code)
    }
}

/// Why the verification page cannot go on with a user code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// No device authorization is waiting for this code: wrong, expired, or already answered. Show the form again.
    #[error("the code is not right, or it has expired")]
    UnknownCode,
    /// Too many codes were entered from this session or address (RFC 8628 §5.1): refuse (HTTP 429) for this long.
    /// The code was not checked.
    #[error("too many codes were entered; try again in {} s", .0.as_secs().max(1))]
    Throttled(Duration),
    /// The store failed.
    #[error("the authorization server is unavailable")]
    Unavailable,
}

impl From<StoreError> for DeviceError {
    fn from(_: StoreError) -> Self {
        Self::Unavailable
    }
}

/// The device authorization response (RFC 8628 §3.2).
#[derive(Serialize)]
struct Codes<'a> {
    device_code: &'a str,
    user_code: &'a str,
    verification_uri: &'a str,
    verification_uri_complete: &'a str,
    expires_in: u64,
    interval: u64,
}

impl<S: Store> AuthorizationServer<S> {
    /// Answers a device authorization request (RFC 8628 §3.1–3.2): the client authenticates as at the token
    /// endpoint (a public client sends `client_id`), must be registered for the device grant, and asks for a scope
    /// (and resources) under the same rules as the code grant. The answer has the device code (256 random bits,
    /// stored hashed), the user code (`XXXX-XXXX`), the verification URIs, `expires_in` and `interval`, with
    /// `Cache-Control: no-store`. Requests are throttled per client address
    /// ([`ServerConfig::device_authorization_throttle`](crate::server::ServerConfig::device_authorization_throttle)):
    /// past it, `429` with `slow_down` and `Retry-After`.
    pub async fn device_authorization<B: AsRef<[u8]>>(
        &self,
        request: http::Request<B>,
        now: SystemTime,
    ) -> http::Response<Vec<u8>> {
        let mut client = None;
        let response = match self.device_authorization_inner(&request, now, &mut client).await {
            Ok(response) => response,
            Err(e) => e.into_response(),
        };
        with_client(response, client)
    }

    async fn device_authorization_inner<B: AsRef<[u8]>>(
        &self,
        request: &http::Request<B>,
        now: SystemTime,
        seen: &mut Option<ClientId>,
    ) -> Result<http::Response<Vec<u8>>, OAuthError> {
        let params = form_of(request, self.config.max_body_bytes)?;
        let client = self.authenticate_client(request.headers(), &params).await?;
        *seen = Some(ClientId(client.id.clone()));
        if !self.config.grant_types.contains(&GrantType::DeviceCode) {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this server does not offer the device grant",
            ));
        }
        if !client.allows(GrantType::DeviceCode) {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use the device grant"));
        }
        let scope = self.resolve_scope(&client, params.get("scope"))?;
        let resources = resource::allowed(&client, resource::requested(&params)?)?;
        // Each request is stored for its lifetime: one address may not fill the store (RFC 8628 §5.2).
        let address = request.extensions().get::<ClientAddress>().map(|a| a.0);
        let key = device_authorization_key(address);
        let attempts = self.store.record_attempt(&key, now, &self.config.device_authorization_throttle).await?;
        if let Some(wait) = attempts.refused(now) {
            tracing::warn!(address = ?address, client_id = %client.id, "device authorization requests throttled");
            return Err(OAuthError::new(
                ErrorCode::SlowDown,
                "too many device authorization requests; try again later",
            )
            .with_status(StatusCode::TOO_MANY_REQUESTS)
            .with_retry_after(wait));
        }
        let interval = self.config.device_interval.clamp(Duration::from_secs(1), MAX_DEVICE_INTERVAL);
        let record = DeviceCodeRecord {
            client_id: client.id.clone(),
            scope,
            resources,
            expires_at: later(now, self.config.device_code_lifetime),
            interval,
            last_poll: None,
            status: DeviceStatus::Pending,
        };
        let device_code = self.new_secret();
        for _ in 0..USER_CODE_DRAWS {
            let code = user_code::generate(|bytes| self.tokens.fill_bytes(bytes));
            let stored =
                self.store.store_device_code(SecretHash::of(&device_code), user_code::hash(&code), record.clone(), now);
            if !stored.await? {
                continue;
            }
            let shown = user_code::display(&code);
            let verification_uri = self.config.url(&self.config.device_verification_path);
            let mut complete = url::Url::parse(&verification_uri)
                .map_err(|_| OAuthError::new(ErrorCode::ServerError, "the verification URI is not a URL"))?;
            complete.query_pairs_mut().append_pair("user_code", &shown);
            let body = Codes {
                device_code: &device_code,
                user_code: &shown,
                verification_uri: &verification_uri,
                verification_uri_complete: complete.as_str(),
                expires_in: self.config.device_code_lifetime.as_secs(),
                interval: interval.as_secs(),
            };
            return Ok(json_response(StatusCode::OK, &body));
        }
        Err(OAuthError::new(ErrorCode::TemporarilyUnavailable, "no free user code was found; try again"))
    }

    /// The device authorization waiting for `typed` (a user code as the user typed it: any case, with or without
    /// the dash), for the verification page (RFC 8628 §3.3). Guessing is throttled (§5.1): every entry counts,
    /// before the code is checked, against the browser `session` (an id of the app's, such as its CSRF cookie:
    /// [`ServerConfig::user_code_session_throttle`]) and the client `address`
    /// ([`ServerConfig::user_code_address_throttle`]); a right code clears the session's count. A code that was
    /// answered already, or expired, is [`DeviceError::UnknownCode`] like a wrong one.
    ///
    /// [`ServerConfig::user_code_session_throttle`]: crate::server::ServerConfig::user_code_session_throttle
    /// [`ServerConfig::user_code_address_throttle`]: crate::server::ServerConfig::user_code_address_throttle
    pub async fn device_request(
        &self,
        typed: &str,
        session: &str,
        address: Option<IpAddr>,
        now: SystemTime,
    ) -> Result<DeviceRequest, DeviceError> {
        let (session_key, address_key) = (user_code_session_key(session), user_code_address_key(address));
        // The address first: a locked-out address writes nothing more (the session is the client's to choose,
        // so it must not get a new throttle record per request).
        let by_address = self.store.record_attempt(&address_key, now, &self.config.user_code_address_throttle).await?;
        let mut refused = by_address.refused(now);
        if refused.is_none() {
            let by_session = self.store.record_attempt(&session_key, now, &self.config.user_code_session_throttle);
            refused = by_session.await?.refused(now);
        }
        if let Some(wait) = refused {
            tracing::warn!(address = ?address, "user code entries throttled");
            return Err(DeviceError::Throttled(wait));
        }
        let code = user_code::normalize(typed).ok_or(DeviceError::UnknownCode)?;
        let record = self.store.device_code_by_user_code(&user_code::hash(&code)).await?;
        let record = record.filter(|r| r.status == DeviceStatus::Pending && r.expires_at > now);
        let record = record.ok_or(DeviceError::UnknownCode)?;
        let client = self.store.client(&record.client_id).await?.ok_or(DeviceError::UnknownCode)?;
        self.store.clear_attempts(&session_key).await?;
        Ok(DeviceRequest {
            client_id: record.client_id,
            client_name: client.name.clone(),
            scope: record.scope,
            resources: record.resources,
            user_code: code,
            expires_at: record.expires_at,
        })
    }

    /// The user allowed `request` (RFC 8628 §3.3): its device's next poll gets the tokens. `granted` may narrow
    /// the scope asked for (`None` grants all of it); `subject` is the user, who logged in at `logged_in_at`
    /// (OpenID Connect's `auth_time`). [`DeviceError::UnknownCode`] when the request was answered meanwhile, expired,
    /// or no longer holds for the client's registration (it may have been kept where the user could edit it).
    pub async fn approve_device(
        &self,
        request: &DeviceRequest,
        subject: &str,
        granted: Option<Scope>,
        logged_in_at: SystemTime,
        now: SystemTime,
    ) -> Result<(), DeviceError> {
        let client = self.device_client(request).await?;
        let scope = match granted {
            Some(g) if g.is_subset_of(&request.scope) => g,
            Some(_) => return Err(DeviceError::UnknownCode),
            None => request.scope.clone(),
        };
        let grant = Grant {
            id: self.new_grant_id(now),
            client_id: client.id.clone(),
            subject: Some(subject.to_owned()),
            scope,
            auth_time: Some(logged_in_at),
            resources: request.resources.clone(),
            jkt: None,
        };
        self.decide(request, DeviceDecision::Approve(grant), now).await
    }

    /// The user denied `request`: its device's next poll gets `access_denied` (RFC 8628 §3.5).
    pub async fn deny_device(&self, request: &DeviceRequest, now: SystemTime) -> Result<(), DeviceError> {
        self.device_client(request).await?;
        self.decide(request, DeviceDecision::Deny, now).await
    }

    async fn decide(
        &self,
        request: &DeviceRequest,
        decision: DeviceDecision,
        now: SystemTime,
    ) -> Result<(), DeviceError> {
        let hash = user_code::hash(&request.user_code);
        // The stored request, not the one handed back: that one may have been edited.
        let stored = self.store.device_code_by_user_code(&hash).await?.ok_or(DeviceError::UnknownCode)?;
        // `expires_at` too: an expired code's letters may have been drawn again for another device.
        if stored.client_id != request.client_id
            || stored.scope != request.scope
            || stored.resources != request.resources
            || stored.expires_at != request.expires_at
        {
            return Err(DeviceError::UnknownCode);
        }
        if self.store.decide_device_code(&hash, decision, now).await? { Ok(()) } else { Err(DeviceError::UnknownCode) }
    }

    /// The client of a request handed back by the app, if it is still registered for the device grant and its
    /// scope still holds under the server's policy.
    async fn device_client(&self, request: &DeviceRequest) -> Result<std::sync::Arc<RegisteredClient>, DeviceError> {
        let client = self.store.client(&request.client_id).await?.ok_or(DeviceError::UnknownCode)?;
        let scope_holds = request.scope.is_empty()
            || self
                .resolve_scope(&client, Some(&request.scope.to_string()))
                .is_ok_and(|s| request.scope.is_subset_of(&s));
        if !client.allows(GrantType::DeviceCode) || !scope_holds {
            return Err(DeviceError::UnknownCode);
        }
        Ok(client)
    }

    /// The device access token request (RFC 8628 §3.4–3.5), in this order: an unknown device code or another
    /// client's is `invalid_grant`, as is one whose tokens were issued (a second redemption; nothing is revoked, a
    /// device may poll again); an expired one `expired_token`; a poll sooner than the interval after the last one
    /// `slow_down` (and the interval grows by 5 s); then `access_denied`, `authorization_pending`, or the tokens,
    /// issued in one atomic step with the code's redemption, exactly once.
    pub(super) async fn device_code_grant(
        &self,
        to: super::token::Bind<'_>,
        params: &FormParams,
        now: SystemTime,
    ) -> Result<TokenResponse, OAuthError> {
        let client = to.client;
        let code = params.get("device_code").ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
        let hash = SecretHash::of(code);
        let (record, too_soon) = self
            .store
            .poll_device_code(&hash, &client.id, now)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("unknown device_code"))?;
        let grant = match poll_answer(&record, too_soon, now) {
            Ok(grant) => grant.clone(),
            Err(e) => return Err(e),
        };
        let refresh = issues_refresh(&self.config, client).then(|| grant.clone());
        let mut issued = self.records(grant, refresh, to, now).await?;
        // A device grant has a user, so its access token is always stored.
        let access = issued.access.take().ok_or_else(|| OAuthError::new(ErrorCode::ServerError, "no token record"))?;
        self.attach_id_token(client, &access.1.grant, None, &mut issued.body, now).await?;
        if self.store.redeem_device_code(&hash, access, issued.refresh).await? {
            Ok(issued.body)
        } else {
            Err(OAuthError::invalid_grant("the device_code was already used"))
        }
    }
}

/// What a poll of `record` (after [`DeviceCodeRecord::after_poll`], `too_soon` if it came before the interval)
/// is answered at `now` (RFC 8628 §3.5): the grant to issue, or the error.
pub(crate) fn poll_answer(record: &DeviceCodeRecord, too_soon: bool, now: SystemTime) -> Result<&Grant, OAuthError> {
    let error = |code: ErrorCode, text: &str| Err(OAuthError::new(code, text));
    match &record.status {
        DeviceStatus::Redeemed => Err(OAuthError::invalid_grant("the device_code was already used")),
        _ if record.expires_at <= now => error(ErrorCode::ExpiredToken, "the device_code expired"),
        _ if too_soon => error(ErrorCode::SlowDown, "polling too fast: wait 5 s longer between requests"),
        DeviceStatus::Denied => error(ErrorCode::AccessDenied, "the user denied the request"),
        DeviceStatus::Pending => error(ErrorCode::AuthorizationPending, "the user has not answered yet"),
        DeviceStatus::Approved(grant) => Ok(grant),
    }
}
