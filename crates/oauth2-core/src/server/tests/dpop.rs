//! DPoP (RFC 9449) at the authorization server and its resources.

use super::*;
use crate::dpop::DpopKey;
use crate::error::ErrorCode;
use crate::resource::Presented;

const TOKEN_URL: &str = "https://as.example/token";

fn key(seed: u8) -> DpopKey {
    DpopKey::ed25519_from_seed(&[seed; 32]).unwrap()
}

/// A fresh proof of `key` for `method` `url` at `t` (a new jti each call: the generator is seeded by a counter).
fn proof(key: &DpopKey, method: &str, url: &str, ath: Option<&str>, nonce: Option<&str>, t: SystemTime) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: AtomicU64 = AtomicU64::new(1);
    let mut rng = ChaCha20Rng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed));
    key.proof(method, url, ath, nonce, t, &mut rng).unwrap()
}

fn with_proof(mut r: http::Request<Vec<u8>>, proof: &str) -> http::Request<Vec<u8>> {
    r.headers_mut().append("dpop", proof.parse().unwrap());
    r
}

fn token_with(
    s: &AuthorizationServer<MemoryStore>,
    body: &str,
    auth: Option<&str>,
    proof: Option<&str>,
) -> http::Response<Vec<u8>> {
    let r = post(body, auth);
    let r = match proof {
        Some(p) => with_proof(r, p),
        None => r,
    };
    block_on(s.token(r, now()))
}

const PASSWORD: &str = "grant_type=password&username=alice&password=wonderland&scope=read";

fn dpop_error(r: &http::Response<Vec<u8>>) -> String {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{}", json(r));
    assert!(json(r).get("access_token").is_none());
    json(r)["error"].as_str().unwrap_or_default().to_owned()
}

fn introspect(s: &AuthorizationServer<MemoryStore>, token: &str) -> Value {
    json(&block_on(s.introspect(form_post("/introspect", &format!("token={token}"), web_auth().as_deref()), now())))
}

#[test]
fn rfc9449_5_a_token_request_with_a_proof_gets_a_dpop_token_bound_to_its_key() {
    let s = server();
    let k = key(1);
    let r = token_with(&s, PASSWORD, web_auth().as_deref(), Some(&proof(&k, "POST", TOKEN_URL, None, None, now())));
    assert_eq!(r.status(), 200, "{}", json(&r));
    assert_eq!(json(&r)["token_type"], "DPoP");
    let at = json(&r)["access_token"].as_str().unwrap().to_owned();
    // §6.2: introspection says so, and names the key.
    let info = introspect(&s, &at);
    assert_eq!(info["token_type"], "DPoP");
    assert_eq!(info["cnf"]["jkt"], k.thumbprint());
    // Without a proof, the same request is a Bearer one.
    let bearer = token_with(&s, PASSWORD, web_auth().as_deref(), None);
    assert_eq!(json(&bearer)["token_type"], "Bearer");
    let info = introspect(&s, json(&bearer)["access_token"].as_str().unwrap());
    assert_eq!(info["token_type"], "Bearer");
    assert!(info.get("cnf").is_none());
}

#[test]
fn rfc9449_4_3_the_token_endpoint_refuses_proofs_for_another_request() {
    let s = server();
    let k = key(1);
    let cases = [
        ("another htu", proof(&k, "POST", "https://as.example/par", None, None, now())),
        ("another host", proof(&k, "POST", "https://evil.example/token", None, None, now())),
        ("another htm", proof(&k, "GET", TOKEN_URL, None, None, now())),
        ("an old iat", proof(&k, "POST", TOKEN_URL, None, None, now() - Duration::from_secs(61))),
        ("a future iat", proof(&k, "POST", TOKEN_URL, None, None, now() + Duration::from_secs(61))),
        ("not a JWS", "eyJhbGciOiJFUzI1NiJ9.e30".to_owned()),
    ];
    for (what, proof) in cases {
        let r = token_with(&s, PASSWORD, web_auth().as_deref(), Some(&proof));
        assert_eq!(dpop_error(&r), "invalid_dpop_proof", "{what}");
    }
    let mut two = post(PASSWORD, web_auth().as_deref());
    two = with_proof(two, &proof(&k, "POST", TOKEN_URL, None, None, now()));
    two = with_proof(two, &proof(&k, "POST", TOKEN_URL, None, None, now()));
    assert_eq!(dpop_error(&block_on(s.token(two, now()))), "invalid_dpop_proof", "two DPoP headers");
}

#[test]
fn rfc9449_11_1_a_replayed_proof_is_refused_and_spends_nothing() {
    let s = server();
    let k = key(1);
    let code = web_code(&s, "");
    let p = proof(&k, "POST", TOKEN_URL, None, None, now());
    assert_eq!(token_with(&s, PASSWORD, web_auth().as_deref(), Some(&p)).status(), 200);
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb");
    let replayed = token_with(&s, &body, web_auth().as_deref(), Some(&p));
    assert_eq!(dpop_error(&replayed), "invalid_dpop_proof");
    assert!(json(&replayed)["error_description"].as_str().unwrap().contains("used before"));
    // The code was not looked at: it still redeems, with a fresh proof.
    let fresh = token_with(&s, &body, web_auth().as_deref(), Some(&proof(&k, "POST", TOKEN_URL, None, None, now())));
    assert_eq!(fresh.status(), 200, "{}", json(&fresh));
}

/// A code of the public client `native`, with `extra` on the authorization request.
fn native_code(s: &AuthorizationServer<MemoryStore>, extra: &str) -> String {
    let q = format!(
        "response_type=code&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=read\
         &code_challenge={CHALLENGE}&code_challenge_method=S256{extra}"
    );
    let req = block_on(s.authorization_request(&q, now())).unwrap();
    let resp = block_on(s.approve(&req, "alice", None, now())).unwrap();
    location_params(&resp).1.get("code").unwrap().to_owned()
}

fn native_redeem(s: &AuthorizationServer<MemoryStore>, code: &str, proof: Option<&str>) -> http::Response<Vec<u8>> {
    let body = format!(
        "grant_type=authorization_code&client_id=native&code={code}\
         &redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&code_verifier={VERIFIER}"
    );
    token_with(s, &body, None, proof)
}

#[test]
fn rfc9449_5_a_public_clients_refresh_token_is_bound_to_the_key() {
    let s = server();
    let k = key(1);
    let code = native_code(&s, "");
    let r = native_redeem(&s, &code, Some(&proof(&k, "POST", TOKEN_URL, None, None, now())));
    assert_eq!(json(&r)["token_type"], "DPoP", "{}", json(&r));
    let rt = json(&r)["refresh_token"].as_str().unwrap().to_owned();
    let body = format!("grant_type=refresh_token&client_id=native&refresh_token={rt}");
    assert_eq!(dpop_error(&token_with(&s, &body, None, None)), "invalid_dpop_proof", "no proof");
    let other = proof(&key(2), "POST", TOKEN_URL, None, None, now());
    assert_eq!(dpop_error(&token_with(&s, &body, None, Some(&other))), "invalid_grant", "another key");
    // Neither refusal spent it: the key's holder refreshes, and the new refresh token is bound too.
    let ok = token_with(&s, &body, None, Some(&proof(&k, "POST", TOKEN_URL, None, None, now())));
    assert_eq!(ok.status(), 200, "{}", json(&ok));
    assert_eq!(json(&ok)["token_type"], "DPoP");
    let rt2 = json(&ok)["refresh_token"].as_str().unwrap().to_owned();
    let body2 = format!("grant_type=refresh_token&client_id=native&refresh_token={rt2}");
    assert_eq!(dpop_error(&token_with(&s, &body2, None, None)), "invalid_dpop_proof");
}

#[test]
fn rfc9449_5_a_confidential_clients_refresh_token_is_not_bound() {
    let s = server();
    let r =
        token_with(&s, PASSWORD, web_auth().as_deref(), Some(&proof(&key(1), "POST", TOKEN_URL, None, None, now())));
    let rt = json(&r)["refresh_token"].as_str().unwrap().to_owned();
    // The client authenticates: it may refresh with another key, whose thumbprint the new access token gets.
    let body = format!("grant_type=refresh_token&refresh_token={rt}");
    let k2 = key(2);
    let r2 = token_with(&s, &body, web_auth().as_deref(), Some(&proof(&k2, "POST", TOKEN_URL, None, None, now())));
    assert_eq!(r2.status(), 200, "{}", json(&r2));
    assert_eq!(introspect(&s, json(&r2)["access_token"].as_str().unwrap())["cnf"]["jkt"], k2.thumbprint());
}

#[test]
fn rfc9449_10_dpop_jkt_binds_the_code_to_a_key() {
    let s = server();
    let k = key(1);
    let code = native_code(&s, &format!("&dpop_jkt={}", k.thumbprint()));
    assert_eq!(dpop_error(&native_redeem(&s, &code, None)), "invalid_dpop_proof", "no proof");
    let other = proof(&key(2), "POST", TOKEN_URL, None, None, now());
    assert_eq!(dpop_error(&native_redeem(&s, &code, Some(&other))), "invalid_grant", "another key");
    let r = native_redeem(&s, &code, Some(&proof(&k, "POST", TOKEN_URL, None, None, now())));
    assert_eq!(r.status(), 200, "{}", json(&r));
    let at = json(&r)["access_token"].as_str().unwrap().to_owned();
    let grant = at_resource(&s, &format!("DPoP {at}"), Some(&proof(&k, "GET", RESOURCE, Some(&at), None, now())));
    assert_eq!(grant.unwrap().jkt.as_deref(), Some(k.thumbprint()));
    // A malformed dpop_jkt goes back to the client as invalid_request.
    let q = format!(
        "response_type=code&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=read\
         &code_challenge={CHALLENGE}&code_challenge_method=S256&dpop_jkt=short"
    );
    let (_, params) = redirect_error(block_on(s.authorization_request(&q, now())).unwrap_err());
    assert_eq!(params.get("error"), Some("invalid_request"));
}

#[test]
fn rfc9449_10_1_a_proof_at_par_binds_the_code() {
    let s = server();
    let k = key(1);
    let par = "https://as.example/par";
    let body = format!(
        "client_id=native&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=read\
         &code_challenge={CHALLENGE}&code_challenge_method=S256"
    );
    let push = |body: &str, proof: &str| {
        let r = http::Request::post("/par").header("content-type", "application/x-www-form-urlencoded");
        let r = with_proof(r.body(body.as_bytes().to_vec()).unwrap(), proof);
        block_on(s.pushed_authorization_request(r, now()))
    };
    let mismatch =
        push(&format!("{body}&dpop_jkt={}", key(2).thumbprint()), &proof(&k, "POST", par, None, None, now()));
    assert_eq!(dpop_error(&mismatch), "invalid_dpop_proof", "dpop_jkt and the proof disagree");
    let pushed = push(&body, &proof(&k, "POST", par, None, None, now()));
    assert_eq!(pushed.status(), 201, "{}", json(&pushed));
    let query = format!("client_id=native&request_uri={}", json(&pushed)["request_uri"].as_str().unwrap());
    let query = query.replace(':', "%3A");
    let request = block_on(s.authorization_request(&query, now())).unwrap();
    assert_eq!(request.dpop_jkt.as_deref(), Some(k.thumbprint()));
    let resp = block_on(s.approve(&request, "alice", None, now())).unwrap();
    let code = location_params(&resp).1.get("code").unwrap().to_owned();
    let other = proof(&key(2), "POST", TOKEN_URL, None, None, now());
    assert_eq!(dpop_error(&native_redeem(&s, &code, Some(&other))), "invalid_grant");
}

#[test]
fn rfc9449_5_2_a_client_registered_for_dpop_must_send_a_proof() {
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::confidential("svc", "x")
            .grant_types([GrantType::ClientCredentials])
            .scopes("read")
            .dpop_bound_access_tokens(true),
    );
    let s = AuthorizationServer::new(ServerConfig::new(ISSUER), store, Mutex::new(ChaCha20Rng::seed_from_u64(1)));
    let body = "grant_type=client_credentials";
    let auth = basic("svc", "x");
    assert_eq!(dpop_error(&token_with(&s, body, Some(&auth), None)), "invalid_dpop_proof");
    let r = token_with(&s, body, Some(&auth), Some(&proof(&key(1), "POST", TOKEN_URL, None, None, now())));
    assert_eq!(json(&r)["token_type"], "DPoP", "{}", json(&r));
}

#[test]
fn rfc9449_8_a_server_that_gives_nonces_requires_them() {
    let s = server().with_dpop_nonces(&[9; 32]);
    let k = key(1);
    let r = token_with(&s, PASSWORD, web_auth().as_deref(), Some(&proof(&k, "POST", TOKEN_URL, None, None, now())));
    assert_eq!(dpop_error(&r), "use_dpop_nonce");
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let stale = proof(&k, "POST", TOKEN_URL, None, Some("bm90LWEtbm9uY2U"), now());
    assert_eq!(dpop_error(&token_with(&s, PASSWORD, web_auth().as_deref(), Some(&stale))), "use_dpop_nonce");
    let ok =
        token_with(&s, PASSWORD, web_auth().as_deref(), Some(&proof(&k, "POST", TOKEN_URL, None, Some(&nonce), now())));
    assert_eq!(ok.status(), 200, "{}", json(&ok));
    assert!(ok.headers().contains_key("dpop-nonce"), "every answer gives the current nonce");
    // A server without nonces takes proofs without one, and gives none.
    let plain =
        token_with(&server(), PASSWORD, web_auth().as_deref(), Some(&proof(&k, "POST", TOKEN_URL, None, None, now())));
    assert!(!plain.headers().contains_key("dpop-nonce"));
}

#[test]
fn rfc9449_5_1_the_metadata_lists_the_proof_algorithms() {
    let m = json(&server().metadata_response());
    let algs: Vec<&str> =
        m["dpop_signing_alg_values_supported"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(algs.contains(&"ES256") && algs.contains(&"EdDSA"), "{algs:?}");
}

/// A DPoP-bound access token of `web` for the key `k`.
fn bound_token(s: &AuthorizationServer<MemoryStore>, k: &DpopKey) -> String {
    let r = token_with(s, PASSWORD, web_auth().as_deref(), Some(&proof(k, "POST", TOKEN_URL, None, None, now())));
    json(&r)["access_token"].as_str().unwrap().to_owned()
}

const RESOURCE: &str = "https://as.example/photos";

/// The server's own resource check of a GET of `/photos` with these headers.
fn at_resource(
    s: &AuthorizationServer<MemoryStore>,
    authorization: &str,
    proof: Option<&str>,
) -> Result<AccessGrant, OAuthError> {
    let dpop: Vec<&[u8]> = proof.iter().map(|p| p.as_bytes()).collect();
    let presented = Presented::new("GET", "/photos?size=big", [authorization.as_bytes()], dpop);
    block_on(s.resource_server().check_presented(s, &presented, &crate::Scope::parse("read"), now()))
}

fn refused(e: OAuthError) -> (StatusCode, String, String) {
    let challenge = challenge_of(&e);
    (e.status(), e.code().as_str().to_owned(), challenge)
}

#[test]
fn rfc9449_7_1_a_resource_takes_a_bound_token_with_its_proof() {
    let s = server();
    let k = key(1);
    let at = bound_token(&s, &k);
    let grant =
        at_resource(&s, &format!("DPoP {at}"), Some(&proof(&k, "GET", RESOURCE, Some(&at), None, now()))).unwrap();
    assert_eq!(grant.jkt.as_deref(), Some(k.thumbprint()));
    assert_eq!(grant.subject.as_deref(), Some("alice"));
}

#[test]
fn rfc9449_7_1_bad_proofs_at_a_resource_get_dpop_challenges() {
    let s = server();
    let k = key(1);
    let at = bound_token(&s, &k);
    let auth = format!("DPoP {at}");
    let cases = [
        ("no proof", None),
        ("no ath", Some(proof(&k, "GET", RESOURCE, None, None, now()))),
        ("another token's ath", Some(proof(&k, "GET", RESOURCE, Some("other"), None, now()))),
        ("another htu", Some(proof(&k, "GET", "https://as.example/videos", Some(&at), None, now()))),
        ("another htm", Some(proof(&k, "POST", RESOURCE, Some(&at), None, now()))),
        ("an old iat", Some(proof(&k, "GET", RESOURCE, Some(&at), None, now() - Duration::from_secs(120)))),
    ];
    for (what, p) in cases {
        let (status, code, challenge) = refused(at_resource(&s, &auth, p.as_deref()).unwrap_err());
        assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"), "{what}");
        assert!(
            challenge.starts_with("DPoP realm=\"oauth\", algs=\"ES256 EdDSA RS256\", error=\"invalid_dpop_proof\""),
            "{what}: {challenge}"
        );
    }
}

#[test]
fn rfc9449_7_1_a_proof_of_another_key_is_refused_as_invalid_token() {
    let s = server();
    let at = bound_token(&s, &key(1));
    let other = key(2);
    let e = at_resource(&s, &format!("DPoP {at}"), Some(&proof(&other, "GET", RESOURCE, Some(&at), None, now())));
    let (status, code, challenge) = refused(e.unwrap_err());
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    assert!(challenge.starts_with("DPoP "), "{challenge}");
}

#[test]
fn rfc9449_7_2_a_bound_token_presented_as_bearer_is_refused() {
    let s = server();
    let k = key(1);
    let at = bound_token(&s, &k);
    let (status, code, challenge) = refused(at_resource(&s, &format!("Bearer {at}"), None).unwrap_err());
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    assert!(challenge.starts_with("DPoP realm=\"oauth\", algs="), "{challenge}");
    // The Bearer-only check refuses it too, and so does UserInfo.
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {at}").parse().unwrap());
    assert_eq!(bearer(&s, &headers, &crate::Scope::parse("read")).unwrap_err().code(), &ErrorCode::InvalidToken);
    // An unbound token under the DPoP scheme is refused as well.
    let plain =
        json(&token_with(&s, PASSWORD, web_auth().as_deref(), None))["access_token"].as_str().unwrap().to_owned();
    let e = at_resource(&s, &format!("DPoP {plain}"), Some(&proof(&k, "GET", RESOURCE, Some(&plain), None, now())));
    assert_eq!(e.unwrap_err().code(), &ErrorCode::InvalidToken);
}

#[test]
fn rfc9449_11_1_a_proof_is_used_once_at_a_resource() {
    let s = server();
    let k = key(1);
    let at = bound_token(&s, &k);
    let p = proof(&k, "GET", RESOURCE, Some(&at), None, now());
    assert!(at_resource(&s, &format!("DPoP {at}"), Some(&p)).is_ok());
    let (_, code, _) = refused(at_resource(&s, &format!("DPoP {at}"), Some(&p)).unwrap_err());
    assert_eq!(code, "invalid_dpop_proof");
}

#[test]
fn rfc9449_7_1_no_credentials_get_both_challenges() {
    let s = server();
    let presented = Presented::new("GET", "/photos", std::iter::empty(), std::iter::empty());
    let e = block_on(s.resource_server().check_presented(&s, &presented, &crate::Scope::empty(), now())).unwrap_err();
    let response = e.into_response();
    let challenges: Vec<&str> =
        response.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(challenges, ["Bearer realm=\"oauth\"", "DPoP realm=\"oauth\", algs=\"ES256 EdDSA RS256\""]);
    assert!(response.body().is_empty());
}

#[test]
fn rfc9449_7_userinfo_takes_bound_tokens_with_their_proof() {
    let s = server().with_userinfo(&["name"], |_| serde_json::Map::new());
    let k = key(1);
    let at = bound_token(&s, &k);
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("DPoP {at}").parse().unwrap());
    headers.insert("dpop", proof(&k, "GET", "https://as.example/userinfo", Some(&at), None, now()).parse().unwrap());
    let r = block_on(s.userinfo(&http::Method::GET, &headers, now()));
    assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(r.body()));
    assert_eq!(json(&r)["sub"], "alice");
    headers.insert("authorization", format!("Bearer {at}").parse().unwrap());
    let r = block_on(s.userinfo(&http::Method::GET, &headers, now()));
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP "));
}

#[test]
fn rfc9449_7_2_a_stolen_token_tells_nothing_of_its_scope_without_its_key() {
    let s = server();
    let at = bound_token(&s, &key(1));
    let thief = key(2);
    let presented = |p: &str| {
        let dpop = [p.as_bytes().to_vec()];
        let authorization = format!("DPoP {at}");
        let presented = Presented::new("GET", "/photos", [authorization.as_bytes()], dpop.iter().map(Vec::as_slice));
        block_on(s.resource_server().check_presented(&s, &presented, &crate::Scope::parse("admin"), now()))
    };
    // The thief's proof for a scope the token lacks: the key is refused before the scope is looked at.
    let (status, code, _) = refused(presented(&proof(&thief, "GET", RESOURCE, Some(&at), None, now())).unwrap_err());
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    // The holder of the key learns that the scope is lacking.
    let (status, code, _) = refused(presented(&proof(&key(1), "GET", RESOURCE, Some(&at), None, now())).unwrap_err());
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "insufficient_scope"));
}

/// §4.3 item 9 at UserInfo: the proof names the endpoint the metadata gives, the issuer's URL and the path, also
/// when the issuer has a path of its own.
#[test]
fn rfc9449_4_3_userinfo_under_an_issuer_with_a_path_takes_proofs_for_its_advertised_url() {
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::confidential("web", "s3cret pa+ss").grant_types([GrantType::Password]).scopes("read"),
    );
    let s = AuthorizationServer::new(
        ServerConfig::new("https://as.example/t1"),
        store,
        Mutex::new(ChaCha20Rng::seed_from_u64(9)),
    )
    .with_password_verifier(|u, p| (u == "alice" && p == "wonderland").then(|| "alice".to_owned()))
    .with_userinfo(&["name"], |_| serde_json::Map::new());
    let k = key(1);
    let r = token_with(
        &s,
        PASSWORD,
        web_auth().as_deref(),
        Some(&proof(&k, "POST", "https://as.example/t1/token", None, None, now())),
    );
    let at = json(&r)["access_token"].as_str().unwrap().to_owned();
    let advertised = json(&s.metadata_response())["userinfo_endpoint"].as_str().unwrap().to_owned();
    assert_eq!(advertised, "https://as.example/t1/userinfo");
    let ask = |htu: &str| {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("DPoP {at}").parse().unwrap());
        headers.insert("dpop", proof(&k, "GET", htu, Some(&at), None, now()).parse().unwrap());
        block_on(s.userinfo(&http::Method::GET, &headers, now())).status()
    };
    assert_eq!(ask("https://as.example/userinfo"), 401, "the origin's path is not the endpoint");
    assert_eq!(ask(&advertised), 200);
}

/// §11.1 at resources that check tokens against the store itself (not through the server): two resource
/// instances, each with its own process memory, share the store, and a proof works at one of them only.
#[test]
fn rfc9449_11_1_resources_checking_tokens_against_a_shared_store_remember_proofs_in_it() {
    let s = server();
    let k = key(1);
    let at = bound_token(&s, &k);
    let p = proof(&k, "GET", RESOURCE, Some(&at), None, now());
    let authorization = format!("DPoP {at}");
    let at_instance = || {
        let instance = crate::resource::ResourceServer::new("api").dpop("https://as.example");
        let presented = Presented::new("GET", "/photos", [authorization.as_bytes()], [p.as_bytes()]);
        block_on(instance.check_presented(s.store(), &presented, &crate::Scope::parse("read"), now()))
    };
    assert!(at_instance().is_ok());
    let (status, code, _) = refused(at_instance().unwrap_err());
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"),
        "replayed at another instance"
    );
}
