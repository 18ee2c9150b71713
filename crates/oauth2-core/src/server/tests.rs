//! Authorization server and resource server rules, one test per rule, named by RFC section.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use http::StatusCode;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

use super::*;
use crate::form::FormParams;
use crate::pkce::{PkceChallenge, PkceMethod, PkceVerifier};

use futures_executor::block_on;

use crate::error::{OAuthError, StoreError};
use crate::grant::GrantType;
use crate::resource::AccessGrant;
use crate::secret::SecretHash;

/// The resource server's check of `headers` against `s`'s own tokens.
fn bearer<S: Store>(
    s: &AuthorizationServer<S>,
    headers: &http::HeaderMap,
    required: &crate::Scope,
) -> Result<AccessGrant, OAuthError> {
    block_on(s.resource_server().check_headers(s, headers, required, now()))
}

fn challenge_of(e: &OAuthError) -> String {
    e.www_authenticate().map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

const ISSUER: &str = "https://as.example";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn server() -> AuthorizationServer<MemoryStore> {
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::confidential("web", "s3cret pa+ss")
            .redirect_uris(["https://app.example/cb", "https://app.example/cb2"])
            .grant_types([
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials,
                GrantType::Password,
            ])
            .scopes("read write profile")
            .name("Web App"),
    );
    store.add_client(
        RegisteredClient::public("native")
            .redirect_uris(["http://127.0.0.1/callback"])
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Implicit])
            .scopes("read"),
    );
    store.add_client(
        RegisteredClient::confidential("other", "x").redirect_uris(["https://other.example/cb"]).scopes("read"),
    );
    let mut config = ServerConfig::new(ISSUER);
    config.grant_types.push(GrantType::Implicit);
    AuthorizationServer::new(config, store, Mutex::new(ChaCha20Rng::seed_from_u64(9)))
        .with_password_verifier(|u, p| (u == "alice" && p == "wonderland").then(|| "alice".to_owned()))
}

fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

fn post(body: &str, auth: Option<&str>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::post("/token").header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(body.as_bytes().to_vec()).unwrap()
}

fn web_auth() -> Option<String> {
    Some(basic("web", "s3cret pa+ss"))
}

fn json(r: &http::Response<Vec<u8>>) -> Value {
    serde_json::from_slice(r.body()).unwrap_or(Value::Null)
}

fn location_params(r: &http::Response<Vec<u8>>) -> (url::Url, FormParams) {
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let raw = loc.fragment().map(str::to_owned).unwrap_or_else(|| loc.query().unwrap_or("").to_owned());
    (loc.clone(), FormParams::parse(raw.as_bytes()).unwrap())
}

fn redirect_error(e: AuthorizeError) -> (String, FormParams) {
    match e {
        AuthorizeError::Redirect { location, .. } => {
            let url = url::Url::parse(&location).unwrap();
            let raw = url.fragment().map(str::to_owned).unwrap_or_else(|| url.query().unwrap_or("").to_owned());
            (location.clone(), FormParams::parse(raw.as_bytes()).unwrap())
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
}

/// Runs the authorization step for `web` and returns the code.
fn web_code(s: &AuthorizationServer<MemoryStore>, extra: &str) -> String {
    let q = format!("response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz{extra}");
    let req = block_on(s.authorization_request(&q, now())).unwrap();
    let resp = block_on(s.approve(&req, "alice", None, now())).unwrap();
    location_params(&resp).1.get("code").unwrap().to_owned()
}

fn redeem(s: &AuthorizationServer<MemoryStore>, code: &str, extra: &str) -> http::Response<Vec<u8>> {
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb{extra}");
    block_on(s.token(post(&body, web_auth().as_deref()), now()))
}

// ---- authorization endpoint ----

#[test]
fn rfc6749_4_1_1_valid_request_is_handed_to_the_app() {
    let s = server();
    let q = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read&state=xyz";
    let req = block_on(s.authorization_request(q, now())).unwrap();
    assert_eq!(req.client_id, "web");
    assert_eq!(req.client_name.as_deref(), Some("Web App"));
    assert_eq!(req.scope, crate::Scope::parse("read"));
    assert_eq!(req.state.as_deref(), Some("xyz"));
}

#[test]
fn rfc6749_3_3_omitted_scope_means_the_clients_registered_scopes() {
    let s = server();
    let req = block_on(
        s.authorization_request("response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", now()),
    )
    .unwrap();
    assert_eq!(req.scope, crate::Scope::parse("read write profile"));
}

#[test]
fn rfc6749_4_1_2_1_unknown_client_and_bad_redirect_are_pages_not_redirects() {
    let s = server();
    for q in [
        "response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
        "response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
        "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
        "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2Fextra",
        // Two registered URIs: the request must name one.
        "response_type=code&client_id=web",
        // RFC 6749 §3.1: repeated parameters.
        "response_type=code&client_id=web&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
    ] {
        let err = block_on(s.authorization_request(q, now())).unwrap_err();
        assert!(matches!(err, AuthorizeError::Page(_)), "{q}: {err:?}");
        let resp = err.into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(resp.headers().get("location").is_none(), "no open redirect");
    }
}

#[test]
fn rfc8252_7_3_loopback_redirect_port_may_vary_for_native_clients_only() {
    let s = server();
    let challenge = format!("&code_challenge={CHALLENGE}&code_challenge_method=S256");
    let q = format!(
        "response_type=code&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A51234%2Fcallback{challenge}"
    );
    assert!(block_on(s.authorization_request(&q, now())).is_ok());
    let q =
        format!("response_type=code&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A51234%2Fother{challenge}");
    assert!(matches!(block_on(s.authorization_request(&q, now())), Err(AuthorizeError::Page(_))));
    let q = format!(
        "response_type=code&client_id=native&redirect_uri=http%3A%2F%2Flocalhost%3A51234%2Fcallback{challenge}"
    );
    assert!(
        matches!(block_on(s.authorization_request(&q, now())), Err(AuthorizeError::Page(_))),
        "host must match too"
    );
    let client = RegisteredClient::confidential("c", "s").redirect_uris(["http://127.0.0.1/cb"]);
    assert!(!redirect_uri_allowed(&client, "http://127.0.0.1:8080/cb"), "confidential web clients match exactly");
    // IPv6 loopback and `localhost` are loopback too (RFC 8252 §7.3, §8.3).
    let v6 = RegisteredClient::public("v6").redirect_uris(["http://[::1]/cb", "http://localhost/cb"]);
    assert!(redirect_uri_allowed(&v6, "http://[::1]:49152/cb"));
    assert!(redirect_uri_allowed(&v6, "http://localhost:49152/cb"));
    assert!(!redirect_uri_allowed(&v6, "http://[::1]:49152/other"));
    assert!(!redirect_uri_allowed(&v6, "https://[::1]:49152/cb"), "only http loopback redirects vary");
}

#[test]
fn rfc6749_4_1_2_1_errors_after_redirect_validation_go_back_with_state_and_iss() {
    let s = server();
    let base = "client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz";
    let cases = [
        (base.to_owned(), "invalid_request"),
        (format!("{base}&response_type=device"), "unsupported_response_type"),
        (format!("{base}&response_type=token"), "unauthorized_client"),
        (format!("{base}&response_type=code&scope=admin"), "invalid_scope"),
        (format!("{base}&response_type=code&code_challenge_method=S256"), "invalid_request"),
        (format!("{base}&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=MD5"), "invalid_request"),
    ];
    for (q, code) in cases {
        let (location, p) = redirect_error(block_on(s.authorization_request(&q, now())).unwrap_err());
        // Code-flow errors go in the query, implicit-flow errors in the fragment (§4.2.2.1).
        assert!(
            location.starts_with("https://app.example/cb?") || location.starts_with("https://app.example/cb#"),
            "{location}"
        );
        assert_eq!(p.get("error"), Some(code), "{q}");
        assert_eq!(p.get("state"), Some("xyz"));
        assert_eq!(p.get("iss"), Some(ISSUER), "RFC 9207 §2");
    }
}

#[test]
fn rfc6749_4_1_2_1_a_state_too_long_to_echo_is_refused_and_not_echoed() {
    let s = server();
    let q = format!(
        "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state={}",
        "x".repeat(65_000)
    );
    // Over the request limit as a whole: a page, nothing kept.
    assert!(matches!(block_on(s.authorization_request(&q, now())), Err(AuthorizeError::Page(_))));
    let q = format!(
        "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state={}",
        "x".repeat(2049)
    );
    let (location, p) = redirect_error(block_on(s.authorization_request(&q, now())).unwrap_err());
    assert_eq!(p.get("error"), Some("invalid_request"));
    assert!(p.get("state").is_none() && location.len() < 1024, "not echoed: {location}");
}

#[test]
fn rfc7636_4_4_1_public_clients_must_use_pkce_and_plain_needs_opt_in() {
    let s = server();
    let base = "response_type=code&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback";
    let (_, p) = redirect_error(block_on(s.authorization_request(base, now())).unwrap_err());
    assert_eq!(p.get("error"), Some("invalid_request"));
    // An omitted method means plain (RFC 7636 §4.3), refused without the opt-in.
    let plain = format!("{base}&code_challenge={VERIFIER}");
    let (_, p) = redirect_error(block_on(s.authorization_request(&plain, now())).unwrap_err());
    assert_eq!(p.get("error"), Some("invalid_request"));
    let short = format!("{base}&code_challenge=abc&code_challenge_method=S256");
    assert!(block_on(s.authorization_request(&short, now())).is_err(), "challenge syntax is checked");
    let ok = format!("{base}&code_challenge={CHALLENGE}&code_challenge_method=S256");
    let req = block_on(s.authorization_request(&ok, now())).unwrap();
    assert_eq!(req.code_challenge, Some(PkceChallenge::new(CHALLENGE, PkceMethod::S256).unwrap()));
}

#[test]
fn rfc6749_4_1_2_approval_redirects_with_code_state_and_iss() {
    let s = server();
    let q = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz&scope=read";
    let req = block_on(s.authorization_request(q, now())).unwrap();
    let resp = block_on(s.approve(&req, "alice", None, now())).unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let (url, p) = location_params(&resp);
    assert_eq!(url.path(), "/cb");
    assert_eq!(p.get("code").map(str::len), Some(43), "256-bit codes");
    assert_eq!(p.get("state"), Some("xyz"));
    assert_eq!(p.get("iss"), Some(ISSUER));
    // The app may narrow, never widen.
    assert!(block_on(s.approve(&req, "alice", Some(crate::Scope::parse("write")), now())).is_err());
}

#[test]
fn rfc6749_4_1_2_1_denial_is_access_denied() {
    let s = server();
    let q = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz";
    let req = block_on(s.authorization_request(q, now())).unwrap();
    let (_, p) = location_params(&block_on(s.deny(&req)));
    assert_eq!(p.get("error"), Some("access_denied"));
    assert_eq!(p.get("state"), Some("xyz"));
}

#[test]
fn rfc6749_4_2_2_implicit_token_in_fragment() {
    let s = server();
    let q = "response_type=token&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=s1";
    let req = block_on(s.authorization_request(q, now())).unwrap();
    let resp = block_on(s.approve(&req, "alice", None, now())).unwrap();
    let (url, p) = location_params(&resp);
    assert!(url.query().is_none());
    assert_eq!(p.get("token_type"), Some("Bearer"));
    assert_eq!(p.get("expires_in"), Some("3600"));
    assert_eq!(p.get("state"), Some("s1"));
    assert!(p.get("refresh_token").is_none(), "§4.2.2: no refresh token");
    assert_eq!(p.get("iss"), Some(ISSUER), "RFC 9207 §2: iss in the fragment too");
    let token = p.get("access_token").unwrap();
    let h = bearer_headers(token);
    assert!(bearer(&s, &h, &crate::Scope::empty()).is_ok());
}

#[test]
fn rfc9700_2_1_2_the_implicit_grant_is_off_unless_the_server_offers_it() {
    // A client registered for implicit, on a server with the default configuration.
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::public("spa")
            .redirect_uris(["https://spa.example/cb"])
            .grant_types([GrantType::Implicit, GrantType::AuthorizationCode])
            .scopes("read"),
    );
    let s = AuthorizationServer::new(ServerConfig::new(ISSUER), store, Mutex::new(ChaCha20Rng::seed_from_u64(2)));
    let q = "response_type=token&client_id=spa&redirect_uri=https%3A%2F%2Fspa.example%2Fcb&state=s";
    let (location, p) = redirect_error(block_on(s.authorization_request(q, now())).unwrap_err());
    assert_eq!(p.get("error"), Some("unsupported_response_type"));
    assert!(location.contains('#'), "errors of a token request go in the fragment");
    assert_eq!(s.metadata().response_types_supported, vec!["code".to_owned()]);
    // Without a verifier the password grant is not offered either (RFC 9700 §2.4).
    let body = "grant_type=password&username=a&password=b&client_id=spa";
    let e = json(&block_on(s.token(post(body, None), now())));
    assert_eq!(e["error"], "unsupported_grant_type");
}

#[test]
fn rfc6749_10_15_approve_refuses_a_grant_the_server_does_not_offer() {
    // The request kept in the user's session is edited from code to token on a server without the implicit grant.
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::public("spa")
            .redirect_uris(["http://127.0.0.1/callback"])
            .grant_types([GrantType::Implicit, GrantType::AuthorizationCode])
            .scopes("read"),
    );
    let s = AuthorizationServer::new(ServerConfig::new(ISSUER), store, Mutex::new(ChaCha20Rng::seed_from_u64(5)));
    let q = format!(
        "response_type=code&client_id=spa&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback\
         &code_challenge={CHALLENGE}&code_challenge_method=S256"
    );
    let mut request = block_on(s.authorization_request(&q, now())).unwrap();
    request.response_type = crate::grant::ResponseType::Token;
    request.code_challenge = None;
    let refused = block_on(s.approve(&request, "alice", None, now())).unwrap_err();
    assert!(matches!(refused, AuthorizeError::Page(_)), "{refused:?}");
}

#[test]
fn rfc6749_6_no_refresh_token_when_the_server_does_not_offer_refresh() {
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::confidential("app", "pw")
            .grant_types([GrantType::Password, GrantType::RefreshToken])
            .scopes("read"),
    );
    let mut config = ServerConfig::new(ISSUER);
    config.grant_types.retain(|g| *g != GrantType::RefreshToken);
    let s = AuthorizationServer::new(config, store, Mutex::new(ChaCha20Rng::seed_from_u64(6)))
        .with_password_verifier(|u, _| Some(u.to_owned()));
    let t =
        json(&block_on(s.token(post("grant_type=password&username=a&password=b", Some(&basic("app", "pw"))), now())));
    assert!(t["access_token"].is_string(), "{t}");
    assert!(t.get("refresh_token").is_none(), "a refresh token the server would refuse: {t}");
}

#[test]
fn rfc7636_4_2_plain_pkce_works_for_a_client_that_opted_in() {
    let store = MemoryStore::new();
    let mut client = RegisteredClient::public("legacy").redirect_uris(["http://127.0.0.1/callback"]).scopes("read");
    client.allow_plain_pkce = true;
    store.add_client(client);
    let s = AuthorizationServer::new(ServerConfig::new(ISSUER), store, Mutex::new(ChaCha20Rng::seed_from_u64(4)));
    let q = format!(
        "response_type=code&client_id=legacy&redirect_uri=http%3A%2F%2F127.0.0.1%3A7%2Fcallback\
         &code_challenge={VERIFIER}&code_challenge_method=plain"
    );
    let req = block_on(s.authorization_request(&q, now())).unwrap();
    let (_, p) = location_params(&block_on(s.approve(&req, "alice", None, now())).unwrap());
    let code = p.get("code").unwrap();
    let body = format!(
        "grant_type=authorization_code&code={code}&client_id=legacy\
         &redirect_uri=http%3A%2F%2F127.0.0.1%3A7%2Fcallback&code_verifier={VERIFIER}"
    );
    let t = json(&block_on(s.token(post(&body, None), now())));
    assert!(t["access_token"].is_string(), "{t}");
}

// ---- token endpoint: code grant ----

#[test]
fn rfc6749_4_1_3_code_redeems_once_with_no_store_headers() {
    let s = server();
    let code = web_code(&s, "");
    let resp = redeem(&s, &code, "");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body = json(&resp);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write profile");
    assert!(body["refresh_token"].is_string());
}

#[test]
fn rfc6749_4_1_2_replayed_code_is_refused_and_revokes_its_tokens() {
    let s = server();
    let code = web_code(&s, "");
    let first = json(&redeem(&s, &code, ""));
    let replay = redeem(&s, &code, "");
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(&replay)["error"], "invalid_grant");
    let h = bearer_headers(first["access_token"].as_str().unwrap());
    let err = bearer(&s, &h, &crate::Scope::empty()).unwrap_err();
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED, "tokens from a replayed code are revoked");
    let refresh = format!("grant_type=refresh_token&refresh_token={}", first["refresh_token"].as_str().unwrap());
    assert_eq!(json(&block_on(s.token(post(&refresh, web_auth().as_deref()), now())))["error"], "invalid_grant");
}

#[test]
fn rfc6749_4_1_3_code_is_bound_to_client_redirect_uri_and_lifetime() {
    let s = server();
    let code = web_code(&s, "");
    let other = format!("grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb");
    let resp = block_on(s.token(post(&other, Some(&basic("other", "x"))), now()));
    assert_eq!(json(&resp)["error"], "invalid_grant", "the code was issued to web");
    // ...without spending it: the client it was issued to still can (RFC 9700 §4.2.4, no burning by others).
    assert_eq!(redeem(&s, &code, "").status(), StatusCode::OK);
    let code = web_code(&s, "");
    let wrong_redirect =
        format!("grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb2");
    assert_eq!(json(&block_on(s.token(post(&wrong_redirect, web_auth().as_deref()), now())))["error"], "invalid_grant");
    let code = web_code(&s, "");
    let missing_redirect = format!("grant_type=authorization_code&code={code}");
    assert_eq!(
        json(&block_on(s.token(post(&missing_redirect, web_auth().as_deref()), now())))["error"],
        "invalid_grant"
    );
    let code = web_code(&s, "");
    let late = format!("grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb");
    let expired = block_on(s.token(post(&late, web_auth().as_deref()), now() + Duration::from_secs(61)));
    assert_eq!(json(&expired)["error"], "invalid_grant", "codes live 60 s");
}

#[test]
fn rfc7636_4_6_verifier_must_match_the_challenge() {
    let s = server();
    let pkce = format!("&code_challenge={CHALLENGE}&code_challenge_method=S256");
    let code = web_code(&s, &pkce);
    assert_eq!(json(&redeem(&s, &code, ""))["error"], "invalid_grant", "missing verifier");
    let code = web_code(&s, &pkce);
    let wrong = PkceVerifier::generate(&mut ChaCha20Rng::seed_from_u64(3));
    assert_eq!(json(&redeem(&s, &code, &format!("&code_verifier={}", wrong.secret())))["error"], "invalid_grant");
    let code = web_code(&s, &pkce);
    assert_eq!(json(&redeem(&s, &code, "&code_verifier=short"))["error"], "invalid_grant", "verifier syntax");
    let code = web_code(&s, &pkce);
    assert_eq!(redeem(&s, &code, &format!("&code_verifier={VERIFIER}")).status(), StatusCode::OK);
}

#[test]
fn rfc9700_2_1_1_verifier_for_a_code_without_challenge_is_rejected() {
    let s = server();
    let code = web_code(&s, "");
    assert_eq!(json(&redeem(&s, &code, &format!("&code_verifier={VERIFIER}")))["error"], "invalid_grant");
}

// ---- client authentication ----

#[test]
fn rfc6749_2_3_1_basic_credentials_are_form_decoded_and_post_works_too() {
    let s = server();
    let ok = block_on(s.token(post("grant_type=client_credentials", web_auth().as_deref()), now()));
    assert_eq!(ok.status(), StatusCode::OK, "{:?}", json(&ok));
    let body = "grant_type=client_credentials&client_id=web&client_secret=s3cret+pa%2Bss";
    assert_eq!(block_on(s.token(post(body, None), now())).status(), StatusCode::OK);
}

#[test]
fn rfc6749_5_2_failed_basic_auth_is_401_with_a_basic_challenge() {
    let s = server();
    for auth in [basic("web", "wrong"), basic("nobody", "x"), "Basic !!!notbase64".into(), "Basic bm9jb2xvbg==".into()]
    {
        let resp = block_on(s.token(post("grant_type=client_credentials", Some(&auth)), now()));
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{auth}");
        assert_eq!(json(&resp)["error"], "invalid_client");
        assert!(resp.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    let resp = block_on(s.token(post("grant_type=client_credentials&client_id=web&client_secret=wrong", None), now()));
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn rfc6749_2_3_two_authentication_methods_are_rejected() {
    let s = server();
    let body = "grant_type=client_credentials&client_secret=s3cret+pa%2Bss";
    let resp = block_on(s.token(post(body, web_auth().as_deref()), now()));
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(&resp)["error"], "invalid_request");
}

#[test]
fn rfc6749_3_2_token_endpoint_input_rules() {
    let s = server();
    let dup =
        block_on(s.token(post("grant_type=client_credentials&grant_type=password", web_auth().as_deref()), now()));
    assert_eq!(json(&dup)["error"], "invalid_request");
    let mut json_body = post("{}", web_auth().as_deref());
    json_body.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
    assert_eq!(json(&block_on(s.token(json_body, now())))["error"], "invalid_request");
    let big = format!("grant_type=client_credentials&pad={}", "x".repeat(20_000));
    assert_eq!(json(&block_on(s.token(post(&big, web_auth().as_deref()), now())))["error"], "invalid_request");
    assert_eq!(json(&block_on(s.token(post("", web_auth().as_deref()), now())))["error"], "invalid_request");
    let unknown = block_on(s.token(post("grant_type=urn:x", web_auth().as_deref()), now()));
    assert_eq!(json(&unknown)["error"], "unsupported_grant_type");
    let mut get = post("grant_type=client_credentials", web_auth().as_deref());
    *get.method_mut() = http::Method::GET;
    assert_eq!(json(&block_on(s.token(get, now())))["error"], "invalid_request");
}

#[test]
fn rfc6749_5_2_error_descriptions_never_echo_raw_input() {
    let s = server();
    let allowed = |d: &str| d.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E));
    // A repeated parameter whose name is attacker-chosen bytes, on the token endpoint ...
    let body = "grant_type=client_credentials&%22%C2%A7%0A%5C=1&%22%C2%A7%0A%5C=2";
    let e = json(&block_on(s.token(post(body, web_auth().as_deref()), now())));
    assert_eq!(e["error"], "invalid_request");
    let d = e["error_description"].as_str().unwrap();
    assert!(allowed(d) && d.contains("%22%C2%A7%0A%5C"), "{d}");
    // ... and in an authorization error redirected back to the client.
    let q = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=s&scope=qu%22ote%C2%A7";
    let (_, p) = redirect_error(block_on(s.authorization_request(q, now())).unwrap_err());
    assert!(p.get("error_description").is_some_and(allowed), "{:?}", p.get("error_description"));
    // Two authentication methods: our own text carries no `§` either.
    let e =
        json(&block_on(s.token(post("grant_type=client_credentials&client_secret=x", web_auth().as_deref()), now())));
    assert!(allowed(e["error_description"].as_str().unwrap()), "{e}");
}

// ---- password, client credentials ----

#[test]
fn rfc6749_4_3_password_grant() {
    let s = server();
    let ok =
        block_on(s.token(post("grant_type=password&username=alice&password=wonderland", web_auth().as_deref()), now()));
    assert_eq!(ok.status(), StatusCode::OK);
    let bad = block_on(s.token(post("grant_type=password&username=alice&password=nope", web_auth().as_deref()), now()));
    assert_eq!(json(&bad)["error"], "invalid_grant");
    let other = block_on(
        s.token(post("grant_type=password&username=alice&password=wonderland", Some(&basic("other", "x"))), now()),
    );
    assert_eq!(json(&other)["error"], "unauthorized_client", "only clients registered for it");
}

#[test]
fn rfc6749_4_3_2_password_guessing_is_throttled_per_username_and_address() {
    let s = server();
    let from = |addr: &str, password: &str, at: SystemTime| {
        let mut r = post(&format!("grant_type=password&username=alice&password={password}"), web_auth().as_deref());
        r.extensions_mut().insert(ClientAddress(addr.parse().unwrap()));
        block_on(s.token(r, at))
    };
    for i in 0..10 {
        let r = from("198.51.100.7", "guess", now() + Duration::from_secs(i));
        assert_eq!(json(&r)["error"], "invalid_grant", "attempt {i}");
        assert!(r.headers().get("retry-after").is_none(), "attempt {i} is checked");
    }
    // The eleventh attempt within 15 minutes is refused without checking, the right password included.
    let refused = from("198.51.100.7", "wonderland", now() + Duration::from_secs(10));
    assert_eq!(json(&refused)["error"], "invalid_grant");
    assert_eq!(refused.headers()["retry-after"], "60");
    assert!(json(&refused)["error_description"].as_str().unwrap().contains("too many"));
    // Another address is counted apart, and the lockout ends after 60 s.
    assert_eq!(from("198.51.100.8", "wonderland", now() + Duration::from_secs(11)).status(), StatusCode::OK);
    assert_eq!(from("198.51.100.7", "wonderland", now() + Duration::from_secs(71)).status(), StatusCode::OK);
}

#[test]
fn rfc6749_4_3_2_a_success_clears_the_attempts() {
    let s = server();
    let try_password = |password: &str| {
        let mut r = post(&format!("grant_type=password&username=alice&password={password}"), web_auth().as_deref());
        r.extensions_mut().insert(ClientAddress("192.0.2.1".parse().unwrap()));
        block_on(s.token(r, now())).status()
    };
    for _ in 0..9 {
        assert_eq!(try_password("guess"), StatusCode::BAD_REQUEST);
    }
    assert_eq!(try_password("wonderland"), StatusCode::OK);
    for _ in 0..10 {
        assert_eq!(try_password("guess"), StatusCode::BAD_REQUEST);
    }
    assert_eq!(try_password("wonderland"), StatusCode::BAD_REQUEST, "ten more failures lock again");
}

#[test]
fn rfc6749_4_4_3_client_credentials_issue_no_refresh_token() {
    let s = server();
    let resp = block_on(s.token(post("grant_type=client_credentials&scope=read", web_auth().as_deref()), now()));
    let body = json(&resp);
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["scope"], "read");
    let public = block_on(s.token(post("grant_type=client_credentials&client_id=native", None), now()));
    assert_eq!(json(&public)["error"], "unauthorized_client");
    let widened = block_on(s.token(post("grant_type=client_credentials&scope=admin", web_auth().as_deref()), now()));
    assert_eq!(json(&widened)["error"], "invalid_scope");
}

// ---- refresh ----

fn password_tokens(s: &AuthorizationServer<MemoryStore>) -> Value {
    json(&block_on(s.token(
        post("grant_type=password&username=alice&password=wonderland&scope=read+write", web_auth().as_deref()),
        now(),
    )))
}

fn refresh(s: &AuthorizationServer<MemoryStore>, rt: &str, extra: &str) -> http::Response<Vec<u8>> {
    block_on(
        s.token(post(&format!("grant_type=refresh_token&refresh_token={rt}{extra}"), web_auth().as_deref()), now()),
    )
}

#[test]
fn rfc6749_6_refresh_rotates_and_may_narrow_scope() {
    let s = server();
    let t = password_tokens(&s);
    let r1 = refresh(&s, t["refresh_token"].as_str().unwrap(), "&scope=read");
    assert_eq!(r1.status(), StatusCode::OK);
    let b1 = json(&r1);
    assert_eq!(b1["scope"], "read");
    assert_ne!(b1["refresh_token"], t["refresh_token"], "rotated");
    // §6: the new refresh token keeps the original scope.
    let r2 = json(&refresh(&s, b1["refresh_token"].as_str().unwrap(), ""));
    assert_eq!(r2["scope"], "read write");
}

#[test]
fn rfc6749_3_3_blank_scope_on_refresh_means_the_original_scope() {
    let s = server();
    let t = password_tokens(&s);
    for blank in ["&scope=%20", "&scope=+++", "&scope="] {
        let t = password_tokens(&s);
        let r = refresh(&s, t["refresh_token"].as_str().unwrap(), blank);
        assert_eq!(r.status(), StatusCode::OK, "{blank}");
        assert_eq!(json(&r)["scope"], "read write", "{blank}: a blank scope is an omitted one");
        let h = bearer_headers(json(&r)["access_token"].as_str().unwrap());
        let grant = bearer(&s, &h, &crate::Scope::parse("read write"));
        assert!(grant.is_ok(), "{blank}: the new access token carries the original scope");
    }
    let malformed = refresh(&s, t["refresh_token"].as_str().unwrap(), "&scope=read+qu%22ote");
    assert_eq!(json(&malformed)["error"], "invalid_scope", "a malformed scope token is refused on refresh too");
}

#[test]
fn rfc6749_6_refresh_cannot_widen_scope() {
    let s = server();
    let t = password_tokens(&s);
    let resp = refresh(&s, t["refresh_token"].as_str().unwrap(), "&scope=read+profile");
    assert_eq!(json(&resp)["error"], "invalid_scope");
}

#[test]
fn rfc9700_4_14_2_refresh_reuse_revokes_the_family() {
    let s = server();
    let t = password_tokens(&s);
    let rt = t["refresh_token"].as_str().unwrap();
    let fresh = json(&refresh(&s, rt, ""));
    let reuse = refresh(&s, rt, "");
    assert_eq!(json(&reuse)["error"], "invalid_grant");
    // Everything in the family is gone: the new access token and the new refresh token.
    let h = bearer_headers(fresh["access_token"].as_str().unwrap());
    assert!(bearer(&s, &h, &crate::Scope::empty()).is_err());
    assert_eq!(json(&refresh(&s, fresh["refresh_token"].as_str().unwrap(), ""))["error"], "invalid_grant");
}

#[test]
fn rfc6749_10_4_refresh_token_is_bound_to_its_client() {
    let s = server();
    let t = password_tokens(&s);
    let body = format!("grant_type=refresh_token&refresh_token={}", t["refresh_token"].as_str().unwrap());
    let mut other = RegisteredClient::confidential("other2", "y").grant_types([GrantType::RefreshToken]);
    other.scopes = crate::Scope::parse("read write");
    s.store().add_client(other);
    let resp = block_on(s.token(post(&body, Some(&basic("other2", "y"))), now()));
    assert_eq!(json(&resp)["error"], "invalid_grant");
}

// ---- resource server ----

fn bearer_headers(token: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("authorization", http::HeaderValue::try_from(format!("Bearer {token}")).unwrap());
    h
}

#[test]
fn rfc6750_3_1_resource_errors_carry_status_and_challenge() {
    let s = server();
    let t = password_tokens(&s);
    let at = t["access_token"].as_str().unwrap();
    let read = crate::Scope::parse("read");
    let ok = bearer(&s, &bearer_headers(at), &read).unwrap();
    assert_eq!(ok.subject.as_deref(), Some("alice"));
    assert_eq!(&*ok.client_id, "web");

    let none = bearer(&s, &http::HeaderMap::new(), &read).unwrap_err();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge_of(&none), "Bearer realm=\"oauth\"", "§3.1: no error code without credentials");

    let malformed = bearer(&s, &bearer_headers("a b"), &read).unwrap_err();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert!(challenge_of(&malformed).contains("error=\"invalid_request\""));

    let unknown = bearer(&s, &bearer_headers("nope"), &read).unwrap_err();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge_of(&unknown).contains("error=\"invalid_token\""));

    let profile = crate::Scope::parse("profile");
    let scope = bearer(&s, &bearer_headers(at), &profile).unwrap_err();
    assert_eq!(scope.status(), StatusCode::FORBIDDEN);
    assert!(challenge_of(&scope).contains("error=\"insufficient_scope\", error_description=\"the access token lacks the scope this resource needs\", scope=\"profile\""));

    let late =
        block_on(s.resource_server().check_headers(&s, &bearer_headers(at), &read, now() + Duration::from_secs(3600)))
            .unwrap_err();
    assert_eq!(late.status(), StatusCode::UNAUTHORIZED, "expired");
}

// ---- revocation, introspection, metadata ----

fn form_post(path: &str, body: &str, auth: Option<&str>) -> http::Request<Vec<u8>> {
    let mut r = post(body, auth);
    *r.uri_mut() = path.parse().unwrap();
    r
}

#[test]
fn rfc7009_2_revocation() {
    let s = server();
    let t = password_tokens(&s);
    let (at, rt) = (t["access_token"].as_str().unwrap(), t["refresh_token"].as_str().unwrap());
    // Unknown token: 200.
    assert_eq!(
        block_on(s.revoke(form_post("/revoke", "token=unknown", web_auth().as_deref()), now())).status(),
        StatusCode::OK
    );
    // Revoking the refresh token revokes its access tokens (§2.1).
    let resp = block_on(s.revoke(
        form_post("/revoke", &format!("token={rt}&token_type_hint=refresh_token"), web_auth().as_deref()),
        now(),
    ));
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(bearer(&s, &bearer_headers(at), &crate::Scope::empty()).is_err());
    // Client authentication is required.
    assert_eq!(block_on(s.revoke(form_post("/revoke", "token=x", None), now())).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        json(&block_on(s.revoke(form_post("/revoke", "", web_auth().as_deref()), now())))["error"],
        "invalid_request"
    );
}

#[test]
fn rfc7009_2_1_revoking_another_clients_token_is_refused_and_leaves_it_alone() {
    let s = server();
    let t = password_tokens(&s);
    let (at, rt) = (t["access_token"].as_str().unwrap(), t["refresh_token"].as_str().unwrap());
    for (token, hint) in [(at, "access_token"), (rt, "refresh_token"), (rt, "access_token"), (at, "refresh_token")] {
        let body = format!("token={token}&token_type_hint={hint}");
        let resp = block_on(s.revoke(form_post("/revoke", &body, Some(&basic("other", "x"))), now()));
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{hint}");
        assert_eq!(json(&resp)["error"], "unauthorized_client");
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    assert!(bearer(&s, &bearer_headers(at), &crate::Scope::empty()).is_ok());
    assert_eq!(refresh(&s, rt, "").status(), StatusCode::OK, "the refresh token is untouched too");
}

#[test]
fn rfc7662_2_introspection() {
    let s = server();
    let t = password_tokens(&s);
    let at = t["access_token"].as_str().unwrap();
    let active =
        json(&block_on(s.introspect(form_post("/introspect", &format!("token={at}"), web_auth().as_deref()), now())));
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], "web");
    assert_eq!(active["username"], "alice");
    assert_eq!(active["scope"], "read write");
    assert_eq!(active["exp"], 1_700_003_600u64);
    let foreign = json(&block_on(
        s.introspect(form_post("/introspect", &format!("token={at}"), Some(&basic("other", "x"))), now()),
    ));
    assert_eq!(foreign, serde_json::json!({"active": false}), "foreign tokens are inactive");
    let expired = json(&block_on(s.introspect(
        form_post("/introspect", &format!("token={at}"), web_auth().as_deref()),
        now() + Duration::from_secs(7200),
    )));
    assert_eq!(expired["active"], false);
    let unknown = json(&block_on(s.introspect(form_post("/introspect", "token=zzz", web_auth().as_deref()), now())));
    assert_eq!(unknown["active"], false);
    assert_eq!(
        block_on(s.introspect(form_post("/introspect", "token=zzz", None), now())).status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn rfc8414_2_metadata_lists_every_endpoint() {
    let m = server().metadata();
    assert_eq!(m.issuer, ISSUER);
    assert_eq!(m.token_endpoint.as_deref(), Some("https://as.example/token"));
    assert_eq!(m.revocation_endpoint.as_deref(), Some("https://as.example/revoke"));
    assert_eq!(m.introspection_endpoint.as_deref(), Some("https://as.example/introspect"));
    assert_eq!(m.authorization_endpoint.as_deref(), Some("https://as.example/authorize"));
    assert_eq!(m.code_challenge_methods_supported, Some(vec!["S256".to_owned()]));
    assert_eq!(m.authorization_response_iss_parameter_supported, Some(true));
    // Exactly what this server offers: the test server adds implicit, and password comes with its verifier.
    let grants: Vec<&str> = m.grant_types_supported.iter().flatten().map(String::as_str).collect();
    assert_eq!(grants, ["authorization_code", "refresh_token", "client_credentials", "implicit", "password"]);
    assert_eq!(m.response_types_supported, ["code", "token"]);
}

// ---- storage ----

#[test]
fn memory_store_passes_the_store_suite() {
    block_on(store::suite::run_shared("memory", &[&MemoryStore::new()], now())).assert_passed();
}

/// A store with one deliberate bug, for showing that the suite (or the endpoint) catches it.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// Checks a code, awaits, then writes: the read-then-write bug the suite's races exist to catch.
    ReadThenWrite,
    /// Reports a replayed code or a reused refresh token without revoking the family.
    DetectWithoutRevoking,
    /// `revoke_grant` never completes: a request future dropped while it waits there (the client hung up).
    StalledRevoke,
    /// Checks that a device code is approved, awaits, then redeems it and reports success, without redeeming in
    /// one step: two concurrent polls both win.
    DeviceReadThenWrite,
}

struct Faulty(MemoryStore, Fault);

/// Returns `Pending` once, so other futures of the same task run in between.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

impl ClientStore for Faulty {
    async fn client(&self, id: &str) -> Result<Option<std::sync::Arc<RegisteredClient>>, StoreError> {
        self.0.client(id).await
    }
}

impl ThrottleStore for Faulty {
    async fn record_attempt(
        &self,
        key: &SecretHash,
        now: SystemTime,
        policy: &ThrottlePolicy,
    ) -> Result<crate::server::store::Attempts, StoreError> {
        self.0.record_attempt(key, now, policy).await
    }
    async fn clear_attempts(&self, key: &SecretHash) -> Result<(), StoreError> {
        self.0.clear_attempts(key).await
    }
}

impl crate::server::store::KeyStore for Faulty {
    async fn signing_keys(&self) -> Result<Vec<crate::server::store::KeyRecord>, StoreError> {
        self.0.signing_keys().await
    }
    async fn create_signing_key(
        &self,
        key: crate::server::store::KeyRecord,
    ) -> Result<crate::server::store::KeyRecord, StoreError> {
        self.0.create_signing_key(key).await
    }
    async fn rotate_signing_key(
        &self,
        key: crate::server::store::KeyRecord,
        retired_until: SystemTime,
    ) -> Result<(), StoreError> {
        self.0.rotate_signing_key(key, retired_until).await
    }
}

impl crate::server::store::Maintenance for Faulty {
    async fn purge(&self, now: SystemTime) -> Result<u64, StoreError> {
        self.0.purge(now).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }
}

impl GrantStore for Faulty {
    async fn store_code(&self, code: SecretHash, record: CodeRecord) -> Result<(), StoreError> {
        self.0.store_code(code, record).await
    }
    async fn redeem_code(
        &self,
        code: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<CodeUse, StoreError> {
        let seen = self.0.code(code).await?;
        match (self.1, seen) {
            (Fault::ReadThenWrite, seen) => {
                yield_once().await;
                let outcome = self.0.redeem_code(code, access, refresh).await?;
                Ok(match seen {
                    Some((record, false)) => CodeUse::Fresh(record),
                    _ => outcome,
                })
            }
            (Fault::DetectWithoutRevoking, Some((record, true))) => Ok(CodeUse::Replayed(record.grant.id)),
            _ => self.0.redeem_code(code, access, refresh).await,
        }
    }
    async fn code(&self, code: &SecretHash) -> Result<Option<(CodeRecord, bool)>, StoreError> {
        self.0.code(code).await
    }
    async fn store_tokens(
        &self,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<bool, StoreError> {
        self.0.store_tokens(access, refresh).await
    }
    async fn refresh_token(&self, token: &SecretHash) -> Result<Option<(TokenRecord, bool)>, StoreError> {
        self.0.refresh_token(token).await
    }
    async fn rotate_refresh(
        &self,
        old: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: (SecretHash, TokenRecord),
    ) -> Result<Rotation, StoreError> {
        if self.1 == Fault::DetectWithoutRevoking
            && let Some((record, true)) = self.0.refresh_token(old).await?
        {
            return Ok(Rotation::Reused(record.grant.id));
        }
        self.0.rotate_refresh(old, access, refresh).await
    }
    async fn access_token(&self, token: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        self.0.access_token(token).await
    }
    async fn revoke_access_token(&self, token: &SecretHash) -> Result<(), StoreError> {
        self.0.revoke_access_token(token).await
    }
    async fn deny_token(&self, jti: &SecretHash, expires_at: SystemTime) -> Result<(), StoreError> {
        self.0.deny_token(jti, expires_at).await
    }
    async fn token_denied(&self, jti: &SecretHash) -> Result<bool, StoreError> {
        self.0.token_denied(jti).await
    }
    async fn revoke_grant(&self, grant: &GrantId) -> Result<(), StoreError> {
        if self.1 == Fault::StalledRevoke {
            return std::future::pending().await;
        }
        self.0.revoke_grant(grant).await
    }
}

impl crate::server::store::ReplayStore for Faulty {
    async fn first_use(&self, id: &SecretHash, until: SystemTime, now: SystemTime) -> Result<bool, StoreError> {
        self.0.first_use(id, until, now).await
    }
}

impl crate::server::store::PushedRequestStore for Faulty {
    async fn store_pushed_request(
        &self,
        request_uri: SecretHash,
        record: crate::server::store::PushedRequestRecord,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        self.0.store_pushed_request(request_uri, record, now).await
    }
    async fn take_pushed_request(
        &self,
        request_uri: &SecretHash,
        client_id: &str,
        now: SystemTime,
    ) -> Result<Option<crate::server::store::PushedRequestRecord>, StoreError> {
        self.0.take_pushed_request(request_uri, client_id, now).await
    }
}

impl crate::server::store::DeviceStore for Faulty {
    async fn store_device_code(
        &self,
        device_code: SecretHash,
        user_code: SecretHash,
        record: crate::server::store::DeviceCodeRecord,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        self.0.store_device_code(device_code, user_code, record, now).await
    }
    async fn device_code_by_user_code(
        &self,
        user_code: &SecretHash,
    ) -> Result<Option<crate::server::store::DeviceCodeRecord>, StoreError> {
        self.0.device_code_by_user_code(user_code).await
    }
    async fn decide_device_code(
        &self,
        user_code: &SecretHash,
        decision: crate::server::store::DeviceDecision,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        self.0.decide_device_code(user_code, decision, now).await
    }
    async fn poll_device_code(
        &self,
        device_code: &SecretHash,
        client_id: &str,
        now: SystemTime,
    ) -> Result<Option<(crate::server::store::DeviceCodeRecord, bool)>, StoreError> {
        self.0.poll_device_code(device_code, client_id, now).await
    }
    async fn redeem_device_code(
        &self,
        device_code: &SecretHash,
        access: (SecretHash, TokenRecord),
        refresh: Option<(SecretHash, TokenRecord)>,
    ) -> Result<bool, StoreError> {
        if self.1 == Fault::DeviceReadThenWrite {
            // "Approved?" now, the write after an await: every poll that looked before the first write wins.
            yield_once().await;
            let _ = self.0.redeem_device_code(device_code, access.clone(), None).await?;
            return self.0.store_tokens(access, refresh).await;
        }
        self.0.redeem_device_code(device_code, access, refresh).await
    }
}

/// The message of the suite's panic on `store`.
fn suite_failure(store: Faulty) -> String {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(store::suite::run(&store, now()))));
    let message = caught.expect_err("the suite must reject a broken store");
    message
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| message.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn the_store_suite_catches_a_read_then_write_store() {
    let message = suite_failure(Faulty(MemoryStore::new(), Fault::ReadThenWrite));
    assert!(message.contains("exactly one of 100 concurrent redemptions"), "failed for another reason: {message}");
}

#[test]
fn the_store_suite_catches_a_device_code_redeemed_by_every_concurrent_poll() {
    let message = suite_failure(Faulty(MemoryStore::new(), Fault::DeviceReadThenWrite));
    assert!(message.contains("device codes: "), "failed for another reason: {message}");
}

#[test]
fn the_store_suite_catches_a_store_that_detects_a_replay_without_revoking() {
    let message = suite_failure(Faulty(MemoryStore::new(), Fault::DetectWithoutRevoking));
    assert!(message.contains("a replay revokes"), "failed for another reason: {message}");
}

/// Polls `f` a bounded number of times, then drops it: a request whose client hung up, or that timed out.
fn poll_then_drop<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    (0..1000).find_map(|_| match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    })
}

fn stalling_server() -> AuthorizationServer<Faulty> {
    let s = server();
    let store = MemoryStore::new();
    for id in ["web", "native", "other"] {
        store.add_client(RegisteredClient::clone(&block_on(s.store().client(id)).unwrap().unwrap()));
    }
    AuthorizationServer::new(
        s.config().clone(),
        Faulty(store, Fault::StalledRevoke),
        Mutex::new(ChaCha20Rng::seed_from_u64(11)),
    )
    .with_password_verifier(|u, p| (u == "alice" && p == "wonderland").then(|| "alice".to_owned()))
}

#[test]
fn rfc6749_4_1_2_a_replay_is_revoked_even_if_the_request_is_dropped_after_detection() {
    let s = stalling_server();
    let q = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz";
    let req = block_on(s.authorization_request(q, now())).unwrap();
    let (_, p) = location_params(&block_on(s.approve(&req, "alice", None, now())).unwrap());
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
        p.get("code").unwrap()
    );
    let first = json(&block_on(s.token(post(&body, web_auth().as_deref()), now())));
    // The replay's request is abandoned wherever it waits; the revocation must already have happened.
    let _ = poll_then_drop(s.token(post(&body, web_auth().as_deref()), now()));
    let h = bearer_headers(first["access_token"].as_str().unwrap());
    let checked = bearer(&s, &h, &crate::Scope::empty());
    assert!(checked.is_err(), "the replayed code's access token is still live");
}

#[test]
fn rfc9700_4_14_2_a_reuse_is_revoked_even_if_the_request_is_dropped_after_detection() {
    let s = stalling_server();
    let t = json(&block_on(s.token(
        post("grant_type=password&username=alice&password=wonderland&scope=read", web_auth().as_deref()),
        now(),
    )));
    let body = format!("grant_type=refresh_token&refresh_token={}", t["refresh_token"].as_str().unwrap());
    let rotated = json(&block_on(s.token(post(&body, web_auth().as_deref()), now())));
    let _ = poll_then_drop(s.token(post(&body, web_auth().as_deref()), now()));
    let h = bearer_headers(rotated["access_token"].as_str().unwrap());
    assert!(bearer(&s, &h, &crate::Scope::empty()).is_err(), "the family is still live");
}

#[test]
fn secrets_codes_and_tokens_are_stored_as_hashes() {
    // Stores are keyed by SHA-256 digests (design.md §3); recompute one independently of SecretHash.
    use sha2::Digest;
    let s = server();
    let t = password_tokens(&s);
    let at = t["access_token"].as_str().unwrap();
    let digest: [u8; 32] = sha2::Sha256::digest(at.as_bytes()).into();
    assert_eq!(SecretHash::of(at).as_bytes(), &digest);
    assert!(block_on(s.store().access_token(&SecretHash::from_bytes(digest))).unwrap().is_some());
    // The registry keeps the client secret's hash, never the secret.
    let client = block_on(s.store().client("web")).unwrap().unwrap();
    let registered = serde_json::to_string(&*client).unwrap();
    assert!(!registered.contains("s3cret"), "{registered}");
    assert!(client.secret_hash.is_some_and(|h| h.matches("s3cret pa+ss") && !h.matches("s3cret")));
}

// ---- races ----

#[test]
fn hundred_concurrent_redemptions_of_one_code_give_exactly_one_token() {
    let s = server();
    let code = web_code(&s, "");
    let statuses: Vec<StatusCode> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100).map(|_| scope.spawn(|| redeem(&s, &code, "").status())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
}

#[test]
fn hundred_concurrent_uses_of_one_refresh_token_give_exactly_one_success() {
    let s = server();
    let t = password_tokens(&s);
    let rt = t["refresh_token"].as_str().unwrap();
    let statuses: Vec<StatusCode> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100).map(|_| scope.spawn(|| refresh(&s, rt, "").status())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
}

#[test]
fn rfc6749_3_3_scope_policy_is_configurable() {
    // A policy that adds a default scope and refuses "write" for everyone.
    let s = server().with_scope_policy(|client, requested| {
        let mut scope: Vec<String> = requested.unwrap_or(&client.scopes).iter().map(str::to_owned).collect();
        if scope.iter().any(|t| t == "write") {
            return None;
        }
        scope.push("profile".into());
        Some(crate::Scope::from(scope))
    });
    let ok = json(&block_on(s.token(post("grant_type=client_credentials&scope=read", web_auth().as_deref()), now())));
    assert_eq!(ok["scope"], "read profile");
    let refused =
        json(&block_on(s.token(post("grant_type=client_credentials&scope=write", web_auth().as_deref()), now())));
    assert_eq!(refused["error"], "invalid_scope");
}

#[test]
fn rfc6749_10_15_approve_rechecks_a_tampered_request() {
    let s = server();
    let q = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz&scope=read";
    let req = block_on(s.authorization_request(q, now())).unwrap();
    let mut evil = req.clone();
    evil.redirect_uri = "https://evil.example/steal".into();
    assert!(matches!(block_on(s.approve(&evil, "alice", None, now())), Err(AuthorizeError::Page(_))));
    assert_eq!(block_on(s.deny(&evil)).status(), StatusCode::BAD_REQUEST, "no redirect to the tampered URI");
    let mut wider = req.clone();
    wider.scope = crate::Scope::parse("read admin");
    assert!(block_on(s.approve(&wider, "alice", None, now())).is_err());
    let q = format!(
        "response_type=code&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&code_challenge={CHALLENGE}&code_challenge_method=S256"
    );
    let mut downgraded = block_on(s.authorization_request(&q, now())).unwrap();
    downgraded.code_challenge = None;
    assert!(block_on(s.approve(&downgraded, "alice", None, now())).is_err(), "PKCE cannot be stripped");
}

#[test]
fn rfc9700_4_2_4_intercepted_code_cannot_be_burned_by_another_party() {
    let s = server();
    let pkce = format!("&code_challenge={CHALLENGE}&code_challenge_method=S256");
    let code = web_code(&s, &pkce);
    // An attacker with the code but without the verifier (or with another client's credentials) fails ...
    assert_eq!(
        json(&redeem(&s, &code, "&code_verifier=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))["error"],
        "invalid_grant"
    );
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier={VERIFIER}"
    );
    let mut other = RegisteredClient::confidential("other3", "z").grant_types([GrantType::AuthorizationCode]);
    other.redirect_uris = vec!["https://app.example/cb".into()];
    s.store().add_client(other);
    assert_eq!(json(&block_on(s.token(post(&body, Some(&basic("other3", "z"))), now())))["error"], "invalid_grant");
    // ... and the real client still redeems it.
    assert_eq!(redeem(&s, &code, &format!("&code_verifier={VERIFIER}")).status(), StatusCode::OK);
}

#[test]
fn rfc7662_2_1_public_clients_cannot_introspect() {
    let s = server();
    let resp = block_on(s.introspect(form_post("/introspect", "token=x&client_id=native", None), now()));
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key("www-authenticate"));
    // The answer says what it is: the client is public, not failing at authentication it never tried.
    let description = json(&resp)["error_description"].as_str().unwrap_or_default().to_owned();
    assert!(description.contains("public client cannot introspect"), "{description}");
}

#[test]
fn rfc6749_3_3_empty_scope_is_omitted_not_granted_empty() {
    let s = server();
    let body = json(&block_on(s.token(post("grant_type=client_credentials&scope=%20", web_auth().as_deref()), now())));
    assert_eq!(body["scope"], "read write profile", "an empty scope counts as omitted");
}

// ---- parsers never panic (design.md §3: nothing panics on any input) ----

mod never_panic {
    use proptest::prelude::*;

    use super::*;

    /// Bytes rich in the characters the parsers split and decode on.
    fn hostile(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                1 => prop::sample::select(b"&=%+:; ,\\\"'#?/\r\n\t".to_vec()),
                1 => prop::sample::select(b"client_id=web&grant_type=redirect_uri=code=".to_vec()),
            ],
            0..max,
        )
    }

    proptest! {
        #[test]
        fn authorization_request_on_any_query(query in hostile(300)) {
            let s = server();
            let _ = block_on(s.authorization_request(&String::from_utf8_lossy(&query), now()));
        }

        #[test]
        fn token_revoke_introspect_on_any_body_and_authorization(
            body in hostile(300),
            authorization in proptest::option::of(hostile(80)),
            content_type in prop::sample::select(vec!["application/x-www-form-urlencoded", "text/plain", ""]),
        ) {
            let s = server();
            for path in ["/token", "/revoke", "/introspect"] {
                let mut request = http::Request::post(path).body(body.clone()).unwrap();
                if let Ok(v) = http::HeaderValue::from_str(content_type) {
                    request.headers_mut().insert("content-type", v);
                }
                if let Some(v) = authorization.as_ref().and_then(|a| http::HeaderValue::from_bytes(a).ok()) {
                    request.headers_mut().insert("authorization", v);
                }
                let response = match path {
                    "/token" => block_on(s.token(request, now())),
                    "/revoke" => block_on(s.revoke(request, now())),
                    _ => block_on(s.introspect(request, now())),
                };
                // Every answer is an RFC answer: a success, or an error with a status in the 4xx range ...
                prop_assert!(response.status().is_success() || response.status().is_client_error());
                // ... whose description stays within RFC 6749 §5.2's characters, whatever was sent.
                if let Some(d) = json(&response)["error_description"].as_str() {
                    prop_assert!(d.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)), "{}", d);
                }
            }
        }

        #[test]
        fn bearer_check_on_any_authorization_values(values in proptest::collection::vec(hostile(80), 0..3)) {
            let s = server();
            let result = block_on(s.resource_server().check(
                &s,
                values.iter().map(Vec::as_slice),
                &crate::Scope::parse("read"),
                now(),
            ));
            let e = result.expect_err("no random header is a live token");
            prop_assert!(e.status().is_client_error());
            prop_assert!(e.challenge().is_some(), "RFC 6750 §3: every refusal carries a challenge");
        }
    }
}

#[test]
fn grant_ids_are_made_in_time_order_and_distinct() {
    let s = server();
    let t = now();
    let (a, b) = (s.new_grant_id(t), s.new_grant_id(t));
    assert_ne!(a, b, "80 random bits apart at the same millisecond");
    assert_eq!(a.as_bytes()[..6], b.as_bytes()[..6]);
    let later = s.new_grant_id(t + Duration::from_millis(1));
    assert!(later > a && later > b, "a later id sorts after");
    let millis = t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    assert_eq!(a.as_bytes()[..6], millis.to_be_bytes()[2..], "the first 6 bytes are the milliseconds");
}

// ---- OpenID Connect ----

#[cfg(feature = "jose")]
mod jwt;

mod device;
#[cfg(feature = "jose")]
mod dpop;
mod par;

#[cfg(feature = "jose")]
mod oidc {
    use super::*;
    use crate::jose::{Algorithm, JwkSet, SigningKey, Validation, half_hash};

    const RSA: &str = include_str!("../jose/vectors/rfc7515_a2_rsa.json");

    /// A provider with an RS256 key (the RFC 7515 key: no RSA key is generated here) and an Ed25519 one, and two
    /// relying parties: `rp` (RS256, the default) and `rp-ed` (EdDSA).
    fn provider() -> AuthorizationServer<MemoryStore> {
        let store = MemoryStore::new();
        for (id, alg) in [("rp", None), ("rp-ed", Some("EdDSA")), ("rp-es", Some("ES256"))] {
            let mut client = RegisteredClient::confidential(id, "s3cret")
                .redirect_uris(["https://rp.example/cb"])
                .scopes("openid profile email read");
            client.id_token_signed_response_alg = alg.map(str::to_owned);
            store.add_client(client);
        }
        let s = AuthorizationServer::new(ServerConfig::new(ISSUER), store, Mutex::new(ChaCha20Rng::seed_from_u64(3)));
        block_on(s.ensure_signing_key(Algorithm::Rs256, now(), || SigningKey::from_private_jwk(RSA))).unwrap();
        let ed = || SigningKey::ed25519_from_seed("ed-1", &[1; 32]);
        block_on(s.ensure_signing_key(Algorithm::EdDsa, now(), ed)).unwrap();
        s
    }

    fn code(s: &AuthorizationServer<MemoryStore>, client: &str, extra: &str, at: SystemTime) -> String {
        let q = format!("response_type=code&client_id={client}&redirect_uri=https%3A%2F%2Frp.example%2Fcb{extra}");
        let req = block_on(s.authorization_request(&q, now())).unwrap();
        let resp = block_on(s.approve(&req, "alice", None, at)).unwrap();
        location_params(&resp).1.get("code").unwrap().to_owned()
    }

    fn token(
        s: &AuthorizationServer<MemoryStore>,
        client: &str,
        body: &str,
        at: SystemTime,
    ) -> http::Response<Vec<u8>> {
        block_on(s.token(post(body, Some(&basic(client, "s3cret"))), at))
    }

    fn redeem(s: &AuthorizationServer<MemoryStore>, client: &str, code: &str, at: SystemTime) -> Value {
        let body = format!("grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Frp.example%2Fcb");
        let r = token(s, client, &body, at);
        assert_eq!(r.status(), StatusCode::OK, "{}", String::from_utf8_lossy(r.body()));
        json(&r)
    }

    fn jwks(s: &AuthorizationServer<MemoryStore>) -> JwkSet {
        serde_json::from_slice(block_on(s.jwks_response(now())).body()).unwrap()
    }

    fn checked(s: &AuthorizationServer<MemoryStore>, client: &str, id_token: &str, at: SystemTime) -> Value {
        Validation::new(ISSUER, client, &Algorithm::ALL, at).decode(id_token, &jwks(s)).unwrap()
    }

    #[test]
    fn oidc_core_3_1_3_3_the_code_grant_with_openid_returns_a_signed_id_token() {
        let s = provider();
        let login = now();
        let c = code(&s, "rp", "&scope=openid%20profile&nonce=n-0S6_WzA2Mj", login);
        let later = login + Duration::from_secs(5);
        let r = redeem(&s, "rp", &c, later);
        let id_token = r["id_token"].as_str().expect("an id_token");
        let header: Value =
            serde_json::from_slice(&crate::jose::unb64(id_token.split('.').next().unwrap(), "h").unwrap()).unwrap();
        assert_eq!(
            (header["alg"].as_str(), header["kid"].is_string()),
            (Some("RS256"), true),
            "RS256 by default, with kid"
        );
        let claims = checked(&s, "rp", id_token, later);
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["sub"], "alice");
        assert_eq!((claims["aud"].as_str(), claims["azp"].as_str()), (Some("rp"), Some("rp")));
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(claims["auth_time"], secs(login), "the login of the authorization request");
        assert_eq!(claims["iat"], secs(later));
        assert_eq!(claims["exp"], secs(later) + 600, "ten minutes by default");
        // §3.1.3.6: at_hash binds the id_token to this access token.
        assert_eq!(claims["at_hash"], half_hash(Algorithm::Rs256, r["access_token"].as_str().unwrap()));
        // Without openid, no id_token.
        let plain = redeem(&s, "rp", &code(&s, "rp", "&scope=read", login), later);
        assert!(plain.get("id_token").is_none(), "{plain}");
    }

    #[test]
    fn oidc_core_3_1_3_3_each_client_gets_the_algorithm_it_registered() {
        let s = provider();
        let r = redeem(&s, "rp-ed", &code(&s, "rp-ed", "&scope=openid", now()), now());
        let id_token = r["id_token"].as_str().unwrap();
        let verified = crate::jose::verify(id_token, &jwks(&s), &[Algorithm::EdDsa]).expect("EdDSA");
        assert_eq!(verified.header.kid.as_deref(), Some("ed-1"));
        let claims = checked(&s, "rp-ed", id_token, now());
        assert_eq!(claims["at_hash"], half_hash(Algorithm::EdDsa, r["access_token"].as_str().unwrap()));
        assert!(claims.get("nonce").is_none(), "no nonce asked, none given");
    }

    #[test]
    fn oidc_core_3_1_3_3_without_a_key_for_the_algorithm_the_code_is_not_spent() {
        let s = provider();
        let c = code(&s, "rp-es", "&scope=openid", now());
        let body = format!("grant_type=authorization_code&code={c}&redirect_uri=https%3A%2F%2Frp.example%2Fcb");
        let r = token(&s, "rp-es", &body, now());
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json(&r)["error"], "server_error");
        // The key arrives (an operator's fix); the same code still works, once.
        let ec = include_str!("../jose/vectors/rfc7515_a3_ec.json");
        block_on(s.ensure_signing_key(Algorithm::Es256, now(), || SigningKey::from_private_jwk(ec))).unwrap();
        let again = token(&s, "rp-es", &body, now());
        assert_eq!(again.status(), StatusCode::OK, "{}", String::from_utf8_lossy(again.body()));
        assert!(json(&again)["id_token"].is_string());
    }

    #[test]
    fn oidc_core_12_2_a_refresh_returns_an_id_token_with_the_same_sub_and_auth_time_and_no_nonce() {
        let s = provider();
        let login = now();
        let first = redeem(&s, "rp", &code(&s, "rp", "&scope=openid%20read&nonce=abc", login), login);
        let later = login + Duration::from_secs(120);
        let body = format!("grant_type=refresh_token&refresh_token={}", first["refresh_token"].as_str().unwrap());
        let r = token(&s, "rp", &body, later);
        assert_eq!(r.status(), StatusCode::OK);
        let r = json(&r);
        let claims = checked(&s, "rp", r["id_token"].as_str().expect("a new id_token"), later);
        let original = checked(&s, "rp", first["id_token"].as_str().unwrap(), login);
        assert_eq!(claims["sub"], original["sub"]);
        assert_eq!(claims["auth_time"], original["auth_time"], "the original login");
        assert!(claims.get("nonce").is_none(), "no nonce on a refresh");
        assert_ne!(claims["iat"], original["iat"]);
        assert_eq!(claims["at_hash"], half_hash(Algorithm::Rs256, r["access_token"].as_str().unwrap()));
        // A refresh narrowed to a scope without openid gets no id_token.
        let body =
            format!("grant_type=refresh_token&refresh_token={}&scope=read", r["refresh_token"].as_str().unwrap());
        let narrowed = json(&token(&s, "rp", &body, later));
        assert!(narrowed.get("id_token").is_none() && narrowed["access_token"].is_string(), "{narrowed}");
    }

    #[test]
    fn oidc_core_3_1_2_6_prompt_none_redirects_with_login_required_state_and_iss() {
        let s = provider();
        let q = "response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid&prompt=none&state=s1";
        let (location, params) = redirect_error(block_on(s.authorization_request(q, now())).unwrap_err());
        assert!(location.starts_with("https://rp.example/cb?"), "{location}");
        assert_eq!(params.get("error"), Some("login_required"));
        assert_eq!((params.get("state"), params.get("iss")), (Some("s1"), Some(ISSUER)));
    }

    fn with_userinfo(s: AuthorizationServer<MemoryStore>) -> AuthorizationServer<MemoryStore> {
        s.with_userinfo(&["name", "email"], |grant| {
            let mut claims = serde_json::Map::new();
            claims.insert("name".into(), "Alice".into());
            claims.insert("sub".into(), "mallory".into());
            if grant.scope.contains("email") {
                claims.insert("email".into(), "alice@example.com".into());
            }
            claims
        })
    }

    fn userinfo(
        s: &AuthorizationServer<MemoryStore>,
        authorization: Option<&str>,
        method: &str,
    ) -> http::Response<Vec<u8>> {
        let mut request = http::Request::builder().method(method).uri("/userinfo");
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        block_on(s.serve(Endpoint::UserInfo, request.body(Vec::new()).unwrap(), now()))
    }

    #[test]
    fn oidc_core_5_3_2_userinfo_answers_the_id_tokens_sub_and_the_apps_claims() {
        let s = with_userinfo(provider());
        let mounted: Vec<(Endpoint, http::Method)> =
            s.endpoints().filter(|(e, ..)| *e == Endpoint::UserInfo).map(|(e, m, _)| (e, m)).collect();
        assert_eq!(mounted, [(Endpoint::UserInfo, http::Method::GET), (Endpoint::UserInfo, http::Method::POST)]);
        let r = redeem(&s, "rp", &code(&s, "rp", "&scope=openid%20email", now()), now());
        let bearer = format!("Bearer {}", r["access_token"].as_str().unwrap());
        for method in ["GET", "POST"] {
            let answer = userinfo(&s, Some(&bearer), method);
            assert_eq!(answer.status(), StatusCode::OK, "{method}");
            assert_eq!(answer.headers()["cache-control"], "no-store");
            let body = json(&answer);
            let id_token = checked(&s, "rp", r["id_token"].as_str().unwrap(), now());
            assert_eq!(body["sub"], id_token["sub"], "the same sub, whatever the app's claims say");
            assert_eq!((body["name"].as_str(), body["email"].as_str()), (Some("Alice"), Some("alice@example.com")));
        }
        let without_email = redeem(&s, "rp", &code(&s, "rp", "&scope=openid", now()), now());
        let body =
            json(&userinfo(&s, Some(&format!("Bearer {}", without_email["access_token"].as_str().unwrap())), "GET"));
        assert!(body.get("email").is_none(), "the app's claims follow the scope: {body}");
    }

    #[test]
    fn rfc6750_3_1_userinfo_refuses_what_a_resource_refuses() {
        let s = with_userinfo(provider());
        let none = userinfo(&s, None, "GET");
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
        assert!(none.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        let bad = userinfo(&s, Some("Bearer not-a-token"), "GET");
        assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
        assert!(bad.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
        let r = redeem(&s, "rp", &code(&s, "rp", "&scope=openid", now()), now());
        let token = r["access_token"].as_str().unwrap();
        let revoke = format!("token={token}");
        block_on(s.revoke(post(&revoke, Some(&basic("rp", "s3cret"))), now()));
        assert_eq!(userinfo(&s, Some(&format!("Bearer {token}")), "GET").status(), StatusCode::UNAUTHORIZED, "revoked");
        // Without the app's claims, there is no UserInfo endpoint.
        assert!(provider().endpoints().all(|(e, ..)| e != Endpoint::UserInfo));
        assert_eq!(userinfo(&provider(), Some("Bearer x"), "GET").status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn oidc_discovery_3_the_provider_metadata_names_what_is_offered() {
        let s = with_userinfo(provider());
        let at = s.path(Endpoint::OpenIdConfiguration);
        assert_eq!(at, "/.well-known/openid-configuration");
        let r = block_on(s.serve(Endpoint::OpenIdConfiguration, http::Request::new(Vec::new()), now()));
        assert_eq!(r.status(), StatusCode::OK);
        let m = json(&r);
        assert_eq!(m["issuer"], ISSUER);
        assert_eq!(m["jwks_uri"], format!("{ISSUER}/jwks"));
        assert_eq!(m["userinfo_endpoint"], format!("{ISSUER}/userinfo"));
        assert_eq!(m["subject_types_supported"], serde_json::json!(["public"]));
        assert_eq!(
            m["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256", "EdDSA"]),
            "the keys it has"
        );
        assert!(m["scopes_supported"].as_array().unwrap().iter().any(|s| s == "openid"));
        let claims = m["claims_supported"].as_array().unwrap();
        for claim in ["sub", "auth_time", "nonce", "name", "email"] {
            assert!(claims.iter().any(|c| c == claim), "{claim}");
        }
        // Everything the RFC 8414 document says is said here too.
        let rfc8414 = serde_json::to_value(s.metadata()).unwrap();
        for (name, value) in rfc8414.as_object().unwrap() {
            if name != "scopes_supported" {
                assert_eq!(&m[name], value, "{name}");
            }
        }
        // The issuer's path comes first (Discovery §4), unlike RFC 8414's.
        let pathed = AuthorizationServer::new(
            ServerConfig::new("https://as.example/tenant"),
            MemoryStore::new(),
            Mutex::new(ChaCha20Rng::seed_from_u64(1)),
        );
        assert_eq!(pathed.path(Endpoint::OpenIdConfiguration), "/tenant/.well-known/openid-configuration");
    }

    #[test]
    fn oidc_core_3_1_2_1_max_age_bounds_the_age_of_the_login_and_auth_time_is_the_login() {
        let s = provider();
        let q = "response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid&max_age=60&state=m";
        let request = block_on(s.authorization_request(q, now())).unwrap();
        let logged_in = now() - Duration::from_secs(61);
        let (_, params) =
            redirect_error(block_on(s.approve_with_login(&request, "alice", None, logged_in, now())).unwrap_err());
        assert_eq!(params.get("error"), Some("login_required"), "a login older than max_age");
        let logged_in = now() - Duration::from_secs(30);
        let r = block_on(s.approve_with_login(&request, "alice", None, logged_in, now())).unwrap();
        let c = location_params(&r).1.get("code").unwrap().to_owned();
        let claims = checked(&s, "rp", redeem(&s, "rp", &c, now())["id_token"].as_str().unwrap(), now());
        assert_eq!(
            claims["auth_time"],
            logged_in.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            "auth_time is the login"
        );
    }
}
