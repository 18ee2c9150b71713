//! oauth2-reqwest against a stub authorization server on 127.0.0.1:0.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use oauth2_core::introspection::TokenTypeHint;
use oauth2_core::{Client, ClientAuthMethod, ErrorCode, RefreshToken, Token};
use oauth2_reqwest::{Error, Session};
use oauth2_testkit::{CLIENT_ID, CLIENT_SECRET, PASSWORD, PUBLIC_CLIENT_ID, StubServer, USERNAME};

fn client(stub: &StubServer) -> Client {
    Client::builder(CLIENT_ID)
        .secret(CLIENT_SECRET)
        .authorization_endpoint(stub.url("/authorize"))
        .token_endpoint(stub.url("/token"))
        .revocation_endpoint(stub.url("/revoke"))
        .introspection_endpoint(stub.url("/introspect"))
        .redirect_uri("http://127.0.0.1:1/callback")
        .issuer(&stub.base)
        .build()
        .unwrap()
}

/// Follows the stub's authorization redirect the way a browser would, returning the callback URL.
async fn browser_visit(url: &url::Url) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = http.get(url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    resp.headers()["location"].to_str().unwrap().to_owned()
}

/// A token that the stub accepts, with a refresh token the stub knows, expiring at `expires_in` from now.
fn stored_token(stub: &StubServer, access: &str, refresh: &str, expires_in: i64) -> Token {
    stub.state.add_access_token(access);
    stub.state.add_refresh_token(refresh, "read");
    let mut token = Token::new(access);
    token.refresh_token = Some(RefreshToken::new(refresh));
    let now = SystemTime::now();
    token.expires_at = Some(if expires_in >= 0 {
        now + Duration::from_secs(expires_in as u64)
    } else {
        now - Duration::from_secs((-expires_in) as u64)
    });
    token
}

#[tokio::test]
async fn rfc6749_4_1_authorization_code_grant_end_to_end() {
    let stub = StubServer::start().await;
    let session = Session::new(client(&stub)).unwrap();
    let (url, pending) = session.authorization_url("read profile").unwrap();
    let callback = browser_visit(&url).await;
    let token = session.finish_authorization(&pending, &callback).await.unwrap();
    assert!(token.refresh_token.is_some());
    assert_eq!(token.scope.as_ref().map(|s| s.to_string()), Some("read profile".into()));
    let me: serde_json::Value = session.get(stub.url("/api/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["sub"], USERNAME);
    assert_eq!(me["token"], token.access_token.secret());
}

#[tokio::test]
async fn rfc6749_10_12_forged_callback_is_rejected_before_any_request() {
    let stub = StubServer::start().await;
    let session = Session::new(client(&stub)).unwrap();
    let (url, pending) = session.authorization_url("read").unwrap();
    let callback = browser_visit(&url).await;
    let forged = callback.replace(pending.state.secret(), "attacker-state");
    let err = session.finish_authorization(&pending, &forged).await.unwrap_err();
    assert_eq!(err.code(), "state_mismatch");
    assert_eq!(stub.state.grant_calls("authorization_code"), 0);
    assert!(session.token().is_none());
}

#[tokio::test]
async fn rfc6749_4_1_2_1_denied_authorization_is_a_typed_error() {
    let stub = StubServer::start().await;
    let session = Session::new(client(&stub)).unwrap();
    let (url, pending) = session.authorization_url("forbidden").unwrap();
    let err = session.finish_authorization(&pending, &browser_visit(&url).await).await.unwrap_err();
    assert_eq!(err.code(), "access_denied");
    assert_eq!(err.description(), "the user said no");
}

#[tokio::test]
async fn rfc7636_public_client_with_pkce_and_client_secret_post() {
    let stub = StubServer::start().await;
    let public = Client::builder(PUBLIC_CLIENT_ID)
        .authorization_endpoint(stub.url("/authorize"))
        .token_endpoint(stub.url("/token"))
        .redirect_uri("http://127.0.0.1:1/callback")
        .build()
        .unwrap();
    let session = Session::new(public).unwrap();
    let (url, pending) = session.authorization_url("read").unwrap();
    session.finish_authorization(&pending, &browser_visit(&url).await).await.unwrap();
    let (auth, body) = stub.state.last_token_request.lock().unwrap().clone().unwrap();
    assert!(auth.is_none());
    assert!(body.iter().any(|(k, v)| k == "client_id" && v == PUBLIC_CLIENT_ID));
    assert!(body.iter().any(|(k, _)| k == "code_verifier"));

    let post = Client::builder(CLIENT_ID)
        .secret(CLIENT_SECRET)
        .auth_method(ClientAuthMethod::ClientSecretPost)
        .token_endpoint(stub.url("/token"))
        .build()
        .unwrap();
    Session::new(post).unwrap().client_credentials("read").await.unwrap();
}

#[tokio::test]
async fn rfc6749_4_3_password_grant_and_wrong_password() {
    let stub = StubServer::start().await;
    let session = Session::new(client(&stub)).unwrap();
    let token = session.password(USERNAME, PASSWORD, "read").await.unwrap();
    assert!(stub.state.is_valid_access_token(token.access_token.secret()));
    let err = session.password(USERNAME, "wrong", "read").await.unwrap_err();
    assert_eq!(err.error_response().map(|e| e.error.clone()), Some(ErrorCode::InvalidGrant));
    assert_eq!(err.description(), "wrong username or password");
}

#[tokio::test]
async fn rfc6749_4_4_client_credentials_grant_and_renewal_when_expired() {
    let stub = StubServer::start().await;
    stub.state.expires_in.store(1, Ordering::SeqCst);
    let session = Session::new(client(&stub)).unwrap();
    let first = session.client_credentials("read").await.unwrap();
    assert!(first.refresh_token.is_none());
    // A 1 s token is renewed in the second half of its life: the session asks for a new client-credentials token.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let resp = session.get(stub.url("/api/me")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(stub.state.grant_calls("client_credentials"), 2);
    assert_ne!(session.token().unwrap().access_token, first.access_token);
}

#[tokio::test]
async fn rfc6749_5_2_client_authentication_failure_is_typed() {
    let stub = StubServer::start().await;
    let bad = Client::builder(CLIENT_ID).secret("wrong").token_endpoint(stub.url("/token")).build().unwrap();
    let err = Session::new(bad).unwrap().client_credentials("read").await.unwrap_err();
    assert_eq!(err.code(), "invalid_client");
    match err {
        Error::Response(oauth2_core::ResponseError::Provider { status, .. }) => assert_eq!(status, 401),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rfc6749_6_refresh_before_expiry_hands_the_new_token_to_the_callback() {
    let stub = StubServer::start().await;
    let saved: Arc<Mutex<Vec<Token>>> = Arc::default();
    let sink = saved.clone();
    let session = Session::builder(client(&stub))
        .token(stored_token(&stub, "at-old", "rt-old", 10))
        .refresh_margin(Duration::from_secs(30))
        .on_refresh(move |t| sink.lock().unwrap().push(t.clone()))
        .build()
        .unwrap();
    let me: serde_json::Value = session.get(stub.url("/api/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stub.state.refresh_calls.load(Ordering::SeqCst), 1);
    let saved = saved.lock().unwrap().clone();
    assert_eq!(saved.len(), 1);
    assert_eq!(me["token"], saved[0].access_token.secret());
    assert_ne!(saved[0].refresh_token, Some(RefreshToken::new("rt-old")), "the stub rotates refresh tokens");
    assert_eq!(session.token().unwrap(), saved[0]);

    // A token well inside its lifetime is not refreshed.
    let session =
        Session::builder(client(&stub)).token(stored_token(&stub, "at-fresh", "rt-fresh", 3600)).build().unwrap();
    session.get(stub.url("/api/me")).send().await.unwrap();
    assert_eq!(stub.state.refresh_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rfc6750_3_1_refresh_once_after_invalid_token_then_retry() {
    let stub = StubServer::start().await;
    let saved = Arc::new(AtomicUsize::new(0));
    let count = saved.clone();
    let token = stored_token(&stub, "at-revoked", "rt-1", 3600);
    stub.state.revoke_access_token("at-revoked");
    let session = Session::builder(client(&stub))
        .token(token)
        .on_refresh(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    // A request with a body is retried with the same body and the new token.
    let resp = session.post(stub.url("/api/me")).json(&serde_json::json!({"x": 1})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = session.get(stub.url("/api/me")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(stub.state.refresh_calls.load(Ordering::SeqCst), 1);
    assert_eq!(saved.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_401_without_invalid_token_is_returned_not_retried() {
    let stub = StubServer::start().await;
    // A bare challenge (no error code) is not a verdict on the token, so refreshing would not help.
    let session = Session::builder(client(&stub)).token(stored_token(&stub, "at-x", "rt-x", 3600)).build().unwrap();
    let resp = session.get(stub.url("/api/no-credentials")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(stub.state.refresh_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_100_concurrent_requests_with_an_expired_token_refresh_once() {
    let stub = StubServer::start().await;
    let saved = Arc::new(AtomicUsize::new(0));
    let count = saved.clone();
    let session = Session::builder(client(&stub))
        .token(stored_token(&stub, "at-expired", "rt-1", -60))
        .on_refresh(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let url = stub.url("/api/me");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let session = session.clone();
            let url = url.clone();
            tokio::spawn(async move { session.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    assert_eq!(stub.state.refresh_calls.load(Ordering::SeqCst), 1);
    assert_eq!(saved.load(Ordering::SeqCst), 1);
    assert_eq!(stub.state.api_ok.load(Ordering::SeqCst), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_refresh_is_a_clear_error_shared_by_waiting_requests() {
    let stub = StubServer::start().await;
    let mut token = stored_token(&stub, "at-expired", "rt-unknown", -60);
    token.refresh_token = Some(RefreshToken::new("rt-never-issued"));
    let session = Session::builder(client(&stub)).token(token).build().unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let session = session.clone();
            let url = stub.url("/api/me");
            tokio::spawn(async move { session.get(url).send().await })
        })
        .collect();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(matches!(err, Error::RefreshFailed(_)), "{err:?}");
        assert_eq!(err.code(), "invalid_grant");
    }
    assert_eq!(stub.state.refresh_calls.load(Ordering::SeqCst), 1);
    // The session still holds the old token: no silent re-login, no lost state.
    assert_eq!(session.token().unwrap().access_token.secret(), "at-expired");
    // A later request tries again (the failure may have been passing), and fails again here.
    assert!(matches!(session.get(stub.url("/api/me")).send().await, Err(Error::RefreshFailed(_))));
    assert_eq!(stub.state.refresh_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn early_refresh_failure_uses_the_still_valid_token() {
    let stub = StubServer::start().await;
    let mut token = stored_token(&stub, "at-valid", "rt-x", 10);
    token.refresh_token = Some(RefreshToken::new("rt-never-issued"));
    let session = Session::builder(client(&stub)).token(token).build().unwrap();
    let resp = session.get(stub.url("/api/me")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(stub.state.refresh_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rfc6749_4_2_implicit_grant_token_from_the_fragment() {
    let stub = StubServer::start().await;
    let session = Session::new(client(&stub)).unwrap();
    let (url, pending) = session.implicit_url("read").unwrap();
    let callback = browser_visit(&url).await;
    assert!(callback.contains('#'), "the token comes in the fragment: {callback}");
    let token = session.finish_implicit(&pending, &callback).unwrap();
    assert!(token.refresh_token.is_none());
    assert_eq!(session.get(stub.url("/api/me")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn expired_token_without_refresh_token_is_an_error() {
    let stub = StubServer::start().await;
    let mut token = Token::new("at-1");
    token.expires_at = Some(SystemTime::now() - Duration::from_secs(1));
    let session = Session::builder(client(&stub)).token(token).build().unwrap();
    assert!(matches!(session.get(stub.url("/api/me")).send().await, Err(Error::TokenExpired)));
    assert!(matches!(Session::new(client(&stub)).unwrap().get(stub.url("/api/me")).send().await, Err(Error::NoToken)));
}

#[tokio::test]
async fn rfc6749_6_manual_refresh_with_narrower_scope() {
    let stub = StubServer::start().await;
    let session = Session::builder(client(&stub)).token(stored_token(&stub, "at-1", "rt-1", 3600)).build().unwrap();
    let token = session.refresh_with_scope("read").await.unwrap();
    assert_eq!(token.scope.unwrap().to_string(), "read");
    let (_, body) = stub.state.last_token_request.lock().unwrap().clone().unwrap();
    assert!(body.iter().any(|(k, v)| k == "scope" && v == "read"));
}

#[tokio::test]
async fn rfc7009_and_rfc7662_revoke_then_introspect() {
    let stub = StubServer::start().await;
    let session = Session::new(client(&stub)).unwrap();
    let token = session.client_credentials("read").await.unwrap();
    let access = token.access_token.secret();
    let info = session.introspect(access, Some(TokenTypeHint::AccessToken)).await.unwrap();
    assert!(info.active);
    assert_eq!(info.client_id.as_deref(), Some(CLIENT_ID));
    session.revoke(access, Some(TokenTypeHint::AccessToken)).await.unwrap();
    assert!(!session.introspect(access, None).await.unwrap().active);
}

#[tokio::test]
async fn lenient_mode_reads_quirky_providers_that_strict_mode_rejects() {
    let stub = StubServer::start().await;
    for path in ["/token-form", "/token-quirky"] {
        let builder = Client::builder(CLIENT_ID).secret(CLIENT_SECRET).token_endpoint(stub.url(path));
        let strict = Session::new(builder.clone().build().unwrap()).unwrap();
        assert_eq!(strict.client_credentials("read").await.unwrap_err().code(), "unexpected_response", "{path}");
        let lenient = Session::new(builder.lenient(true).build().unwrap()).unwrap();
        let token = lenient.client_credentials("read").await.unwrap();
        assert!(stub.state.is_valid_access_token(token.access_token.secret()), "{path}");
    }
}

#[tokio::test]
async fn token_endpoint_redirects_are_not_followed() {
    let stub = StubServer::start().await;
    let c =
        Client::builder(CLIENT_ID).secret(CLIENT_SECRET).token_endpoint(stub.url("/token-redirect")).build().unwrap();
    let err = Session::new(c).unwrap().client_credentials("read").await.unwrap_err();
    assert_eq!(err.code(), "unexpected_response");
    assert_eq!(stub.state.grant_calls("client_credentials"), 0);
}

#[tokio::test]
async fn a_client_that_follows_redirects_is_refused_at_the_token_endpoint() {
    // reqwest's default client follows a 307 and re-posts the body; execute() must not hand back that answer.
    let stub = StubServer::start().await;
    let c =
        Client::builder(CLIENT_ID).secret(CLIENT_SECRET).token_endpoint(stub.url("/token-redirect")).build().unwrap();
    let session = Session::builder(c).http_client(reqwest::Client::new()).build().unwrap();
    let err = session.client_credentials("read").await.unwrap_err();
    assert_eq!(err.code(), "redirected", "{err}");
    assert!(session.token().is_none(), "no token from a redirected answer");
}

#[tokio::test]
async fn openid_discovery_is_the_fallback_when_rfc8414_metadata_is_missing() {
    let stub = StubServer::start().await;
    let http = oauth2_reqwest::http_client().unwrap();
    let issuer = format!("{}/oidc", stub.base);
    let found = oauth2_reqwest::fetch_metadata(&http, &issuer, true).await.unwrap();
    assert_eq!(found.metadata.issuer, issuer);
    assert_eq!(found.metadata.token_endpoint, Some(stub.url("/token")));
    assert_eq!(found.metadata.jwks_uri, Some(stub.url("/jwks")));
    let subject_types = found.metadata.extra.get("subject_types_supported");
    assert_eq!(subject_types, Some(&serde_json::json!(["public"])), "OpenID-only members are kept as extras");
}

#[tokio::test]
async fn rfc8414_discovery_configures_the_client() {
    let stub = StubServer::start().await;
    let http = oauth2_reqwest::http_client().unwrap();
    let metadata = oauth2_reqwest::discover(&http, &stub.base).await.unwrap();
    assert_eq!(metadata.token_endpoint, Some(stub.url("/token")));
    assert_eq!(metadata.extra.get("x_stub"), Some(&serde_json::json!("kept")));
    let c = Client::builder(CLIENT_ID)
        .secret(CLIENT_SECRET)
        .metadata(&metadata)
        .redirect_uri("http://127.0.0.1:1/callback")
        .build()
        .unwrap();
    let session = Session::new(c).unwrap();
    let (url, pending) = session.authorization_url("read").unwrap();
    session.finish_authorization(&pending, &browser_visit(&url).await).await.unwrap();
    // The stub sends iss and advertises it, so a callback without iss is now refused (RFC 9207 §2.4).
    let (url, pending) = session.authorization_url("read").unwrap();
    let stripped = browser_visit(&url).await.split("&iss=").next().unwrap().to_owned();
    assert_eq!(session.finish_authorization(&pending, &stripped).await.unwrap_err().code(), "missing_issuer");

    let wrong = format!("{}/", stub.base);
    let err = oauth2_reqwest::discover(&http, &wrong).await.unwrap_err();
    assert_eq!(err.code(), "issuer_mismatch");
    let err = oauth2_reqwest::discover(&http, "http://example.com").await.unwrap_err();
    assert_eq!(err.code(), "insecure_endpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_during_a_refresh_wins_over_the_refreshed_token() {
    let stub = StubServer::start().await;
    stub.state.hold_refresh.store(true, Ordering::SeqCst);
    let saved = Arc::new(AtomicUsize::new(0));
    let count = saved.clone();
    let session = Session::builder(client(&stub))
        .token(stored_token(&stub, "at-expired", "rt-1", -60))
        .on_refresh(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let in_flight = {
        let session = session.clone();
        let url = stub.url("/api/me");
        tokio::spawn(async move { session.get(url).send().await })
    };
    // The stub counts a refresh request on arrival, then holds it until released: log out while it is held (a
    // fixed 50 ms window could pass before this task ran on a loaded machine).
    while stub.state.refresh_calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    session.clear_token();
    stub.state.release_refresh.notify_one();
    assert!(matches!(in_flight.await.unwrap(), Err(Error::NoToken)));
    assert_eq!(stub.state.refresh_calls.load(Ordering::SeqCst), 1);
    assert!(session.token().is_none(), "the refreshed token must not log the user back in");
    assert_eq!(saved.load(Ordering::SeqCst), 0, "nothing to save for a logged-out session");
}

#[tokio::test]
async fn short_lived_tokens_are_not_refreshed_on_every_request() {
    let stub = StubServer::start().await;
    // Lifetime 20 s, below the default 30 s margin: the margin shrinks to half the lifetime.
    stub.state.expires_in.store(20, Ordering::SeqCst);
    let session = Session::new(client(&stub)).unwrap();
    session.password(USERNAME, PASSWORD, "read").await.unwrap();
    for _ in 0..3 {
        assert_eq!(session.get(stub.url("/api/me")).send().await.unwrap().status(), 200);
    }
    assert_eq!(stub.state.refresh_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn rfc6750_5_3_bearer_tokens_are_not_sent_over_plain_http() {
    let stub = StubServer::start().await;
    let session = Session::builder(client(&stub)).token(stored_token(&stub, "at-1", "rt-1", 3600)).build().unwrap();
    let err = session.get("http://api.example.com/me").send().await.unwrap_err();
    assert_eq!(err.code(), "insecure_endpoint");
}

/// A refresh whose id_token fails its checks still leaves the session with the rotated refresh token: the server
/// spent the old one, and replaying it would revoke the whole grant (RFC 9700 §4.14.2). The claims are not kept.
#[tokio::test]
async fn oidc_core_12_2_a_bad_refreshed_id_token_does_not_lose_the_rotated_refresh_token() {
    let stub = StubServer::start().await;
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let claims = serde_json::json!({"iss": stub.base, "sub": "x", "aud": CLIENT_ID, "iat": now, "exp": now + 300});
    let forger = oauth2_core::jose::SigningKey::ed25519_from_seed("forged", &[3; 32]).unwrap();
    *stub.state.id_token.lock().unwrap() = Some(forger.sign(None, &claims).unwrap());
    let client = Client::builder(CLIENT_ID)
        .secret(CLIENT_SECRET)
        .token_endpoint(stub.url("/token"))
        .jwks_uri(stub.url("/jwks"))
        .issuer(&stub.base)
        .build()
        .unwrap();
    let session = Session::builder(client).token(stored_token(&stub, "at-stored", "rt-stored", 3600)).build().unwrap();
    let refused = session.refresh().await.unwrap_err();
    assert_eq!(refused.code(), "invalid_id_token", "{refused}");
    let kept = session.token().unwrap().refresh_token.unwrap();
    assert_ne!(kept.secret(), "rt-stored", "the rotated refresh token is kept");
    assert!(session.id_token_claims().is_none(), "a bad id_token leaves no claims");
    // The kept refresh token works (the spent one would have been a reuse).
    *stub.state.id_token.lock().unwrap() = None;
    session.refresh().await.expect("the rotated refresh token is live");
}

#[tokio::test]
async fn rfc9126_2_par_pushes_the_request_and_the_browser_carries_only_the_request_uri() {
    let stub = StubServer::start().await;
    let client = Client::builder(CLIENT_ID)
        .secret(CLIENT_SECRET)
        .authorization_endpoint(stub.url("/authorize"))
        .pushed_authorization_request_endpoint(stub.url("/par"))
        .token_endpoint(stub.url("/token"))
        .redirect_uri("http://127.0.0.1:1/callback")
        .issuer(&stub.base)
        .build()
        .unwrap();
    let session = Session::builder(client).par(true).build().unwrap();
    assert!(session.pushes_authorization_requests());
    assert_eq!(
        session.authorization_url("read").unwrap_err().code(),
        "par_required",
        "no silent front-channel request"
    );
    let (url, pending) = session.start_authorization("read profile").await.unwrap();
    let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(names, ["client_id", "request_uri"], "{url}");
    let (auth, pushed) = stub.state.last_pushed_request.lock().unwrap().clone().unwrap();
    assert!(auth.is_some_and(|a| a.starts_with("Basic ")), "client-authenticated (§2.1)");
    let get = |name: &str| pushed.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(get("state").as_deref(), Some(pending.state.secret()));
    assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(get("scope").as_deref(), Some("read profile"));
    let token = session.finish_authorization(&pending, &browser_visit(&url).await).await.unwrap();
    assert_eq!(token.scope.map(|s| s.to_string()).as_deref(), Some("read profile"));
    // pushed_authorization_url pushes whatever the session's setting.
    let plain = Session::new(session.client().clone()).unwrap();
    let (url, _) = plain.pushed_authorization_url("read").await.unwrap();
    assert!(url.query().unwrap().contains("request_uri=urn"), "{url}");
}

#[tokio::test]
async fn rfc9126_5_a_server_whose_metadata_requires_par_gets_pushed_requests() {
    let stub = StubServer::start().await;
    stub.state.require_par.store(true, Ordering::SeqCst);
    let http = oauth2_reqwest::http_client().unwrap();
    let metadata = oauth2_reqwest::discover(&http, &stub.base).await.unwrap();
    let client = Client::builder(oauth2_testkit::PUBLIC_CLIENT_ID)
        .metadata(&metadata)
        .redirect_uri("http://127.0.0.1:1/callback")
        .build()
        .unwrap();
    let session = Session::new(client).unwrap();
    assert!(session.pushes_authorization_requests(), "from the metadata");
    let (url, pending) = session.start_authorization("read").await.unwrap();
    assert!(url.query().unwrap().contains("request_uri="), "{url}");
    let (auth, pushed) = stub.state.last_pushed_request.lock().unwrap().clone().unwrap();
    assert!(auth.is_none() && pushed.iter().any(|(k, v)| k == "client_id" && v == PUBLIC_CLIENT_ID));
    session.finish_authorization(&pending, &browser_visit(&url).await).await.unwrap();
    assert!(session.token().is_some());
    // The stub refuses an ordinary request: that is what the session avoided.
    let (plain, _) = session.client().authorization_request(&mut oauth2_core::random::OsRng).build().unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    assert_eq!(http.get(plain.as_str()).send().await.unwrap().status(), 400);
    assert_eq!(session.implicit_url("read").unwrap_err().code(), "par_required");
    stub.state.require_par.store(false, Ordering::SeqCst);
    let relaxed = oauth2_reqwest::discover(&http, &stub.base).await.unwrap();
    let client = Client::builder(PUBLIC_CLIENT_ID).metadata(&relaxed).redirect_uri("http://127.0.0.1:1/cb").build();
    assert!(!Session::new(client.unwrap()).unwrap().pushes_authorization_requests());
}
