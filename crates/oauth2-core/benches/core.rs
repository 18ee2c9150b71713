//! Micro-benchmarks of the core's hot transitions (`cargo bench -p oauth2-core`, or `cargo xtask bench` for the
//! whole report). Server side: authorization request validation, each grant's token transition, Bearer validation,
//! client authentication, token response serialization. Client side: authorization URL, code exchange request and
//! response, token response parsing, with the `oauth2` crate's equivalent operations measured beside ours.
//!
//! The in-memory store answers without waiting, so its futures complete on their first poll (`now_or_never`).

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use oauth2_core::form::FormParams;
use oauth2_core::grant::GrantType;
use oauth2_core::server::{
    AuthorizationServer, MemoryStore, OsTokenGenerator, RegisteredClient, ServerConfig, TokenResponse,
};
use oauth2_core::{Client, Scope};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const REDIRECT: &str = "https://app.example/cb";
/// `web:s3cret`, base64.
const BASIC: &str = "Basic d2ViOnMzY3JldA==";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const TOKEN_JSON: &[u8] = br#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","expires_in":3600,"refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","scope":"read profile"}"#;

/// Runs a future of the in-memory store, which never waits.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures_util::FutureExt::now_or_never(f).expect("the in-memory store answers without waiting")
}

fn server() -> AuthorizationServer<MemoryStore> {
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::confidential("web", "s3cret")
            .redirect_uris([REDIRECT])
            .grant_types([
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials,
                GrantType::Password,
            ])
            .scopes("read profile"),
    );
    AuthorizationServer::new(ServerConfig::new("https://as.example"), store, OsTokenGenerator)
        .with_password_verifier(|u, p| (u == "alice" && p == "wonderland").then(|| "alice".to_owned()))
}

fn token_request(body: String) -> http::Request<Vec<u8>> {
    http::Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", BASIC)
        .body(body.into_bytes())
        .expect("a valid request")
}

fn ok(response: &http::Response<Vec<u8>>) {
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(response.body()));
}

const AUTHORIZE_QUERY: &str = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
     &scope=read&state=xyz&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";

/// A fresh code for `web`, from a real authorization.
fn code(s: &AuthorizationServer<MemoryStore>, now: SystemTime) -> String {
    let request = block_on(s.authorization_request(AUTHORIZE_QUERY, now)).expect("valid request");
    let redirect = block_on(s.approve(&request, "alice", None, now)).expect("approved");
    let location = redirect.headers()["location"].to_str().expect("ascii").to_owned();
    let url = url::Url::parse(&location).expect("a URL");
    url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("a code")
}

fn refresh_token(s: &AuthorizationServer<MemoryStore>, now: SystemTime) -> String {
    let response =
        block_on(s.token(token_request("grant_type=password&username=alice&password=wonderland".into()), now));
    let body: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
    body["refresh_token"].as_str().expect("a refresh token").to_owned()
}

fn server_side(c: &mut Criterion) {
    let s = server();
    let now = SystemTime::now();
    let mut g = c.benchmark_group("server");

    g.bench_function("authorization request validation", |b| {
        b.iter(|| block_on(s.authorization_request(black_box(AUTHORIZE_QUERY), now)).expect("valid"));
    });
    g.bench_function("client authentication (Basic)", |b| {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", http::HeaderValue::from_static(BASIC));
        let params = FormParams::parse(b"grant_type=client_credentials").expect("form");
        b.iter(|| block_on(s.authenticate_client(black_box(&headers), &params)).expect("authenticated"));
    });
    g.bench_function("token: client_credentials", |b| {
        b.iter_batched(
            || token_request("grant_type=client_credentials".into()),
            |r| ok(&block_on(s.token(r, now))),
            BatchSize::SmallInput,
        );
    });
    g.bench_function("token: authorization_code + PKCE", |b| {
        b.iter_batched(
            || {
                let code = code(&s, now);
                token_request(format!(
                    "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
                     &code_verifier={VERIFIER}"
                ))
            },
            |r| ok(&block_on(s.token(r, now))),
            BatchSize::SmallInput,
        );
    });
    g.bench_function("token: password", |b| {
        b.iter_batched(
            || token_request("grant_type=password&username=alice&password=wonderland&scope=read".into()),
            |r| ok(&block_on(s.token(r, now))),
            BatchSize::SmallInput,
        );
    });
    g.bench_function("token: refresh_token (rotation)", |b| {
        b.iter_batched(
            || token_request(format!("grant_type=refresh_token&refresh_token={}", refresh_token(&s, now))),
            |r| ok(&block_on(s.token(r, now))),
            BatchSize::SmallInput,
        );
    });
    g.bench_function("bearer validation", |b| {
        let response = block_on(s.token(token_request("grant_type=client_credentials".into()), now));
        let body: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
        let mut headers = http::HeaderMap::new();
        let bearer = format!("Bearer {}", body["access_token"].as_str().expect("token"));
        headers.insert("authorization", http::HeaderValue::from_str(&bearer).expect("header"));
        let read = Scope::parse("read");
        let rs = s.resource_server();
        b.iter(|| block_on(rs.check_headers(&s, black_box(&headers), &read, now)).expect("valid"));
    });
    g.bench_function("token response serialization", |b| {
        let response = TokenResponse::new("2YotnFZFEjr1zCsicMWpAA", 3600)
            .scope("read profile")
            .refresh_token("tGzv3JOkF0XG5Qx2TlKWIA");
        b.iter(|| black_box(&response).to_json());
    });
    g.finish();
}

fn our_client() -> Client {
    Client::builder("web")
        .secret("s3cret")
        .authorization_endpoint("https://as.example/authorize")
        .token_endpoint("https://as.example/token")
        .redirect_uri(REDIRECT)
        .build()
        .expect("a valid client")
}

fn their_client() -> oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    oauth2::basic::BasicClient::new(oauth2::ClientId::new("web".into()))
        .set_client_secret(oauth2::ClientSecret::new("s3cret".into()))
        .set_auth_uri(oauth2::AuthUrl::new("https://as.example/authorize".into()).expect("url"))
        .set_token_uri(oauth2::TokenUrl::new("https://as.example/token".into()).expect("url"))
        .set_redirect_uri(oauth2::RedirectUrl::new(REDIRECT.into()).expect("url"))
}

fn canned_response() -> http::Response<Vec<u8>> {
    http::Response::builder()
        .header("content-type", "application/json")
        .body(TOKEN_JSON.to_vec())
        .expect("a valid response")
}

fn client_side(c: &mut Criterion) {
    let ours = our_client();
    let theirs = their_client();
    let now = SystemTime::now();
    let mut g = c.benchmark_group("client");

    // Both draw state and the PKCE verifier from a userspace CSPRNG: ours from the one it is given, oauth2-rs
    // from rand's thread generator.
    let rng = Mutex::new(ChaCha20Rng::seed_from_u64(7));
    g.bench_function("authorization URL + state + PKCE S256 (ours)", |b| {
        b.iter(|| ours.authorization_request(&mut *rng.lock().expect("lock")).scope("read profile").build());
    });
    g.bench_function("authorization URL + state + PKCE S256 (oauth2 crate)", |b| {
        b.iter(|| {
            let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
            let url = theirs
                .authorize_url(oauth2::CsrfToken::new_random)
                .add_scope(oauth2::Scope::new("read".into()))
                .add_scope(oauth2::Scope::new("profile".into()))
                .set_pkce_challenge(challenge)
                .url();
            black_box((url, verifier))
        });
    });

    let (_, pending) = ours.authorization_request(&mut *rng.lock().expect("lock")).scope("read").build().expect("url");
    let callback = format!("{REDIRECT}?code=SplxlOBeZQQYbYS6WxSbIA&state={}", pending.state.secret());
    g.bench_function("code exchange: callback check, request, response parse (ours)", |b| {
        b.iter(|| {
            let request = ours.finish_authorization(&pending, black_box(&callback)).expect("request");
            black_box(request);
            ours.parse_token_response(canned_response(), now).expect("token")
        });
    });
    g.bench_function("code exchange: request, response parse (oauth2 crate)", |b| {
        let http = |request: oauth2::HttpRequest| {
            black_box(request);
            Ok::<_, Infallible>(canned_response())
        };
        b.iter(|| {
            theirs
                .exchange_code(oauth2::AuthorizationCode::new("SplxlOBeZQQYbYS6WxSbIA".into()))
                .set_pkce_verifier(oauth2::PkceCodeVerifier::new(VERIFIER.into()))
                .request(&http)
                .expect("token")
        });
    });
    g.bench_function("token response parsing (ours)", |b| {
        b.iter_batched(canned_response, |r| ours.parse_token_response(r, now).expect("token"), BatchSize::SmallInput);
    });
    g.bench_function("token response parsing (oauth2 crate)", |b| {
        b.iter(|| serde_json::from_slice::<oauth2::basic::BasicTokenResponse>(black_box(TOKEN_JSON)).expect("token"));
    });
    g.finish();
    // The PKCE challenge the server side uses must be the RFC 7636 Appendix B one, or its benches measure errors.
    assert_eq!(
        oauth2_core::pkce::PkceVerifier::new(VERIFIER).expect("valid").challenge(oauth2_core::pkce::PkceMethod::S256),
        CHALLENGE
    );
}

/// JWS signing and verification per algorithm, on the RFCs' keys (RFC 7515 A.2 for RS256, A.3 for ES256, RFC 8037
/// A.1 for EdDSA), over an id_token-sized claims set.
fn jose(c: &mut Criterion) {
    use oauth2_core::jose::{Algorithm, JwkSet, SigningKey, verify};
    let keys = [
        include_str!("../src/jose/vectors/rfc7515_a2_rsa.json"),
        include_str!("../src/jose/vectors/rfc7515_a3_ec.json"),
        include_str!("../src/jose/vectors/rfc8037_a1_ed25519.json"),
    ];
    let claims = serde_json::json!({
        "iss": "https://as.example", "sub": "alice", "aud": "web-app", "azp": "web-app",
        "iat": 1_800_000_000u64, "exp": 1_800_000_300u64, "auth_time": 1_800_000_000u64,
        "nonce": "n-0S6_WzA2Mj", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
    });
    let mut g = c.benchmark_group("jose");
    for jwk in keys {
        let key = SigningKey::from_private_jwk(jwk).expect("the RFC key");
        let alg = key.algorithm();
        let set = JwkSet { keys: vec![key.public_jwk()] };
        g.bench_function(format!("{alg} sign (id_token)"), |b| b.iter(|| key.sign(Some("JWT"), black_box(&claims))));
        let token = key.sign(Some("JWT"), &claims).expect("signed");
        g.bench_function(format!("{alg} verify (id_token)"), |b| {
            b.iter(|| verify(black_box(&token), &set, &Algorithm::ALL).expect("verified"));
        });
    }
    g.finish();
}

/// The code grant with `openid` (an id_token signed per request) beside the plain code grant of `server_side`: RS256
/// (OpenID Connect's default) and EdDSA, on the RFC keys.
fn oidc(c: &mut Criterion) {
    use oauth2_core::jose::{Algorithm, SigningKey};
    let store = MemoryStore::new();
    for (id, alg) in [("web", "RS256"), ("web-ed", "EdDSA")] {
        store.add_client(
            RegisteredClient::confidential(id, "s3cret")
                .redirect_uris([REDIRECT])
                .scopes("openid read")
                .id_token_signed_response_alg(alg),
        );
    }
    let s = AuthorizationServer::new(ServerConfig::new("https://as.example"), store, OsTokenGenerator);
    let now = SystemTime::now();
    let keys = [
        (Algorithm::Rs256, include_str!("../src/jose/vectors/rfc7515_a2_rsa.json")),
        (Algorithm::EdDsa, include_str!("../src/jose/vectors/rfc8037_a1_ed25519.json")),
    ];
    for (alg, jwk) in keys {
        block_on(s.ensure_signing_key(alg, now, || SigningKey::from_private_jwk(jwk))).expect("a key");
    }
    let mut g = c.benchmark_group("server");
    for (client, basic, alg) in [("web", BASIC, "RS256"), ("web-ed", "Basic d2ViLWVkOnMzY3JldA==", "EdDSA")] {
        let query = format!(
            "response_type=code&client_id={client}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid%20read\
             &state=xyz&nonce=n-0S6_WzA2Mj&code_challenge={CHALLENGE}&code_challenge_method=S256"
        );
        g.bench_function(format!("token: authorization_code + PKCE + openid ({alg} id_token)"), |b| {
            b.iter_batched(
                || {
                    let request = block_on(s.authorization_request(&query, now)).expect("valid request");
                    let redirect = block_on(s.approve(&request, "alice", None, now)).expect("approved");
                    let location = redirect.headers()["location"].to_str().expect("ascii").to_owned();
                    let url = url::Url::parse(&location).expect("a URL");
                    let code =
                        url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("a code");
                    let mut r = token_request(format!(
                        "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
                         &code_verifier={VERIFIER}"
                    ));
                    r.headers_mut().insert("authorization", http::HeaderValue::from_static(basic));
                    r
                },
                |r| {
                    let response = block_on(s.token(r, now));
                    ok(&response);
                    assert!(response.body().windows(10).any(|w| w == b"\"id_token\""), "an id_token");
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

/// JWT access tokens (RFC 9068): a client-credentials issuance per algorithm (one signature, nothing stored), and
/// the check of an API that stands alone (`JwtCheck`, no cache), on the RFC keys.
fn jwt_access_tokens(c: &mut Criterion) {
    use oauth2_core::jose::{Algorithm, JwkSet, SigningKey};
    use oauth2_core::resource::JwtCheck;
    let keys = [
        (Algorithm::Rs256, include_str!("../src/jose/vectors/rfc7515_a2_rsa.json")),
        (Algorithm::Es256, include_str!("../src/jose/vectors/rfc7515_a3_ec.json")),
        (Algorithm::EdDsa, include_str!("../src/jose/vectors/rfc8037_a1_ed25519.json")),
    ];
    let mut g = c.benchmark_group("jwt");
    for (alg, jwk) in keys {
        let store = MemoryStore::new();
        store.add_client(
            RegisteredClient::confidential("bench", "bench-secret")
                .grant_types([GrantType::ClientCredentials])
                .scopes("read"),
        );
        let config = ServerConfig::new("https://as.example").jwt_access_tokens(alg);
        let s = AuthorizationServer::new(config, store, OsTokenGenerator);
        let keys = block_on(s.ensure_signing_key(alg, SystemTime::now(), || SigningKey::from_private_jwk(jwk)))
            .expect("a key");
        let request = || {
            let mut r = token_request("grant_type=client_credentials".into());
            r.headers_mut().insert("authorization", http::HeaderValue::from_static("Basic YmVuY2g6YmVuY2gtc2VjcmV0"));
            r
        };
        g.bench_function(format!("token: client_credentials ({alg} JWT)"), |b| {
            b.iter_batched(request, |r| ok(&block_on(s.token(r, SystemTime::now()))), BatchSize::SmallInput);
        });
        let response = block_on(s.token(request(), SystemTime::now()));
        let body: serde_json::Value = serde_json::from_slice(response.body()).expect("JSON");
        let token = body["access_token"].as_str().expect("a token").to_owned();
        let set: JwkSet = keys.jwks().clone();
        let check = JwtCheck::new("https://as.example", "https://as.example", &[alg]);
        g.bench_function(format!("API check, uncached ({alg})"), |b| {
            b.iter(|| check.verify(black_box(&token), &set, SystemTime::now()).expect("valid"));
        });
    }
    g.finish();
}

/// DPoP (RFC 9449, issue 17): the proof check against what it must not exceed by much, one signature verification
/// and one `jti` write; and the token request with a proof beside the plain one of `server_side`.
fn dpop(c: &mut Criterion) {
    use oauth2_core::dpop::{ALGORITHMS, DpopKey, Expected, check_proof};
    use oauth2_core::jose::{Algorithm, verify_self_signed};
    use oauth2_core::random::OsRng;
    use oauth2_core::secret::SecretHash;
    use oauth2_core::server::ReplayStore;
    let url = "https://as.example/token";
    let mut g = c.benchmark_group("dpop");
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let key = DpopKey::generate(alg, &mut OsRng).expect("a key");
        let now = SystemTime::now();
        let fresh = || key.proof("POST", url, None, None, now, &mut OsRng).expect("a proof");
        let proof = fresh();
        g.bench_function(format!("{alg} signature verification of a proof"), |b| {
            b.iter(|| verify_self_signed(black_box(&proof), &ALGORITHMS).expect("verified"));
        });
        g.bench_function(format!("{alg} proof check (RFC 9449 §4.3), without the jti write"), |b| {
            b.iter(|| check_proof(black_box(proof.as_bytes()), &Expected::new("POST", url, now)).expect("valid"));
        });
        let store = MemoryStore::new();
        let until = now + Duration::from_secs(121);
        g.bench_function(format!("{alg} proof check and jti write (MemoryStore)"), |b| {
            b.iter_batched(
                fresh,
                |p| {
                    let checked = check_proof(p.as_bytes(), &Expected::new("POST", url, now)).expect("valid");
                    assert!(block_on(store.first_use(&checked.replay_id(), until, now)).expect("stored"));
                },
                BatchSize::SmallInput,
            );
        });
        let s = server();
        g.bench_function(format!("token: client_credentials + {alg} DPoP proof"), |b| {
            b.iter_batched(
                || {
                    let mut r = token_request("grant_type=client_credentials".into());
                    r.headers_mut().insert("dpop", fresh().parse().expect("a header value"));
                    r
                },
                |r| ok(&block_on(s.token(r, now))),
                BatchSize::SmallInput,
            );
        });
    }
    let store = MemoryStore::new();
    let now = SystemTime::now();
    let mut n = 0u64;
    g.bench_function("jti write (MemoryStore)", |b| {
        b.iter(|| {
            // A millisecond later each time: the ids expire as a real window's do, and the store stays bounded.
            n += 1;
            let at = now + Duration::from_millis(n);
            let id = SecretHash::of(&n.to_string());
            assert!(block_on(store.first_use(&id, at + Duration::from_secs(121), at)).expect("stored"));
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = server_side, oidc, jwt_access_tokens, client_side, jose, dpop
}
criterion_main!(benches);
