//! The device authorization grant (RFC 8628), server side, with a fake clock.

use super::*;
use crate::server::DeviceError;
use crate::server::store::DeviceStore;

const URN: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A provider offering the device grant (interval 5 s, codes for 600 s): `tv` (public: device + refresh, scope
/// `read profile openid`), `box` (confidential: device only), and `web` (no device grant).
fn provider() -> AuthorizationServer<MemoryStore> {
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::public("tv")
            .grant_types([GrantType::DeviceCode, GrantType::RefreshToken])
            .scopes("read profile")
            .name("Living Room TV"),
    );
    store.add_client(
        RegisteredClient::confidential("box", "s3cret").grant_types([GrantType::DeviceCode]).scopes("read"),
    );
    store.add_client(
        RegisteredClient::confidential("web", "s3cret").grant_types([GrantType::AuthorizationCode]).scopes("read"),
    );
    let config = ServerConfig::new(ISSUER).device_grant(Duration::from_secs(5), Duration::from_secs(600));
    AuthorizationServer::new(config, store, Mutex::new(ChaCha20Rng::seed_from_u64(28)))
}

fn at(s: u64) -> SystemTime {
    now() + Duration::from_secs(s)
}

fn device_post(body: &str, auth: Option<&str>) -> http::Request<Vec<u8>> {
    let mut b =
        http::Request::post("/device_authorization").header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(body.as_bytes().to_vec()).unwrap()
}

/// Codes for `tv`, asked at `at(0)`.
fn codes(s: &AuthorizationServer<MemoryStore>, scope: &str) -> (String, String) {
    let r = block_on(s.device_authorization(device_post(&format!("client_id=tv&scope={scope}"), None), at(0)));
    assert_eq!(r.status(), 200, "{}", json(&r));
    let body = json(&r);
    (body["device_code"].as_str().unwrap().to_owned(), body["user_code"].as_str().unwrap().to_owned())
}

fn poll(s: &AuthorizationServer<MemoryStore>, device_code: &str, t: SystemTime) -> http::Response<Vec<u8>> {
    block_on(s.token(post(&format!("grant_type={URN}&device_code={device_code}&client_id=tv"), None), t))
}

/// What the server's own resource check says of `access`.
fn live(s: &AuthorizationServer<MemoryStore>, access: &str) -> Result<AccessGrant, OAuthError> {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {access}").parse().unwrap());
    bearer(s, &headers, &crate::Scope::empty())
}

fn error_of(r: &http::Response<Vec<u8>>) -> String {
    json(r)["error"].as_str().unwrap_or("(none)").to_owned()
}

fn approve(s: &AuthorizationServer<MemoryStore>, user_code: &str, t: SystemTime) {
    let request = block_on(s.device_request(user_code, "session", None, t)).unwrap();
    block_on(s.approve_device(&request, "alice", None, t, t)).unwrap();
}

#[test]
fn rfc8628_3_2_the_response_has_the_codes_the_uris_expires_in_and_interval() {
    let s = provider();
    let r = block_on(s.device_authorization(device_post("client_id=tv&scope=read", None), at(0)));
    assert_eq!((r.status(), r.headers()["cache-control"].to_str().unwrap()), (http::StatusCode::OK, "no-store"));
    let body = json(&r);
    let device_code = body["device_code"].as_str().unwrap();
    assert_eq!(URL_SAFE_NO_PAD_DECODE(device_code).len(), 32, "a device code of 256 bits");
    let user_code = body["user_code"].as_str().unwrap();
    assert!(user_code.len() == 9 && &user_code[4..5] == "-", "XXXX-XXXX: {user_code}");
    assert_eq!(body["verification_uri"], "https://as.example/device");
    assert_eq!(body["verification_uri_complete"], format!("https://as.example/device?user_code={user_code}"));
    assert_eq!((body["expires_in"].as_u64(), body["interval"].as_u64()), (Some(600), Some(5)));
    // Stored hashed: the store holds the hashes, never the codes.
    let typed = user_code.replace('-', "");
    assert!(block_on(s.store().device_code_by_user_code(&SecretHash::of(&typed))).unwrap().is_none());
    assert!(
        block_on(s.store().device_code_by_user_code(&crate::server::rules::user_code::hash(&typed))).unwrap().is_some()
    );
}

#[allow(non_snake_case)]
fn URL_SAFE_NO_PAD_DECODE(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

#[test]
fn rfc8628_3_1_client_authentication_and_registration_are_those_of_the_token_endpoint() {
    let s = provider();
    let ask = |body: &str, auth: Option<&str>| block_on(s.device_authorization(device_post(body, auth), at(0)));
    assert_eq!(ask("scope=read", Some(&basic("box", "s3cret"))).status(), 200, "a confidential client by its secret");
    let wrong = ask("scope=read", Some(&basic("box", "nope")));
    assert_eq!((wrong.status(), error_of(&wrong)), (http::StatusCode::UNAUTHORIZED, "invalid_client".into()));
    assert!(wrong.headers().contains_key("www-authenticate"), "a Basic challenge (RFC 6749 §5.2)");
    assert_eq!(error_of(&ask("client_id=box&scope=read", None)), "invalid_client", "its id alone is not enough");
    assert_eq!(error_of(&ask("scope=read", Some(&basic("web", "s3cret")))), "unauthorized_client");
    assert_eq!(error_of(&ask("client_id=tv&scope=admin", None)), "invalid_scope");
    assert_eq!(error_of(&ask("client_id=tv&scope=read&scope=read", None)), "invalid_request", "RFC 6749 §3.1");
    let all = json(&ask("client_id=tv", None));
    let hash = crate::server::rules::user_code::hash(&all["user_code"].as_str().unwrap().replace('-', ""));
    let kept = block_on(s.store().device_code_by_user_code(&hash)).unwrap().unwrap();
    assert_eq!(kept.scope, crate::Scope::parse("read profile"), "an omitted scope is every registered one");
    // A server that does not offer the grant refuses it.
    let rng = Mutex::new(ChaCha20Rng::seed_from_u64(1));
    let off = AuthorizationServer::new(ServerConfig::new(ISSUER), MemoryStore::new(), rng);
    off.store().add_client(RegisteredClient::public("tv").grant_types([GrantType::DeviceCode]));
    let r = block_on(off.device_authorization(device_post("client_id=tv", None), at(0)));
    assert_eq!(error_of(&r), "unsupported_grant_type");
    assert!(off.metadata().device_authorization_endpoint.is_none());
    assert!(off.endpoints().all(|(e, _, _)| e != Endpoint::DeviceAuthorization), "and does not mount it");
}

#[test]
fn rfc8628_4_the_metadata_advertises_the_endpoint_and_the_grant() {
    let m = provider().metadata();
    assert_eq!(m.device_authorization_endpoint.as_deref(), Some("https://as.example/device_authorization"));
    assert!(m.grant_types_supported.unwrap().iter().any(|g| g == URN));
    let mounted: Vec<_> = provider().endpoints().filter(|(e, _, _)| *e == Endpoint::DeviceAuthorization).collect();
    assert_eq!(mounted, [(Endpoint::DeviceAuthorization, http::Method::POST, "/device_authorization".to_owned())]);
}

#[test]
fn rfc8628_3_3_the_verification_page_gets_the_pending_request_from_the_user_code() {
    let s = provider();
    let (_, user_code) = codes(&s, "read");
    let typed = user_code.to_lowercase().replace('-', " ");
    let request = block_on(s.device_request(&typed, "session", None, at(1))).unwrap();
    assert_eq!((request.client_id.as_str(), request.client_name.as_deref()), ("tv", Some("Living Room TV")));
    assert_eq!((request.scope.to_string(), request.display_user_code()), ("read".into(), user_code.clone()));
    assert_eq!(block_on(s.device_request("BCDF-GHJK", "session", None, at(1))), Err(DeviceError::UnknownCode));
    assert_eq!(block_on(s.device_request("not a code", "session", None, at(1))), Err(DeviceError::UnknownCode));
    // Granting more than was asked is refused; less is fine.
    assert_eq!(
        block_on(s.approve_device(&request, "alice", Some(crate::Scope::parse("read profile")), at(1), at(1))),
        Err(DeviceError::UnknownCode)
    );
    // A request edited where the app kept it (a cookie) does not pass.
    let mut edited = request.clone();
    edited.scope = crate::Scope::parse("read profile");
    assert_eq!(block_on(s.approve_device(&edited, "alice", None, at(1), at(1))), Err(DeviceError::UnknownCode));
    block_on(s.approve_device(&request, "alice", None, at(1), at(1))).unwrap();
    assert_eq!(block_on(s.deny_device(&request, at(1))), Err(DeviceError::UnknownCode), "answered once");
    assert_eq!(block_on(s.device_request(&user_code, "session", None, at(1))), Err(DeviceError::UnknownCode));
    // An expired code cannot be answered.
    let (_, late) = codes(&s, "read");
    let request = block_on(s.device_request(&late, "session", None, at(2))).unwrap();
    assert_eq!(block_on(s.approve_device(&request, "alice", None, at(600), at(600))), Err(DeviceError::UnknownCode));
    assert_eq!(block_on(s.device_request(&late, "session", None, at(600))), Err(DeviceError::UnknownCode));
}

#[test]
fn rfc8628_3_5_authorization_pending_until_the_user_answers() {
    let s = provider();
    let (device_code, _) = codes(&s, "read");
    let r = poll(&s, &device_code, at(5));
    assert_eq!((r.status(), error_of(&r)), (http::StatusCode::BAD_REQUEST, "authorization_pending".into()));
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(error_of(&poll(&s, &device_code, at(10))), "authorization_pending");
}

#[test]
fn rfc8628_3_5_slow_down_adds_5_s_to_the_interval_for_every_later_poll() {
    let s = provider();
    let (device_code, _) = codes(&s, "read");
    assert_eq!(error_of(&poll(&s, &device_code, at(5))), "authorization_pending");
    assert_eq!(error_of(&poll(&s, &device_code, at(9))), "slow_down", "4 s after the last poll, with 5 s asked");
    // The interval is 10 s now.
    assert_eq!(error_of(&poll(&s, &device_code, at(18))), "slow_down", "9 s later");
    assert_eq!(error_of(&poll(&s, &device_code, at(33))), "authorization_pending", "15 s later");
    assert_eq!(error_of(&poll(&s, &device_code, at(48))), "authorization_pending", "15 s later again");
}

#[test]
fn rfc8628_3_5_a_denied_request_is_access_denied() {
    let s = provider();
    let (device_code, user_code) = codes(&s, "read");
    let request = block_on(s.device_request(&user_code, "session", None, at(1))).unwrap();
    block_on(s.deny_device(&request, at(1))).unwrap();
    assert_eq!(error_of(&poll(&s, &device_code, at(5))), "access_denied");
    assert_eq!(error_of(&poll(&s, &device_code, at(10))), "access_denied", "and stays so");
}

#[test]
fn rfc8628_3_5_an_expired_device_code_is_expired_token() {
    let s = provider();
    let (device_code, user_code) = codes(&s, "read");
    approve(&s, &user_code, at(1));
    assert_eq!(error_of(&poll(&s, &device_code, at(600))), "expired_token", "even approved, once expired");
}

#[test]
fn rfc8628_3_5_the_tokens_come_once_and_a_second_redemption_is_invalid_grant_without_revoking() {
    let s = provider();
    let (device_code, user_code) = codes(&s, "read profile");
    approve(&s, &user_code, at(1));
    let r = poll(&s, &device_code, at(5));
    assert_eq!(r.status(), 200, "{}", json(&r));
    let body = json(&r);
    assert_eq!((body["token_type"].as_str(), body["scope"].as_str()), (Some("Bearer"), Some("read profile")));
    let access = body["access_token"].as_str().unwrap().to_owned();
    let grant = live(&s, &access).expect("the token works");
    assert_eq!((grant.subject.as_deref(), &*grant.client_id), (Some("alice"), "tv"));
    let again = poll(&s, &device_code, at(10));
    assert_eq!(error_of(&again), "invalid_grant");
    assert!(live(&s, &access).is_ok(), "not revoked");
    // The refresh token works like any other.
    let refresh = body["refresh_token"].as_str().unwrap();
    let r = block_on(
        s.token(post(&format!("grant_type=refresh_token&refresh_token={refresh}&client_id=tv"), None), at(12)),
    );
    assert_eq!(r.status(), 200, "{}", json(&r));
}

#[test]
fn rfc8628_3_4_another_clients_device_code_is_invalid_grant_and_leaves_the_owners_polling_alone() {
    let s = provider();
    let (device_code, _) = codes(&s, "read");
    let body = format!("grant_type={URN}&device_code={device_code}");
    let r = block_on(s.token(post(&body, Some(&basic("box", "s3cret"))), at(5)));
    assert_eq!(error_of(&r), "invalid_grant");
    assert_eq!(error_of(&poll(&s, &device_code, at(5))), "authorization_pending", "the owner is not slowed down");
    assert_eq!(error_of(&poll(&s, &"x".repeat(43), at(10))), "invalid_grant", "an unknown code");
    let missing = block_on(s.token(post(&format!("grant_type={URN}&client_id=tv"), None), at(10)));
    assert_eq!(error_of(&missing), "invalid_request");
    let web = block_on(s.token(post(&body, Some(&basic("web", "s3cret"))), at(10)));
    assert_eq!(error_of(&web), "unauthorized_client", "a client not registered for the grant");
}

#[test]
fn rfc8628_3_5_of_100_concurrent_polls_after_approval_exactly_one_gets_the_tokens() {
    let s = std::sync::Arc::new(provider());
    let (device_code, user_code) = codes(&s, "read");
    approve(&s, &user_code, at(1));
    let answers: Vec<http::Response<Vec<u8>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100).map(|_| scope.spawn(|| poll(&s, &device_code, at(5)))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = answers.iter().filter(|r| r.status() == 200).count();
    assert_eq!(ok, 1, "exactly one token");
    for r in answers.iter().filter(|r| r.status() != 200) {
        assert!(["slow_down", "invalid_grant"].contains(&error_of(r).as_str()), "{}", json(r));
    }
    assert_eq!(
        block_on(
            s.store().device_code_by_user_code(&crate::server::rules::user_code::hash(&user_code.replace('-', "")))
        )
        .unwrap()
        .unwrap()
        .status,
        crate::server::store::DeviceStatus::Redeemed
    );
}

#[test]
fn rfc8628_5_1_user_codes_are_throttled_per_session_and_per_address() {
    let s = provider();
    let (_, user_code) = codes(&s, "read");
    let from = |a: u8| Some(std::net::IpAddr::from([192, 0, 2, a]));
    for i in 0..5 {
        assert_eq!(block_on(s.device_request("BCDF-GHJK", "one", from(i), at(1))), Err(DeviceError::UnknownCode));
    }
    let throttled = block_on(s.device_request(&user_code, "one", from(9), at(1)));
    assert!(matches!(throttled, Err(DeviceError::Throttled(w)) if w > Duration::from_secs(60)), "{throttled:?}");
    // A right code clears its session's count.
    assert!(block_on(s.device_request(&user_code, "two", from(10), at(1))).is_ok());
    for i in 0..5 {
        assert_eq!(
            block_on(s.device_request("BCDF-GHJK", "two", from(11), at(1))),
            Err(DeviceError::UnknownCode),
            "{i}"
        );
    }
    // Per address: 20 a minute, whatever the session; the next one waits, right or wrong.
    for i in 0..20 {
        let session = format!("s{i}");
        assert_eq!(block_on(s.device_request("BCDF-GHJK", &session, from(50), at(2))), Err(DeviceError::UnknownCode));
    }
    let held = block_on(s.device_request(&user_code, "fresh", from(50), at(2)));
    assert!(matches!(held, Err(DeviceError::Throttled(w)) if w <= Duration::from_secs(60)), "{held:?}");
    assert!(block_on(s.device_request(&user_code, "fresh", from(50), at(70))).is_ok(), "a minute later");
}

#[cfg(feature = "jose")]
#[test]
fn rfc8628_3_5_an_openid_device_grant_gets_an_id_token_for_the_user() {
    let store = MemoryStore::new();
    store.add_client(RegisteredClient::public("tv").grant_types([GrantType::DeviceCode]).scopes("openid"));
    let config = ServerConfig::new(ISSUER).device_grant(Duration::from_secs(5), Duration::from_secs(600));
    let s = AuthorizationServer::new(config, store, Mutex::new(ChaCha20Rng::seed_from_u64(3)));
    let key = || crate::jose::SigningKey::ed25519_from_seed("k", &[7; 32]);
    block_on(s.ensure_signing_key(crate::jose::Algorithm::EdDsa, now(), key)).unwrap();
    let mut client = (*block_on(s.store().client("tv")).unwrap().unwrap()).clone();
    client = client.id_token_signed_response_alg("EdDSA");
    s.store().add_client(client);
    // RFC 8628 §4: the OpenID Provider metadata advertises the endpoint too.
    let discovery = block_on(s.openid_configuration(now())).unwrap();
    assert_eq!(discovery.device_authorization_endpoint.as_deref(), Some("https://as.example/device_authorization"));
    let (device_code, user_code) = codes(&s, "openid");
    approve(&s, &user_code, at(1));
    let body = json(&poll(&s, &device_code, at(5)));
    let id_token = body["id_token"].as_str().expect("an id_token");
    let claims = id_token.split('.').nth(1).map(URL_SAFE_NO_PAD_DECODE).unwrap();
    let claims: Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!((claims["sub"].as_str(), claims["aud"].as_str()), (Some("alice"), Some("tv")));
}

#[test]
fn rfc8628_5_2_device_authorization_requests_are_limited_per_client_address() {
    let s = provider();
    let from = |a: u8, body: &str| {
        let mut request = device_post(body, None);
        request.extensions_mut().insert(crate::server::ClientAddress(std::net::IpAddr::from([198, 51, 100, a])));
        block_on(s.device_authorization(request, at(0)))
    };
    for i in 0..30 {
        assert_eq!(from(1, "client_id=tv").status(), 200, "request {i}");
    }
    let refused = from(1, "client_id=tv");
    assert_eq!((refused.status(), error_of(&refused)), (http::StatusCode::TOO_MANY_REQUESTS, "slow_down".into()));
    assert_eq!(refused.headers()["retry-after"], "60");
    assert_eq!(from(2, "client_id=tv").status(), 200, "another address is not held up");
}

#[test]
fn rfc8628_5_1_a_locked_out_address_writes_no_session_count() {
    let s = provider();
    let from = |a: u8| Some(std::net::IpAddr::from([192, 0, 2, a]));
    for i in 0..20 {
        let session = format!("s{i}");
        assert_eq!(block_on(s.device_request("BCDF-GHJK", &session, from(7), at(1))), Err(DeviceError::UnknownCode));
    }
    for _ in 0..10 {
        assert!(matches!(block_on(s.device_request("BCDF-GHJK", "y", from(7), at(1))), Err(DeviceError::Throttled(_))));
    }
    // The refusals above counted nothing against session `y`: from another address it has its 5 entries.
    assert_eq!(block_on(s.device_request("BCDF-GHJK", "y", from(8), at(1))), Err(DeviceError::UnknownCode));
}

#[test]
fn rfc8628_3_2_a_huge_configured_interval_is_bounded_not_a_panic() {
    let mut s = provider();
    s.config.device_interval = Duration::MAX;
    let r = block_on(s.device_authorization(device_post("client_id=tv", None), at(0)));
    assert_eq!(json(&r)["interval"].as_u64(), Some(300));
    let device_code = json(&r)["device_code"].as_str().unwrap().to_owned();
    assert_eq!(error_of(&poll(&s, &device_code, at(1))), "authorization_pending");
    assert_eq!(error_of(&poll(&s, &device_code, at(2))), "slow_down");
}
