//! The pushed authorization request (RFC 9126) scenarios: push, then the browser carries only the `request_uri`;
//! a `request_uri` works once, for its client, until it expires; a client that must push is refused otherwise; a
//! bad push is the JSON error at `/par`.

use super::*;

/// The confidential client of the fixture that must push its requests (RFC 9126 §6): code grant, scope `read`,
/// back to [`WEB_REDIRECT`].
pub const PAR_CLIENT: (&str, &str) = ("par-client", "par-secret");
/// How long a `request_uri` of the fixture is good (short, so the expiry scenario is quick).
pub const PAR_LIFETIME: Duration = Duration::from_secs(2);

const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

impl Target {
    /// Pushes a code request with PKCE and `state=st-par` for `client`: the answer.
    async fn push(&self, client: (&str, &str), redirect_uri: &str) -> Result<Reply, String> {
        let ch = challenge(VERIFIER);
        let form = [
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", "read"),
            ("state", "st-par"),
            ("code_challenge", ch.as_str()),
            ("code_challenge_method", "S256"),
        ];
        self.form("/par", &form, Some(client)).await
    }

    /// A `request_uri` pushed by `client`.
    async fn pushed(&self, client: (&str, &str)) -> Result<String, String> {
        let r = self.push(client, WEB_REDIRECT).await?;
        check!(r.status == StatusCode::CREATED, "push: {} {}", r.status, r.body);
        Ok(r.str("request_uri"))
    }

    /// GET /authorize with `client_id` and `request_uri` (and `extra`) as alice, allowing.
    async fn authorize_pushed(
        &self,
        client_id: &str,
        request_uri: &str,
        extra: &[(&str, &str)],
    ) -> Result<(StatusCode, Option<url::Url>), String> {
        let mut q = vec![("client_id", client_id), ("request_uri", request_uri)];
        q.extend_from_slice(extra);
        self.authorize(&q, "allow").await
    }
}

/// A refusal at /authorize that must not redirect: the request's redirect URI is not trusted then (RFC 9126 §4).
fn is_error_page(status: StatusCode, location: &Option<url::Url>) -> bool {
    status == StatusCode::BAD_REQUEST && location.is_none()
}

/// RFC 9126 §2.2, §4, §5: the metadata names `/par`; a push answers 201 with a `request_uri` and `expires_in`;
/// `/authorize` then uses only the pushed parameters, and the code is redeemed as usual.
async fn rfc9126_4_a_pushed_request_runs_the_code_flow(t: &Target) -> Outcome {
    let meta = t.reply(t.http.get(t.url("/.well-known/oauth-authorization-server"))).await?;
    check!(meta.str("pushed_authorization_request_endpoint") == t.url("/par"), "metadata: {}", meta.body);
    check!(meta.body["require_pushed_authorization_requests"] == false, "not required server-wide: {}", meta.body);
    let r = t.push(WEB, WEB_REDIRECT).await?;
    check!(r.status == StatusCode::CREATED, "push: {} {}", r.status, r.body);
    check!(r.header("cache-control") == "no-store", "no-store");
    check!(r.body["expires_in"] == PAR_LIFETIME.as_secs(), "expires_in: {}", r.body);
    let uri = r.str("request_uri");
    check!(uri.starts_with(PREFIX) && uri.len() >= PREFIX.len() + 22, "request_uri: {uri}");
    // RFC 9101 §5: parameters repeated in the query are ignored.
    let (status, location) =
        t.authorize_pushed(WEB.0, &uri, &[("state", "from-the-query"), ("scope", "profile")]).await?;
    check!(status == StatusCode::FOUND, "authorize: {status}");
    let location = location.ok_or("no Location")?;
    check!(location.as_str().starts_with(WEB_REDIRECT), "back to the pushed redirect URI: {location}");
    let p = params(location.query().unwrap_or(""));
    check!(p("state").as_deref() == Some("st-par"), "the pushed state: {location}");
    let code = p("code").ok_or_else(|| format!("no code: {location}"))?;
    let token = t.redeem(&code, Some(VERIFIER)).await?;
    check!(token.status == StatusCode::OK, "redeem: {} {}", token.status, token.body);
    check!(token.str("scope") == "read", "the pushed scope: {}", token.body);
    Ok(())
}

/// RFC 9126 §4 (single use): a `request_uri` used once is an error page the second time.
async fn rfc9126_4_a_request_uri_works_once(t: &Target) -> Outcome {
    let uri = t.pushed(WEB).await?;
    let (first, _) = t.authorize_pushed(WEB.0, &uri, &[]).await?;
    check!(first == StatusCode::FOUND, "first use: {first}");
    let (status, location) = t.authorize_pushed(WEB.0, &uri, &[]).await?;
    check!(is_error_page(status, &location), "second use: {status} {location:?}");
    Ok(())
}

/// RFC 9126 §2.2: past `expires_in` the `request_uri` is an error page.
async fn rfc9126_2_2_an_expired_request_uri_is_refused(t: &Target) -> Outcome {
    let uri = t.pushed(WEB).await?;
    tokio::time::sleep(PAR_LIFETIME + Duration::from_millis(300)).await;
    let (status, location) = t.authorize_pushed(WEB.0, &uri, &[]).await?;
    check!(is_error_page(status, &location), "expired: {status} {location:?}");
    Ok(())
}

/// RFC 9126 §4: a `request_uri` is bound to the client that pushed it; another client's try neither works nor
/// uses it up.
async fn rfc9126_4_another_clients_request_uri_is_refused(t: &Target) -> Outcome {
    let uri = t.pushed(WEB).await?;
    let (status, location) = t.authorize_pushed(SPA, &uri, &[]).await?;
    check!(is_error_page(status, &location), "another client: {status} {location:?}");
    let (status, location) = t.authorize_pushed(WEB.0, &format!("{PREFIX}not-pushed"), &[]).await?;
    check!(is_error_page(status, &location), "an unknown request_uri: {status} {location:?}");
    let (status, _) = t.authorize_pushed(WEB.0, &uri, &[]).await?;
    check!(status == StatusCode::FOUND, "its own client still can: {status}");
    Ok(())
}

/// RFC 9126 §6: a client registered with `require_pushed_authorization_requests` is refused an ordinary request
/// (`invalid_request` back to its redirect URI), and served a pushed one.
async fn rfc9126_6_a_client_that_must_push_is_refused_without_par(t: &Target) -> Outcome {
    let ch = challenge(VERIFIER);
    let q = [
        ("response_type", "code"),
        ("client_id", PAR_CLIENT.0),
        ("redirect_uri", WEB_REDIRECT),
        ("scope", "read"),
        ("state", "st-plain"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (status, location) = t.authorize(&q, "allow").await?;
    let location = location.ok_or_else(|| format!("no redirect: {status}"))?;
    let p = params(location.query().unwrap_or(""));
    check!(p("error").as_deref() == Some("invalid_request") && p("code").is_none(), "refused: {location}");
    check!(p("state").as_deref() == Some("st-plain"), "with its state: {location}");
    let uri = t.pushed(PAR_CLIENT).await?;
    let (status, location) = t.authorize_pushed(PAR_CLIENT.0, &uri, &[]).await?;
    let code = location.and_then(|l| params(l.query().unwrap_or(""))("code"));
    check!(status == StatusCode::FOUND && code.is_some(), "pushed, it goes through: {status}");
    Ok(())
}

/// RFC 9126 §2.1, §2.3: the client authenticates at `/par`, and a request `/authorize` would refuse is refused
/// there with the RFC 6749 JSON error, never a redirect.
async fn rfc9126_2_3_a_bad_push_is_a_json_error(t: &Target) -> Outcome {
    let r = t.push(WEB, "https://evil.example/cb").await?;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request")?;
    check!(r.header("location").is_empty(), "no redirect");
    let r = t.push((WEB.0, "wrong"), WEB_REDIRECT).await?;
    expect_error(&r, StatusCode::UNAUTHORIZED, "invalid_client")?;
    let r = t
        .form(
            "/par",
            &[("response_type", "code"), ("redirect_uri", WEB_REDIRECT), ("request_uri", &format!("{PREFIX}x"))],
            Some(WEB),
        )
        .await?;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request")
}

pub(super) const SCENARIOS: &[(&str, Run)] = table![
    rfc9126_4_a_pushed_request_runs_the_code_flow,
    rfc9126_4_a_request_uri_works_once,
    rfc9126_2_2_an_expired_request_uri_is_refused,
    rfc9126_4_another_clients_request_uri_is_refused,
    rfc9126_6_a_client_that_must_push_is_refused_without_par,
    rfc9126_2_3_a_bad_push_is_a_json_error,
];
