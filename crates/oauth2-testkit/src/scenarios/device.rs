//! The device grant (RFC 8628) scenarios: codes, the verification page (the testkit's stand-in, [`device_page`]),
//! polling with `authorization_pending`, `slow_down`, `access_denied`, `expired_token`, one token exactly once, and
//! the throttle on user codes.

use std::net::IpAddr;
use std::time::SystemTime;

use oauth2_core::server::{AuthorizationServer, DeviceError, Store};

use super::*;

/// The public device client of the fixture: the device grant with refresh, scope `read`.
pub const TV: &str = "tv";
/// The polling interval of the fixture (RFC 8628 §3.2; short, so the table is quick).
pub const DEVICE_INTERVAL: Duration = Duration::from_secs(1);
/// The device code lifetime of the fixture (short, so the expiry scenario is quick).
pub const DEVICE_LIFETIME: Duration = Duration::from_secs(4);

/// The testkit convention's verification page, framework-free: `POST /device` with a form `user_code`, the user
/// in `x-test-user` (none: 401, the stand-in for the login page), `x-test-decision` (`deny` denies, anything else
/// allows), the browser session in `x-test-session` and the client address in `x-test-address` (as a trusted
/// proxy would say it; default 127.0.0.1). Answers 200 `approved` or `denied`, 400 `unknown_code` (wrong,
/// expired or answered), 429 with `Retry-After` while the entries are throttled (RFC 8628 §5.1), 503 when the
/// store fails.
pub async fn device_page<S: Store>(
    server: &AuthorizationServer<S>,
    headers: &http::HeaderMap,
    body: &[u8],
) -> http::Response<Vec<u8>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let answer = |status: u16, text: &str| {
        let mut r = http::Response::new(text.as_bytes().to_vec());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        r
    };
    let form = oauth2_core::form::FormParams::parse(body).unwrap_or_default();
    let typed = form.get("user_code").unwrap_or("");
    let session = header("x-test-session").unwrap_or("testkit");
    let address = header("x-test-address").and_then(|a| a.parse::<IpAddr>().ok()).unwrap_or([127, 0, 0, 1].into());
    let now = SystemTime::now();
    let request = match server.device_request(typed, session, Some(address), now).await {
        Ok(request) => request,
        Err(DeviceError::Throttled(wait)) => {
            let mut r = answer(429, "throttled");
            r.headers_mut().insert("retry-after", (wait.as_secs().max(1)).into());
            return r;
        }
        Err(DeviceError::UnknownCode) => return answer(400, "unknown_code"),
        Err(_) => return answer(503, "unavailable"),
    };
    let Some(user) = header("x-test-user") else { return answer(401, "login required") };
    let decided = if header("x-test-decision") == Some("deny") {
        server.deny_device(&request, now).await.map(|()| "denied")
    } else {
        server.approve_device(&request, user, None, now, now).await.map(|()| "approved")
    };
    match decided {
        Ok(text) => answer(200, text),
        Err(DeviceError::UnknownCode) => answer(400, "unknown_code"),
        Err(_) => answer(503, "unavailable"),
    }
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The codes of one device authorization.
#[derive(Clone)]
struct Codes {
    device_code: String,
    user_code: String,
}

impl Target {
    async fn device_codes(&self, scope: &str) -> Result<Codes, String> {
        let r = self.form("/device_authorization", &[("client_id", TV), ("scope", scope)], None).await?;
        check!(r.status == StatusCode::OK, "device authorization: {} {}", r.status, r.body);
        Ok(Codes { device_code: r.str("device_code"), user_code: r.str("user_code") })
    }

    async fn poll(&self, codes: &Codes) -> Result<Reply, String> {
        self.token(&[("grant_type", DEVICE_GRANT), ("device_code", &codes.device_code), ("client_id", TV)], None).await
    }

    /// Submits `user_code` on the verification page as `alice` with `decision`, from `session` and `address`.
    async fn enter_code(&self, user_code: &str, decision: &str, session: &str, address: &str) -> Result<Reply, String> {
        let body = url::form_urlencoded::Serializer::new(String::new()).append_pair("user_code", user_code).finish();
        let request = self
            .http
            .post(self.url("/device"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-test-user", "alice")
            .header("x-test-decision", decision)
            .header("x-test-session", session)
            .header("x-test-address", address)
            .body(body);
        let r = request.send().await.map_err(|e| format!("request failed: {e}"))?;
        let (status, headers) = (r.status(), r.headers().clone());
        let text = r.text().await.map_err(|e| e.to_string())?;
        Ok(Reply { status, headers, body: Value::String(text) })
    }

    async fn approve_device(&self, user_code: &str) -> Outcome {
        let r = self.enter_code(user_code, "allow", "approver", "127.0.0.1").await?;
        check!(r.status == StatusCode::OK && r.body == "approved", "approval: {} {}", r.status, r.body);
        Ok(())
    }
}

async fn after_interval() {
    tokio::time::sleep(DEVICE_INTERVAL + Duration::from_millis(100)).await;
}

pub(super) async fn rfc8628_3_2_the_device_authorization_response(t: &Target) -> Outcome {
    let meta = t.reply(t.http.get(t.url("/.well-known/oauth-authorization-server"))).await?;
    check!(meta.str("device_authorization_endpoint") == t.url("/device_authorization"), "metadata: {}", meta.body);
    let grants = meta.body["grant_types_supported"].as_array().cloned().unwrap_or_default();
    check!(grants.iter().any(|g| g == DEVICE_GRANT), "the grant is advertised: {}", meta.body);
    let r = t.form("/device_authorization", &[("client_id", TV), ("scope", "read")], None).await?;
    check!(r.status == StatusCode::OK && r.header("cache-control") == "no-store", "{} {}", r.status, r.body);
    check!(r.str("device_code").len() >= 43, "a device code of 256 bits: {}", r.body);
    let user_code = r.str("user_code");
    let letters: String = user_code.chars().filter(|c| *c != '-').collect();
    check!(
        user_code.len() == 9
            && user_code.as_bytes()[4] == b'-'
            && letters.len() == 8
            && letters.bytes().all(|b| b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)),
        "user_code is XXXX-XXXX of the alphabet: {user_code}"
    );
    check!(r.str("verification_uri") == t.url("/device"), "verification_uri: {}", r.body);
    let complete = url::Url::parse(&r.str("verification_uri_complete")).map_err(|e| e.to_string())?;
    check!(
        complete.as_str().starts_with(&t.url("/device?"))
            && params(complete.query().unwrap_or(""))("user_code").as_deref() == Some(user_code.as_str()),
        "verification_uri_complete: {complete}"
    );
    check!(
        r.body["expires_in"] == DEVICE_LIFETIME.as_secs() && r.body["interval"] == 1,
        "expires_in, interval: {}",
        r.body
    );
    // §3.1: client authentication and the scope rules as at the token endpoint.
    let other = t.form("/device_authorization", &[("scope", "read")], Some(WEB)).await?;
    expect_error(&other, StatusCode::BAD_REQUEST, "unauthorized_client")?;
    let scope = t.form("/device_authorization", &[("client_id", TV), ("scope", "admin")], None).await?;
    expect_error(&scope, StatusCode::BAD_REQUEST, "invalid_scope")?;
    let unknown = t.form("/device_authorization", &[("client_id", "nobody")], None).await?;
    expect_error(&unknown, StatusCode::UNAUTHORIZED, "invalid_client")
}

pub(super) async fn rfc8628_3_5_approved_once_pending_before_and_invalid_grant_after(t: &Target) -> Outcome {
    let codes = t.device_codes("read").await?;
    expect_error(&t.poll(&codes).await?, StatusCode::BAD_REQUEST, "authorization_pending")?;
    // The code as a user types it: lower case, no dash.
    t.approve_device(&codes.user_code.replace('-', "").to_lowercase()).await?;
    after_interval().await;
    let r = t.poll(&codes).await?;
    check!(r.status == StatusCode::OK && r.header("cache-control") == "no-store", "the token: {} {}", r.status, r.body);
    check!(r.str("token_type") == "Bearer" && r.str("refresh_token").len() >= 43, "the token: {}", r.body);
    let api = t.api("/api/read", &r.str("access_token")).await?;
    check!(api.status == StatusCode::OK && api.body["sub"] == "alice" && api.body["client_id"] == TV, "{}", api.body);
    after_interval().await;
    // A second redemption is refused, and revokes nothing.
    expect_error(&t.poll(&codes).await?, StatusCode::BAD_REQUEST, "invalid_grant")?;
    let again = t.api("/api/read", &r.str("access_token")).await?;
    check!(again.status == StatusCode::OK, "polling again never revokes the grant: {}", again.status);
    let refreshed = t
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &r.str("refresh_token")), ("client_id", TV)], None)
        .await?;
    check!(refreshed.status == StatusCode::OK, "the device's token refreshes like any other: {}", refreshed.body);
    // §3.3: an answered code is not shown to anyone again.
    let reused = t.enter_code(&codes.user_code, "allow", "reuse", "127.0.0.1").await?;
    check!(reused.status == StatusCode::BAD_REQUEST, "an answered code is unknown: {}", reused.status);
    Ok(())
}

pub(super) async fn rfc8628_3_5_a_denied_request_is_access_denied(t: &Target) -> Outcome {
    let codes = t.device_codes("read").await?;
    let r = t.enter_code(&codes.user_code, "deny", "denier", "127.0.0.1").await?;
    check!(r.status == StatusCode::OK && r.body == "denied", "deny: {} {}", r.status, r.body);
    expect_error(&t.poll(&codes).await?, StatusCode::BAD_REQUEST, "access_denied")
}

pub(super) async fn rfc8628_3_5_slow_down_grows_the_interval_by_5_s(t: &Target) -> Outcome {
    let codes = t.device_codes("read").await?;
    expect_error(&t.poll(&codes).await?, StatusCode::BAD_REQUEST, "authorization_pending")?;
    expect_error(&t.poll(&codes).await?, StatusCode::BAD_REQUEST, "slow_down")?;
    // The interval is 6 s now: a poll after the first interval is still too soon.
    after_interval().await;
    expect_error(&t.poll(&codes).await?, StatusCode::BAD_REQUEST, "slow_down")
}

pub(super) async fn rfc8628_3_5_an_expired_device_code_is_expired_token(t: &Target) -> Outcome {
    let codes = t.device_codes("read").await?;
    tokio::time::sleep(DEVICE_LIFETIME + Duration::from_millis(200)).await;
    expect_error(&t.poll(&codes).await?, StatusCode::BAD_REQUEST, "expired_token")?;
    let late = t.enter_code(&codes.user_code, "allow", "late", "127.0.0.1").await?;
    check!(late.status == StatusCode::BAD_REQUEST, "an expired user code is unknown: {}", late.status);
    Ok(())
}

pub(super) async fn rfc8628_3_5_of_100_concurrent_polls_after_approval_one_gets_the_token(t: &Target) -> Outcome {
    let codes = t.device_codes("read").await?;
    t.approve_device(&codes.user_code).await?;
    after_interval().await;
    let polls: Vec<_> = (0..100)
        .map(|_| {
            let (t, codes) = (t.clone(), codes.clone());
            tokio::spawn(async move { t.poll(&codes).await })
        })
        .collect();
    let mut tokens = 0;
    for poll in polls {
        let r = poll.await.map_err(|e| e.to_string())??;
        match r.status {
            StatusCode::OK => tokens += 1,
            _ => {
                let error = &r.body["error"];
                check!(error == "slow_down" || error == "invalid_grant", "{} {}", r.status, r.body);
            }
        }
    }
    check!(tokens == 1, "exactly one of 100 concurrent polls gets a token: {tokens}");
    Ok(())
}

pub(super) async fn rfc8628_5_1_user_code_guessing_is_throttled(t: &Target) -> Outcome {
    // Per session: 5 entries, then refused (without checking), whatever the address.
    for i in 0..5 {
        let r = t.enter_code("BCDF-GHJK", "allow", "guesser", &format!("198.51.100.{i}")).await?;
        check!(r.status == StatusCode::BAD_REQUEST, "wrong code {i}: {} {}", r.status, r.body);
    }
    let r = t.enter_code("BCDF-GHJK", "allow", "guesser", "198.51.100.9").await?;
    check!(r.status == StatusCode::TOO_MANY_REQUESTS && !r.header("retry-after").is_empty(), "6th: {}", r.status);
    // Per address: 20 a minute, then refused, whatever the session.
    for i in 0..20 {
        let r = t.enter_code("BCDF-GHJK", "allow", &format!("s{i}"), "203.0.113.7").await?;
        check!(r.status == StatusCode::BAD_REQUEST, "wrong code {i} from one address: {}", r.status);
    }
    let codes = t.device_codes("read").await?;
    let r = t.enter_code(&codes.user_code, "allow", "fresh", "203.0.113.7").await?;
    check!(r.status == StatusCode::TOO_MANY_REQUESTS, "the 21st, even right, is refused: {}", r.status);
    // Another address is not held up.
    t.approve_device(&codes.user_code).await
}

pub(super) const SCENARIOS: &[(&str, Run)] = table![
    rfc8628_3_2_the_device_authorization_response,
    rfc8628_3_5_approved_once_pending_before_and_invalid_grant_after,
    rfc8628_3_5_a_denied_request_is_access_denied,
    rfc8628_3_5_slow_down_grows_the_interval_by_5_s,
    rfc8628_3_5_an_expired_device_code_is_expired_token,
    rfc8628_3_5_of_100_concurrent_polls_after_approval_one_gets_the_token,
    rfc8628_5_1_user_code_guessing_is_throttled,
];
