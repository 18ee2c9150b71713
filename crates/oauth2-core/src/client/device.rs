//! The device authorization grant, client side (RFC 8628): ask for codes, show them, poll. The polling is a pure
//! state machine, [`DevicePoll`]: given the last answer and `now`, it says when to poll next, or gives the token or
//! the final error. It never sleeps; the caller waits (`oauth2-reqwest` does it with a timer).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use oauth2_core::client::{DevicePoll, DeviceStep};
//! use oauth2_core::Client;
//!
//! let client = Client::builder("tv")
//!     .device_authorization_endpoint("https://as.example/device_authorization")
//!     .token_endpoint("https://as.example/token")
//!     .build()?;
//! let request = client.device_authorization_request("read")?; // POST it; then:
//! let answer = http::Response::builder().header("content-type", "application/json").body(
//!     br#"{"device_code":"d","user_code":"BCDF-GHJK","verification_uri":"https://as.example/device",
//!         "expires_in":600,"interval":5}"#.to_vec(),
//! )?;
//! let now = SystemTime::now();
//! let codes = client.parse_device_authorization_response(answer, now)?;
//! println!("Go to {} and enter {}", codes.verification_uri, codes.user_code);
//! let mut poll = DevicePoll::new(&codes, now);
//! assert_eq!(poll.next_poll_at(), now + Duration::from_secs(5));
//! // At that time, send `client.device_token_request(&codes)?` and feed the answer back:
//! let pending = http::Response::builder().status(400).header("content-type", "application/json")
//!     .body(br#"{"error":"slow_down"}"#.to_vec())?;
//! let later = now + Duration::from_secs(5);
//! assert!(matches!(poll.on_response(&client, pending, later), DeviceStep::PollAt(t) if t == later + Duration::from_secs(10)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use super::response::{body_object, error_from, error_of, is_success, unexpected};
use super::{Client, RequestError, ResponseError, Token, checked_scope};
use crate::error::ErrorCode;
use crate::scope::Scope;

/// The device code: a secret of the device's, sent back with each poll. Its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCode(String);

impl DeviceCode {
    /// A device code as received.
    pub fn new(code: impl Into<String>) -> Self {
        Self(code.into())
    }

    /// The code itself.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceCode([redacted])")
    }
}

/// The device authorization response (RFC 8628 §3.2): what to show the user, and how to poll.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeviceAuthorization {
    /// The device code, for the token requests.
    pub device_code: DeviceCode,
    /// The code the user types at the verification URI.
    pub user_code: String,
    /// Where the user goes, on another device.
    pub verification_uri: String,
    /// The verification URI with the user code in it, for a QR code or a link (optional, §3.2).
    pub verification_uri_complete: Option<String>,
    /// When the codes stop working (`now + expires_in`).
    pub expires_at: SystemTime,
    /// How long to wait between polls (`interval`; 5 s when the server sent none, §3.2).
    pub interval: Duration,
    /// The scope asked for, kept for the token when the server's answer has none.
    pub scope: Scope,
    /// Every other member, as received.
    pub extra: Map<String, Value>,
}

/// The interval when the server names none (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The longest interval a poller keeps (after `slow_down`s and back-offs): the server's own bound, 5 minutes.
pub const MAX_INTERVAL: Duration = Duration::from_secs(300);

impl Client {
    /// The device authorization request (RFC 8628 §3.1): a client-authenticated POST (a public client sends its
    /// `client_id`) with the scope, to the device authorization endpoint.
    pub fn device_authorization_request(
        &self,
        scope: impl Into<Scope>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let url = self
            .device_authorization_endpoint
            .as_ref()
            .ok_or(RequestError::MissingEndpoint("device_authorization_endpoint"))?;
        let scope = checked_scope(scope.into())?;
        let scope_s = scope.to_string();
        let mut params = Vec::new();
        if !scope.is_empty() {
            params.push(("scope", scope_s.as_str()));
        }
        let mut request = self.authenticated_post(url, &params);
        // The scope travels with the request, for the answer's `scope` (see parse_device_authorization_response).
        request.extensions_mut().insert(scope);
        Ok(request)
    }

    /// Parses the device authorization response (RFC 8628 §3.2) that arrived at `now`. `device_code`,
    /// `user_code`, `verification_uri` and `expires_in` are required; `verification_uri_complete` and `interval`
    /// are optional. Lenient mode also takes `verification_url` (and `verification_url_complete`), as one
    /// well-known provider sends, and numbers as strings.
    pub fn parse_device_authorization_response(
        &self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Result<DeviceAuthorization, ResponseError> {
        let scope = response.extensions().get::<Scope>().cloned().unwrap_or_default();
        let response = self.prepare(response);
        if !is_success(response.status(), self.lenient) {
            return Err(error_from(&response, self.lenient));
        }
        let mut fields = body_object(&response, self.lenient)?;
        if let Some(error) = error_of(&fields) {
            return Err(ResponseError::Provider { status: response.status(), error });
        }
        let lenient = self.lenient;
        let bad = |reason: String| unexpected(&response, reason);
        let mut string = |name: &str, alias: Option<&str>| -> Result<Option<String>, ResponseError> {
            let value = match fields.remove(name) {
                None if lenient => alias.and_then(|a| fields.remove(a)),
                other => other,
            };
            match value {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(bad(format!("`{name}` is not a string"))),
            }
        };
        let device_code = string("device_code", None)?.ok_or_else(|| bad("`device_code` is missing".into()))?;
        let user_code = string("user_code", None)?.ok_or_else(|| bad("`user_code` is missing".into()))?;
        let verification_uri = string("verification_uri", Some("verification_url"))?
            .ok_or_else(|| bad("`verification_uri` is missing".into()))?;
        let verification_uri_complete = string("verification_uri_complete", Some("verification_url_complete"))?;
        let mut seconds = |name: &str| -> Result<Option<u64>, ResponseError> {
            match fields.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
                Some(Value::String(s)) if lenient && s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
                Some(_) => Err(bad(format!("`{name}` is not a number of seconds"))),
            }
        };
        let expires_in = seconds("expires_in")?.ok_or_else(|| bad("`expires_in` is missing".into()))?;
        let interval = seconds("interval")?.map_or(DEFAULT_INTERVAL, Duration::from_secs);
        Ok(DeviceAuthorization {
            device_code: DeviceCode(device_code),
            user_code,
            verification_uri,
            verification_uri_complete,
            // A day at most: no device code lives that long, and the sum cannot overflow.
            expires_at: now + Duration::from_secs(expires_in.min(86_400)),
            // An interval of 0 would be a busy loop; one beyond the bound would outlive most codes.
            interval: interval.clamp(Duration::from_secs(1), MAX_INTERVAL),
            scope,
            extra: fields,
        })
    }

    /// The device access token request (RFC 8628 §3.4), client-authenticated, for `codes`.
    pub fn device_token_request(&self, codes: &DeviceAuthorization) -> Result<http::Request<Vec<u8>>, RequestError> {
        self.token_endpoint_request(&[
            ("grant_type", crate::grant::GrantType::DeviceCode.as_str()),
            ("device_code", codes.device_code.secret()),
        ])
    }
}

/// What to do after an answer: poll again at a time, or stop with the token or an error.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// One value per poll, matched at once.
#[allow(clippy::large_enum_variant)]
pub enum DeviceStep {
    /// Poll again at this time.
    PollAt(SystemTime),
    /// The user allowed it: the token.
    Token(Token),
    /// It is over without a token.
    Failed(DeviceFlowError),
}

/// Why a device flow ended without a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceFlowError {
    /// The user denied the request (`access_denied`, RFC 8628 §3.5).
    #[error("access_denied: the user denied the request")]
    Denied,
    /// The codes expired before the user answered (`expired_token`, or `expires_in` passed).
    #[error("expired_token: the device code expired before the user answered")]
    Expired,
    /// Any other answer: the server's error, or an answer that is not one.
    #[error(transparent)]
    Response(ResponseError),
}

impl DeviceFlowError {
    /// The RFC error code (`access_denied`, `expired_token`, or the server's).
    pub fn code(&self) -> &str {
        match self {
            Self::Denied => "access_denied",
            Self::Expired => "expired_token",
            Self::Response(e) => e.code(),
        }
    }
}

/// The polling state of one device flow (RFC 8628 §3.4–3.5): the interval (grown by 5 s at each `slow_down`,
/// doubled after an answer that is not one, such as a 503, as §3.5 asks of clients), the next poll time, and the
/// codes' expiry. Pure: time comes in as `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct DevicePoll {
    interval: Duration,
    next_at: SystemTime,
    expires_at: SystemTime,
    scope: Scope,
}

impl DevicePoll {
    /// The state right after `codes` arrived at `now`: the first poll is one interval later.
    pub fn new(codes: &DeviceAuthorization, now: SystemTime) -> Self {
        let interval = codes.interval.clamp(Duration::from_secs(1), MAX_INTERVAL);
        Self { interval, next_at: now + interval, expires_at: codes.expires_at, scope: codes.scope.clone() }
    }

    /// When to send the next token request.
    pub fn next_poll_at(&self) -> SystemTime {
        self.next_at
    }

    /// The interval now.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// When the codes expire.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Reads the answer to a poll, received at `now`, and says what comes next.
    pub fn on_response(&mut self, client: &Client, response: http::Response<Vec<u8>>, now: SystemTime) -> DeviceStep {
        match client.parse_token_response(response, now) {
            Ok(mut token) => {
                if token.scope.is_none() && !self.scope.is_empty() {
                    token.scope = Some(self.scope.clone());
                }
                DeviceStep::Token(token)
            }
            Err(e) => self.on_error(e, now),
        }
    }

    /// What comes after a poll that failed with `error` at `now`.
    pub fn on_error(&mut self, error: ResponseError, now: SystemTime) -> DeviceStep {
        let code = error.error_response().map(|e| e.error.clone());
        match code {
            Some(ErrorCode::AuthorizationPending) => {}
            Some(ErrorCode::SlowDown) => {
                self.interval = self.interval.saturating_add(Duration::from_secs(5)).min(MAX_INTERVAL);
            }
            Some(ErrorCode::AccessDenied) => return DeviceStep::Failed(DeviceFlowError::Denied),
            Some(ErrorCode::ExpiredToken) => return DeviceStep::Failed(DeviceFlowError::Expired),
            Some(_) => return DeviceStep::Failed(DeviceFlowError::Response(error)),
            // Not an OAuth answer: a 5xx from a proxy, say. Back off and try again while the codes live.
            None => self.interval = self.interval.saturating_mul(2).min(MAX_INTERVAL),
        }
        self.wait(now)
    }

    /// What comes after a poll that got no answer at `now` (the connection failed or timed out): back off
    /// exponentially (§3.5) and try again while the codes live.
    pub fn on_unreachable(&mut self, now: SystemTime) -> DeviceStep {
        self.interval = self.interval.saturating_mul(2).min(MAX_INTERVAL);
        self.wait(now)
    }

    fn wait(&mut self, now: SystemTime) -> DeviceStep {
        self.next_at = now + self.interval;
        if self.next_at >= self.expires_at {
            return DeviceStep::Failed(DeviceFlowError::Expired);
        }
        DeviceStep::PollAt(self.next_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(lenient: bool) -> Client {
        Client::builder("tv")
            .device_authorization_endpoint("https://as.example/device_authorization")
            .token_endpoint("https://as.example/token")
            .lenient(lenient)
            .build()
            .unwrap()
    }

    fn answer(status: u16, body: &str) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    const CODES: &str = r#"{"device_code":"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS","user_code":"WDJB-MJHT",
        "verification_uri":"https://example.com/device","verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT",
        "expires_in":1800,"interval":5}"#;

    #[test]
    fn rfc8628_3_1_the_request_is_a_client_authenticated_post_with_the_scope() {
        let request = client(false).device_authorization_request("read write").unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri(), "https://as.example/device_authorization");
        let body = String::from_utf8(request.body().clone()).unwrap();
        assert_eq!(body, "scope=read+write&client_id=tv");
        let secret = Client::builder("tv")
            .secret("s")
            .device_authorization_endpoint("https://as.example/device_authorization")
            .build()
            .unwrap();
        let request = secret.device_authorization_request(Scope::empty()).unwrap();
        assert!(request.headers().contains_key(http::header::AUTHORIZATION) && request.body().is_empty());
        let none = Client::builder("tv").build().unwrap().device_authorization_request("read");
        assert_eq!(none.unwrap_err(), RequestError::MissingEndpoint("device_authorization_endpoint"));
    }

    #[test]
    fn rfc8628_3_2_the_response_of_the_rfc_example_is_read_whole() {
        let codes = client(false).parse_device_authorization_response(answer(200, CODES), at(0)).unwrap();
        assert_eq!(codes.device_code.secret(), "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS");
        assert_eq!(codes.user_code, "WDJB-MJHT");
        assert_eq!(codes.verification_uri, "https://example.com/device");
        assert_eq!(codes.verification_uri_complete.as_deref(), Some("https://example.com/device?user_code=WDJB-MJHT"));
        assert_eq!((codes.expires_at, codes.interval), (at(1800), Duration::from_secs(5)));
        assert_eq!(format!("{:?}", codes.device_code), "DeviceCode([redacted])");
    }

    #[test]
    fn rfc8628_3_2_interval_defaults_to_5_s_and_verification_uri_complete_is_optional() {
        let body = r#"{"device_code":"d","user_code":"u","verification_uri":"https://e.example/d","expires_in":60}"#;
        let codes = client(false).parse_device_authorization_response(answer(200, body), at(0)).unwrap();
        assert_eq!((codes.interval, codes.verification_uri_complete), (DEFAULT_INTERVAL, None));
    }

    #[test]
    fn rfc8628_3_2_required_fields_are_required_and_verification_url_only_when_lenient() {
        for missing in ["device_code", "user_code", "verification_uri", "expires_in"] {
            let mut value: Value = serde_json::from_str(CODES).unwrap();
            value.as_object_mut().unwrap().remove(missing);
            let e = client(false).parse_device_authorization_response(answer(200, &value.to_string()), at(0));
            assert_eq!(e.unwrap_err().code(), "unexpected_response", "{missing}");
        }
        // A well-known provider sends `verification_url`, and `expires_in` as a string.
        let google = r#"{"device_code":"d","user_code":"GQVQ-JKEC","verification_url":"https://www.google.com/device","expires_in":"1800","interval":5}"#;
        assert!(client(false).parse_device_authorization_response(answer(200, google), at(0)).is_err());
        let codes = client(true).parse_device_authorization_response(answer(200, google), at(0)).unwrap();
        assert_eq!((codes.verification_uri.as_str(), codes.expires_at), ("https://www.google.com/device", at(1800)));
        let error = r#"{"error":"unauthorized_client","error_description":"no"}"#;
        let e = client(false).parse_device_authorization_response(answer(400, error), at(0)).unwrap_err();
        assert_eq!(e.code(), "unauthorized_client");
    }

    #[test]
    fn rfc8628_3_4_the_token_request_names_the_grant_and_the_device_code() {
        let c = client(false);
        let codes = c.parse_device_authorization_response(answer(200, CODES), at(0)).unwrap();
        let body = String::from_utf8(c.device_token_request(&codes).unwrap().into_body()).unwrap();
        assert_eq!(
            body,
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code\
             &device_code=GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS&client_id=tv"
        );
    }

    fn poll() -> (Client, DevicePoll) {
        let c = client(false);
        let codes = c.parse_device_authorization_response(answer(200, CODES), at(0)).unwrap();
        let poll = DevicePoll::new(&codes, at(0));
        (c, poll)
    }

    #[test]
    fn rfc8628_3_5_authorization_pending_polls_again_after_the_interval() {
        let (c, mut p) = poll();
        assert_eq!(p.next_poll_at(), at(5));
        let step = p.on_response(&c, answer(400, r#"{"error":"authorization_pending"}"#), at(5));
        assert_eq!(step, DeviceStep::PollAt(at(10)));
        assert_eq!(p.interval(), Duration::from_secs(5));
    }

    #[test]
    fn rfc8628_3_5_slow_down_adds_5_s_for_this_and_every_later_poll() {
        let (c, mut p) = poll();
        assert_eq!(p.on_response(&c, answer(400, r#"{"error":"slow_down"}"#), at(5)), DeviceStep::PollAt(at(15)));
        assert_eq!(
            p.on_response(&c, answer(400, r#"{"error":"authorization_pending"}"#), at(15)),
            DeviceStep::PollAt(at(25))
        );
        assert_eq!(p.on_response(&c, answer(400, r#"{"error":"slow_down"}"#), at(25)), DeviceStep::PollAt(at(40)));
        assert_eq!(p.interval(), Duration::from_secs(15));
    }

    #[test]
    fn rfc8628_3_5_access_denied_and_expired_token_end_the_flow() {
        let (c, mut p) = poll();
        let step = p.on_response(&c, answer(400, r#"{"error":"access_denied"}"#), at(5));
        assert_eq!(step, DeviceStep::Failed(DeviceFlowError::Denied));
        let (c, mut p) = poll();
        let step = p.on_response(&c, answer(400, r#"{"error":"expired_token"}"#), at(5));
        assert_eq!(step, DeviceStep::Failed(DeviceFlowError::Expired));
        let (c, mut p) = poll();
        let DeviceStep::Failed(DeviceFlowError::Response(e)) =
            p.on_response(&c, answer(400, r#"{"error":"invalid_grant"}"#), at(5))
        else {
            panic!("another error ends it with the server's answer");
        };
        assert_eq!(e.code(), "invalid_grant");
    }

    #[test]
    fn rfc8628_3_5_polling_stops_at_expires_in() {
        let (c, mut p) = poll();
        let step = p.on_response(&c, answer(400, r#"{"error":"authorization_pending"}"#), at(1796));
        assert_eq!(step, DeviceStep::Failed(DeviceFlowError::Expired), "the next poll would come after expiry");
    }

    #[test]
    fn rfc8628_3_5_unreachable_or_non_oauth_answers_back_off_exponentially() {
        let (c, mut p) = poll();
        assert_eq!(p.on_unreachable(at(5)), DeviceStep::PollAt(at(15)));
        assert_eq!(p.on_response(&c, answer(503, "<html>busy</html>"), at(15)), DeviceStep::PollAt(at(35)));
        for i in 0..10 {
            p.on_unreachable(at(40 + i));
        }
        assert_eq!(p.interval(), MAX_INTERVAL, "bounded");
    }

    #[test]
    fn rfc8628_3_5_a_token_response_ends_the_flow_with_the_token() {
        let (c, mut p) = poll();
        let ok = r#"{"access_token":"at","token_type":"Bearer","expires_in":60,"refresh_token":"rt"}"#;
        let DeviceStep::Token(token) = p.on_response(&c, answer(200, ok), at(5)) else { panic!("a token") };
        assert_eq!((token.access_token.secret(), token.expires_at), ("at", Some(at(65))));
        assert!(token.refresh_token.is_some());
    }
}
