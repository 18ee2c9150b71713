//! JWT access tokens (RFC 9068), resource indicators (RFC 8707) and resource-server introspection (RFC 7662 §2.1).

use super::*;
use crate::jose::{Algorithm, JwkSet, SigningKey, Validation};
use crate::server::store::{KeyRecord, KeyStore};

const API: &str = "https://api.example";
const OTHER_API: &str = "https://other-api.example";

/// A provider issuing JWT access tokens signed with `alg`: client `web` (code, refresh, client credentials), `svc`
/// (client credentials, limited to the resource `API`), and `api`, a resource server for `API`.
fn provider(alg: Algorithm) -> AuthorizationServer<MemoryStore> {
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::confidential("web", "s3cret")
            .redirect_uris(["https://app.example/cb"])
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials])
            .scopes("read write openid"),
    );
    store.add_client(
        RegisteredClient::confidential("svc", "s3cret")
            .grant_types([GrantType::ClientCredentials])
            .scopes("read")
            .resources([API]),
    );
    store.add_client(
        RegisteredClient::confidential("api", "s3cret").grant_types([]).resources([API]).resource_server(true),
    );
    let config = ServerConfig::new(ISSUER).jwt_access_tokens(alg);
    let s = AuthorizationServer::new(config, store, Mutex::new(ChaCha20Rng::seed_from_u64(5)));
    let ed = || SigningKey::ed25519_from_seed("ed-1", &[1; 32]);
    block_on(s.ensure_signing_key(Algorithm::EdDsa, now(), ed)).unwrap();
    let rsa = || SigningKey::from_private_jwk(include_str!("../../jose/vectors/rfc7515_a2_rsa.json"));
    block_on(s.ensure_signing_key(Algorithm::Rs256, now(), rsa)).unwrap();
    s
}

fn token(s: &AuthorizationServer<MemoryStore>, client: &str, body: &str, at: SystemTime) -> http::Response<Vec<u8>> {
    block_on(s.token(post(body, Some(&basic(client, "s3cret"))), at))
}

fn ok(r: http::Response<Vec<u8>>) -> Value {
    assert_eq!(r.status(), StatusCode::OK, "{}", String::from_utf8_lossy(r.body()));
    json(&r)
}

fn redeem(s: &AuthorizationServer<MemoryStore>, code: &str, extra: &str) -> http::Response<Vec<u8>> {
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb{extra}");
    token(s, "web", &body, now())
}

fn jwks(s: &AuthorizationServer<MemoryStore>) -> JwkSet {
    serde_json::from_slice(block_on(s.jwks_response(now())).body()).unwrap()
}

fn header(jwt: &str) -> Value {
    serde_json::from_slice(&crate::jose::unb64(jwt.split('.').next().unwrap(), "h").unwrap()).unwrap()
}

/// The claims of `jwt`, checked as a resource server for `audience` would check them.
fn claims(s: &AuthorizationServer<MemoryStore>, jwt: &str, audience: &str) -> Value {
    Validation::new(ISSUER, audience, &Algorithm::ALL, now()).typ("at+jwt").decode(jwt, &jwks(s)).unwrap()
}

fn introspect(s: &AuthorizationServer<MemoryStore>, client: &str, token: &str) -> Value {
    let request = form_post("/introspect", &format!("token={token}"), Some(&basic(client, "s3cret")));
    json(&block_on(s.introspect(request, now())))
}

fn revoke(s: &AuthorizationServer<MemoryStore>, client: &str, token: &str) -> StatusCode {
    block_on(s.revoke(form_post("/revoke", &format!("token={token}"), Some(&basic(client, "s3cret"))), now())).status()
}

fn accepted(s: &AuthorizationServer<MemoryStore>, token: &str) -> bool {
    bearer(s, &bearer_headers(token), &crate::Scope::empty()).is_ok()
}

#[test]
fn rfc9068_2_1_an_access_token_is_a_jws_of_type_at_jwt_with_the_configured_alg() {
    for alg in [Algorithm::EdDsa, Algorithm::Rs256] {
        let s = provider(alg);
        let r = ok(token(&s, "web", "grant_type=client_credentials&scope=read", now()));
        let jwt = r["access_token"].as_str().unwrap();
        let h = header(jwt);
        assert_eq!((h["typ"].as_str(), h["alg"].as_str()), (Some("at+jwt"), Some(alg.as_str())));
        assert!(h["kid"].is_string(), "every key has a kid");
        assert_eq!(r["expires_in"], 300, "JWT access tokens live 5 minutes unless configured");
        assert_eq!(r["token_type"], "Bearer");
    }
}

#[test]
fn rfc9068_2_2_the_claims_of_a_code_grants_token() {
    let s = provider(Algorithm::EdDsa);
    let r = ok(redeem(&s, &web_code(&s, "&scope=read"), ""));
    let c = claims(&s, r["access_token"].as_str().unwrap(), ISSUER);
    assert_eq!((c["sub"].as_str(), c["client_id"].as_str()), (Some("alice"), Some("web")));
    assert_eq!(c["scope"], "read");
    assert_eq!(c["aud"], ISSUER, "no resource: the audience is the issuer");
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 300);
    assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 43), "a jti of 256 random bits");
    assert_eq!(c["auth_time"].as_u64(), Some(1_700_000_000));
    // Each token its own jti.
    let again = ok(redeem(&s, &web_code(&s, "&scope=read"), ""));
    assert_ne!(claims(&s, again["access_token"].as_str().unwrap(), ISSUER)["jti"], c["jti"]);
}

#[test]
fn rfc9068_2_2_1_a_client_credentials_token_names_the_client_as_subject() {
    let s = provider(Algorithm::EdDsa);
    let r = ok(token(&s, "web", "grant_type=client_credentials&scope=read", now()));
    let c = claims(&s, r["access_token"].as_str().unwrap(), ISSUER);
    assert_eq!((c["sub"].as_str(), c["client_id"].as_str()), (Some("web"), Some("web")));
    assert!(c.get("auth_time").is_none());
    // The store keeps nothing of it, and the issuer still accepts it.
    assert_eq!(s.store().counts(), (0, 0, 0));
    let grant = bearer(&s, &bearer_headers(r["access_token"].as_str().unwrap()), &crate::Scope::parse("read")).unwrap();
    assert_eq!((grant.subject, &*grant.client_id), (None, "web"));
}

#[test]
fn rfc8707_2_resource_sets_the_audience_and_may_repeat() {
    let s = provider(Algorithm::EdDsa);
    let both = format!("&scope=read&resource={}&resource={}", enc(API), enc(OTHER_API));
    let r = ok(redeem(&s, &web_code(&s, &both), ""));
    let c = claims(&s, r["access_token"].as_str().unwrap(), API);
    assert_eq!(c["aud"], serde_json::json!([API, OTHER_API]), "two resources: an array");
    // The token request narrows to one of them (§2.2), and the refresh token keeps both.
    let r = ok(redeem(&s, &web_code(&s, &both), &format!("&resource={}", enc(API))));
    assert_eq!(claims(&s, r["access_token"].as_str().unwrap(), API)["aud"], API, "one: a string");
    let refresh = format!(
        "grant_type=refresh_token&refresh_token={}&resource={}",
        r["refresh_token"].as_str().unwrap(),
        enc(OTHER_API)
    );
    let refreshed = ok(token(&s, "web", &refresh, now()));
    assert_eq!(claims(&s, refreshed["access_token"].as_str().unwrap(), OTHER_API)["aud"], OTHER_API);
    // A resource the grant does not have is refused.
    let e = redeem(&s, &web_code(&s, &both), "&resource=https%3A%2F%2Fthird.example");
    assert_eq!((e.status(), json(&e)["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")));
    // The token request alone may name it.
    let r = ok(redeem(&s, &web_code(&s, "&scope=read"), &format!("&resource={}", enc(API))));
    assert_eq!(claims(&s, r["access_token"].as_str().unwrap(), API)["aud"], API);
}

#[test]
fn rfc8707_2_a_client_limited_to_its_resources_gets_invalid_target_for_others() {
    let s = provider(Algorithm::EdDsa);
    let r = ok(token(&s, "svc", &format!("grant_type=client_credentials&resource={}", enc(API)), now()));
    assert_eq!(claims(&s, r["access_token"].as_str().unwrap(), API)["aud"], API);
    for bad in [enc(OTHER_API), "%2Frelative".to_owned(), enc("https://api.example#fragment")] {
        let e = token(&s, "svc", &format!("grant_type=client_credentials&resource={bad}"), now());
        assert_eq!((e.status(), json(&e)["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")));
    }
    // At the authorization endpoint the refusal goes back to the client.
    let mut client = RegisteredClient::confidential("limited", "s3cret").redirect_uris(["https://app.example/cb"]);
    client.resources = vec![API.into()];
    client.scopes = crate::Scope::parse("read");
    s.store().add_client(client);
    let q = format!(
        "response_type=code&client_id=limited&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=s&resource={}",
        enc(OTHER_API)
    );
    let (_, params) = redirect_error(block_on(s.authorization_request(&q, now())).unwrap_err());
    assert_eq!((params.get("error"), params.get("state")), (Some("invalid_target"), Some("s")));
}

#[test]
fn rfc9068_4_the_issuer_refuses_expired_foreign_and_mistyped_tokens() {
    let s = provider(Algorithm::EdDsa);
    let jwt = ok(token(&s, "web", "grant_type=client_credentials", now()))["access_token"].as_str().unwrap().to_owned();
    assert!(accepted(&s, &jwt));
    let late = block_on(s.resource_server().check_headers(
        &s,
        &bearer_headers(&jwt),
        &crate::Scope::empty(),
        now() + Duration::from_secs(300),
    ));
    assert!(late.is_err(), "expired");
    // Signed by a key the server does not have.
    let c: Value = serde_json::from_slice(&crate::jose::unb64(jwt.split('.').nth(1).unwrap(), "p").unwrap()).unwrap();
    let stranger = SigningKey::ed25519_from_seed("ed-1", &[2; 32]).unwrap();
    assert!(!accepted(&s, &stranger.sign(Some("at+jwt"), &c).unwrap()), "another key with the same kid");
    // The server's own key, but another type: an id_token is not an access token.
    let own = SigningKey::ed25519_from_seed("ed-1", &[1; 32]).unwrap();
    assert!(!accepted(&s, &own.sign(Some("JWT"), &c).unwrap()), "typ JWT");
    assert!(accepted(&s, &own.sign(Some("at+jwt"), &c).unwrap()), "the same claims, rightly signed");
    // alg none and HS256 (with the public key as the secret) are refused before any key is tried.
    let b64 = |v: &Value| crate::jose::b64(serde_json::to_vec(v).unwrap());
    let payload = jwt.split('.').nth(1).unwrap();
    let none = format!("{}.{payload}.", b64(&serde_json::json!({"alg": "none", "typ": "at+jwt"})));
    assert!(!accepted(&s, &none));
    let hs =
        format!("{}.{payload}.{}", b64(&serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "ed-1"})), "c2ln");
    assert!(!accepted(&s, &hs));
    assert_eq!(introspect(&s, "web", &hs)["active"], false);
}

#[test]
fn rfc7009_2_revoking_a_client_credentials_jwt_puts_its_jti_on_the_deny_list() {
    let s = provider(Algorithm::EdDsa);
    let jwt = ok(token(&s, "web", "grant_type=client_credentials&scope=read", now()))["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let info = introspect(&s, "web", &jwt);
    assert_eq!((info["active"].as_bool(), info["token_type"].as_str()), (Some(true), Some("Bearer")));
    assert!(info["jti"].as_str().is_some_and(|j| j.starts_with("s.")), "{info}");
    assert_eq!(revoke(&s, "svc", &jwt), StatusCode::BAD_REQUEST, "another client may not revoke it");
    assert!(accepted(&s, &jwt));
    assert_eq!(revoke(&s, "web", &jwt), StatusCode::OK);
    assert!(!accepted(&s, &jwt), "refused at once");
    assert_eq!(introspect(&s, "web", &jwt), serde_json::json!({"active": false}));
    // The deny-list keeps it past its expiry by the clock leeway (an instance whose clock lags still refuses it),
    // then forgets it.
    let jti = SecretHash::of(info["jti"].as_str().unwrap());
    block_on(s.store().purge(now() + Duration::from_secs(301))).unwrap();
    assert!(block_on(s.store().token_denied(&jti)).unwrap(), "kept for the leeway");
    block_on(s.store().purge(now() + Duration::from_secs(601))).unwrap();
    assert!(!block_on(s.store().token_denied(&jti)).unwrap());
}

#[test]
fn rfc6749_4_1_2_a_replayed_code_or_reused_refresh_token_revokes_its_jwts() {
    let s = provider(Algorithm::EdDsa);
    // A code replay (RFC 6749 §4.1.2).
    let c = web_code(&s, "&scope=read");
    let first = ok(redeem(&s, &c, ""));
    let jwt = first["access_token"].as_str().unwrap();
    assert!(accepted(&s, jwt));
    assert_eq!(redeem(&s, &c, "").status(), StatusCode::BAD_REQUEST);
    assert!(!accepted(&s, jwt), "the replay revoked the JWT");
    assert_eq!(introspect(&s, "web", jwt)["active"], false);
    // Refresh token reuse (RFC 9700 §4.14.2).
    let r = ok(redeem(&s, &web_code(&s, "&scope=read"), ""));
    let body = format!("grant_type=refresh_token&refresh_token={}", r["refresh_token"].as_str().unwrap());
    let rotated = ok(token(&s, "web", &body, now()));
    let jwt = rotated["access_token"].as_str().unwrap();
    assert!(accepted(&s, jwt));
    assert_eq!(token(&s, "web", &body, now()).status(), StatusCode::BAD_REQUEST);
    assert!(!accepted(&s, jwt), "the reuse revoked the JWT");
    // Revoking the access token itself.
    let r = ok(redeem(&s, &web_code(&s, "&scope=read"), ""));
    let jwt = r["access_token"].as_str().unwrap();
    assert_eq!(revoke(&s, "web", jwt), StatusCode::OK);
    assert!(!accepted(&s, jwt));
}

#[test]
fn rfc7662_2_1_a_resource_server_introspects_the_tokens_for_it_and_no_others() {
    let s = provider(Algorithm::EdDsa);
    let for_api = ok(redeem(&s, &web_code(&s, &format!("&scope=read&resource={}", enc(API))), ""));
    let for_issuer = ok(redeem(&s, &web_code(&s, "&scope=read"), ""));
    let for_other = ok(redeem(&s, &web_code(&s, &format!("&scope=read&resource={}", enc(OTHER_API))), ""));
    let api_view = introspect(&s, "api", for_api["access_token"].as_str().unwrap());
    assert_eq!((api_view["active"].as_bool(), api_view["client_id"].as_str()), (Some(true), Some("web")));
    assert_eq!((api_view["sub"].as_str(), api_view["aud"].as_str()), (Some("alice"), Some(API)));
    assert_eq!(introspect(&s, "api", for_issuer["access_token"].as_str().unwrap())["active"], true);
    assert_eq!(introspect(&s, "api", for_other["access_token"].as_str().unwrap())["active"], false, "another API's");
    assert_eq!(introspect(&s, "api", for_api["refresh_token"].as_str().unwrap())["active"], false, "a refresh token");
    // Other clients still see only their own tokens.
    assert_eq!(introspect(&s, "svc", for_api["access_token"].as_str().unwrap())["active"], false);
    assert_eq!(introspect(&s, "web", for_other["access_token"].as_str().unwrap())["active"], true);
    // A resource server gets no grant it is not registered for.
    let e = token(&s, "api", "grant_type=client_credentials", now());
    assert_eq!(json(&e)["error"], "unauthorized_client");
}

#[test]
fn rfc7662_2_1_opaque_tokens_follow_the_same_rule() {
    let s = server();
    s.store().add_client(RegisteredClient::confidential("api", "s3cret").grant_types([]).resource_server(true));
    let r = password_tokens(&s);
    let view = introspect(&s, "api", r["access_token"].as_str().unwrap());
    assert_eq!((view["active"].as_bool(), view["aud"].as_str()), (Some(true), Some(ISSUER)));
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn rfc8707_2_the_issuers_own_resources_refuse_a_token_for_another_api() {
    let s = provider(Algorithm::EdDsa).with_userinfo(&["name"], |_| serde_json::Map::new());
    let for_api = ok(redeem(&s, &web_code(&s, &format!("&scope=read&resource={}", enc(API))), ""));
    let for_api = for_api["access_token"].as_str().unwrap();
    assert!(!accepted(&s, for_api), "a token for another API");
    let userinfo = |token: &str| {
        let request = http::Request::get("/userinfo").header("authorization", format!("Bearer {token}"));
        {
            let r = request.body(()).unwrap();
            block_on(s.userinfo(r.method(), r.headers(), now())).status()
        }
    };
    assert_eq!(userinfo(for_api), StatusCode::UNAUTHORIZED);
    let for_issuer = ok(redeem(&s, &web_code(&s, "&scope=read"), ""));
    assert_eq!(userinfo(for_issuer["access_token"].as_str().unwrap()), StatusCode::OK);
    let naming_the_issuer =
        ok(redeem(&s, &web_code(&s, &format!("&scope=read&resource={}&resource={}", enc(API), enc(ISSUER))), ""));
    assert!(
        accepted(&s, naming_the_issuer["access_token"].as_str().unwrap()),
        "a token naming the issuer among others"
    );
    // Introspection still reports it: the API it is for asks there.
    assert_eq!(introspect(&s, "api", for_api)["active"], true);
}

#[test]
fn rfc9068_4_a_key_rotated_in_at_another_instance_is_loaded_on_its_first_token() {
    // Two servers on one store: the second rotates, the first has its keys loaded from before.
    let a = provider(Algorithm::EdDsa);
    let jwt = ok(token(&a, "web", "grant_type=client_credentials", now()))["access_token"].as_str().unwrap().to_owned();
    let rotated = SigningKey::ed25519_from_seed("ed-2", &[9; 32]).unwrap();
    // Rotate behind the server's back, as another instance would: straight in the store.
    let record = KeyRecord {
        kid: "ed-2".into(),
        algorithm: "EdDSA".into(),
        private_key: rotated.to_pkcs8().unwrap(),
        created_at: now(),
        retired_until: None,
    };
    block_on(a.store().rotate_signing_key(record, now() + Duration::from_secs(3600))).unwrap();
    let claims: Value =
        serde_json::from_slice(&crate::jose::unb64(jwt.split('.').nth(1).unwrap(), "p").unwrap()).unwrap();
    let from_elsewhere = rotated.sign(Some("at+jwt"), &claims).unwrap();
    let later = now() + Duration::from_secs(10);
    let check = |token: &str, at| {
        block_on(a.resource_server().check_headers(&a, &bearer_headers(token), &crate::Scope::empty(), at))
    };
    assert!(check(&from_elsewhere, later).is_ok(), "the unknown kid made the server load its keys again");
    assert!(check(&jwt, later).is_ok(), "and the old key still verifies");
}

#[test]
fn rfc9449_6_1_a_jwt_access_token_names_its_dpop_key_in_cnf() {
    use crate::dpop::DpopKey;
    use crate::resource::{JwtCheck, Presented};
    let s = provider(Algorithm::EdDsa);
    let k = DpopKey::ed25519_from_seed(&[3; 32]).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let p = k.proof("POST", "https://as.example/token", None, None, now(), &mut rng).unwrap();
    let mut r = post("grant_type=client_credentials&scope=read", Some(&basic("web", "s3cret")));
    r.headers_mut().insert("dpop", p.parse().unwrap());
    let body = ok(block_on(s.token(r, now())));
    assert_eq!(body["token_type"], "DPoP");
    let at = body["access_token"].as_str().unwrap();
    // A resource server with the JWKS alone learns the binding.
    let grant = JwtCheck::new(ISSUER, ISSUER, &[Algorithm::EdDsa]).verify(at, &jwks(&s), now()).unwrap();
    assert_eq!(grant.jkt.as_deref(), Some(k.thumbprint()));
    // So does the issuer's own check of a token it keeps no record of, which then wants the proof.
    let proof = k.proof("GET", "https://as.example/r", Some(at), None, now(), &mut rng).unwrap();
    let authorization = format!("DPoP {at}");
    let presented = Presented::new("GET", "/r", [authorization.as_bytes()], [proof.as_bytes()]);
    let own = block_on(s.resource_server().check_presented(&s, &presented, &crate::Scope::parse("read"), now()));
    assert_eq!(own.unwrap().jkt.as_deref(), Some(k.thumbprint()));
    let as_bearer = format!("Bearer {at}");
    let presented = Presented::new("GET", "/r", [as_bearer.as_bytes()], std::iter::empty());
    let own = block_on(s.resource_server().check_presented(&s, &presented, &crate::Scope::parse("read"), now()));
    assert_eq!(own.unwrap_err().code(), &crate::ErrorCode::InvalidToken);
}

/// RFC 7800 §3.1: the presenter of a token with a `cnf` must prove what it confirms. A method this library cannot
/// check (RFC 8705's certificate thumbprint here) makes the token unusable, never a Bearer token.
#[test]
fn rfc7800_3_1_a_token_bound_by_another_confirmation_method_is_refused() {
    use crate::resource::JwtCheck;
    let key = SigningKey::ed25519_from_seed("k1", &[7; 32]).unwrap();
    let keys = JwkSet { keys: vec![key.public_jwk()] };
    let check = JwtCheck::new(ISSUER, API, &[Algorithm::EdDsa]);
    let exp = now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 300;
    let token = |cnf: Value| {
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "alice", "client_id": "web", "jti": "j1", "exp": exp, "iat": exp - 300,
            "aud": API, "scope": "read", "cnf": cnf,
        });
        key.sign(Some("at+jwt"), &claims).unwrap()
    };
    let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let dpop = check.verify(&token(serde_json::json!({ "jkt": jkt })), &keys, now()).unwrap();
    assert_eq!(dpop.jkt.as_deref(), Some(jkt));
    let mtls = serde_json::json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" });
    assert!(check.verify(&token(mtls), &keys, now()).is_err(), "a certificate-bound token");
    let both = serde_json::json!({ "jkt": jkt, "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" });
    assert!(check.verify(&token(both), &keys, now()).is_err(), "both methods: the certificate cannot be proved");
}
