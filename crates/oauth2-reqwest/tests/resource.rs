//! The resource server that stands alone (`oauth2_reqwest::resource`) against the testkit's stub issuer: JWTs with
//! the issuer's JWKS (refetched on an unknown `kid` at most once a minute), opaque tokens by introspection, and
//! the cache in front of both.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use oauth2_core::jose::{Algorithm, SigningKey};
use oauth2_core::resource::{AccessTokenVerifier, ResourceServer};
use oauth2_reqwest::resource::RemoteVerifier;
use oauth2_testkit::{CLIENT_ID, CLIENT_SECRET, StubServer, USERNAME};

const API: &str = "https://api.example";

async fn verify(v: &RemoteVerifier, token: &str) -> Option<oauth2_core::resource::AccessGrant> {
    let header = format!("Bearer {token}");
    let token = ResourceServer::new("api").bearer_token([header.as_bytes()]).unwrap();
    v.verify(&token, SystemTime::now()).await.unwrap()
}

fn jwt(key: &SigningKey, issuer: &str, aud: &str) -> String {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let claims = serde_json::json!({"iss": issuer, "aud": aud, "sub": "alice", "client_id": "app", "scope": "read",
                                    "jti": format!("j-{now}-{aud}"), "iat": now, "exp": now + 300});
    key.sign(Some("at+jwt"), &claims).unwrap()
}

#[tokio::test]
async fn rfc9068_4_jwts_are_checked_with_the_jwks_and_an_unknown_kid_refetches_once_a_minute() {
    let stub = StubServer::start().await;
    let k1 = SigningKey::ed25519_from_seed("k1", &[1; 32]).unwrap();
    *stub.state.jwks.lock().unwrap() = Some(serde_json::json!({"keys": [k1.public_jwk()]}));
    let v = RemoteVerifier::builder(&stub.base, API).algorithms(&[Algorithm::EdDsa]).discover().await.unwrap();
    let grant = verify(&v, &jwt(&k1, &stub.base, API)).await.expect("a valid JWT");
    assert_eq!(
        (grant.subject.as_deref(), &*grant.client_id, &*grant.audience),
        (Some("alice"), "app", &[API.to_owned()][..])
    );
    assert_eq!(stub.state.jwks_calls.load(Ordering::SeqCst), 1, "the keys are fetched once");
    assert!(verify(&v, &jwt(&k1, &stub.base, "https://other.example")).await.is_none(), "another audience");
    assert!(verify(&v, &jwt(&k1, "https://evil.example", API)).await.is_none(), "another issuer");
    // A token naming a key the set lacks: one refetch, then refused; the next unknown kid within the minute makes
    // no request at all.
    let k2 = SigningKey::ed25519_from_seed("k2", &[2; 32]).unwrap();
    assert!(verify(&v, &jwt(&k2, &stub.base, API)).await.is_none(), "an unknown kid after a refetch");
    assert_eq!(stub.state.jwks_calls.load(Ordering::SeqCst), 2);
    let k3 = SigningKey::ed25519_from_seed("k3", &[3; 32]).unwrap();
    let cached = v.cache().len();
    assert!(verify(&v, &jwt(&k3, &stub.base, API)).await.is_none());
    assert_eq!(stub.state.jwks_calls.load(Ordering::SeqCst), 2, "forged kids do not make the API a request amplifier");
    assert_eq!(v.cache().len(), cached, "a refusal for a kid not seen yet is not kept: the next refetch may find it");
    let other_audience = jwt(&k1, &stub.base, "https://elsewhere.example");
    assert!(verify(&v, &other_audience).await.is_none());
    assert_eq!(v.cache().len(), cached + 1, "other refusals are kept");
    // A fresh verifier after the issuer rotated in k2 finds it.
    *stub.state.jwks.lock().unwrap() = Some(serde_json::json!({"keys": [k2.public_jwk(), k1.public_jwk()]}));
    let fresh = RemoteVerifier::builder(&stub.base, API).discover().await.unwrap();
    assert!(verify(&fresh, &jwt(&k2, &stub.base, API)).await.is_some());
}

#[tokio::test]
async fn rfc7662_2_1_opaque_tokens_are_introspected_and_the_answer_cached() {
    let stub = StubServer::start().await;
    stub.state.add_access_token("opaque-1");
    stub.state.add_access_token("for-another-api");
    let v = RemoteVerifier::builder(&stub.base, API).introspection(CLIENT_ID, CLIENT_SECRET).discover().await.unwrap();
    // An answer for another audience is refused, whatever the issuer chose to show this resource server.
    *stub.state.introspection_aud.lock().unwrap() = Some("https://other.example".into());
    assert!(verify(&v, "for-another-api").await.is_none(), "another API's token");
    *stub.state.introspection_aud.lock().unwrap() = Some(API.into());
    let grant = verify(&v, "opaque-1").await.expect("an active token");
    assert_eq!((grant.subject.as_deref(), &*grant.client_id), (Some(USERNAME), CLIENT_ID));
    assert!(grant.expires_at <= SystemTime::now() + Duration::from_secs(60), "no exp: held at most the cache's age");
    assert!(verify(&v, "opaque-1").await.is_some());
    assert_eq!(stub.state.introspect_calls.load(Ordering::SeqCst), 2, "the second check is a cache hit");
    // Revoked at the issuer: this API sees it when the entry is forgotten (at most a minute later).
    stub.state.revoke_access_token("opaque-1");
    assert!(verify(&v, "opaque-1").await.is_some(), "still cached");
    v.cache().forget(&oauth2_core::secret::SecretHash::of("opaque-1"));
    assert!(verify(&v, "opaque-1").await.is_none(), "asked again, and refused");
    assert!(verify(&v, "unknown").await.is_none());
    assert!(verify(&v, "unknown").await.is_none());
    assert_eq!(stub.state.introspect_calls.load(Ordering::SeqCst), 4, "a refusal is cached too");
}

#[tokio::test]
async fn an_unreachable_issuer_is_an_error_never_a_grant() {
    let stub = StubServer::start().await;
    stub.state.add_access_token("opaque-2");
    *stub.state.introspection_aud.lock().unwrap() = Some(API.into());
    let v = RemoteVerifier::builder(&stub.base, API).introspection(CLIENT_ID, CLIENT_SECRET).discover().await.unwrap();
    drop(stub);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let header = "Bearer opaque-2".to_owned();
    let token = ResourceServer::new("api").bearer_token([header.as_bytes()]).unwrap();
    assert!(v.verify(&token, SystemTime::now()).await.is_err(), "503 at the adapters, not 401 and not a grant");
}

#[tokio::test]
async fn rfc8414_2_a_jwks_uri_over_plain_http_beyond_loopback_is_refused() {
    let stub = StubServer::start().await;
    *stub.state.metadata_jwks_uri.lock().unwrap() = Some("http://keys.example/jwks".into());
    let refused = RemoteVerifier::builder(&stub.base, API).discover().await.unwrap_err();
    assert!(matches!(refused, oauth2_reqwest::Error::Insecure(_)), "{refused}");
}

#[tokio::test]
async fn rfc7662_2_2_an_introspection_exp_beyond_any_clock_is_no_panic() {
    let stub = StubServer::start().await;
    stub.state.add_access_token("far-future");
    *stub.state.introspection_aud.lock().unwrap() = Some(API.into());
    *stub.state.introspection_exp.lock().unwrap() = Some(u64::MAX);
    let v = RemoteVerifier::builder(&stub.base, API).introspection(CLIENT_ID, CLIENT_SECRET).discover().await.unwrap();
    let grant = verify(&v, "far-future").await.expect("active");
    assert!(grant.expires_at <= SystemTime::now() + Duration::from_secs(61), "held no longer than the cache's age");
}

/// RFC 9449 §6.2 and RFC 7800 §3.1: an introspected `cnf.jkt` binds the grant to the DPoP key; a `cnf` with a
/// method that cannot be checked here (a certificate's thumbprint) leaves no grant at all, not a Bearer one.
#[tokio::test]
async fn rfc7800_3_1_introspected_confirmations_bind_or_refuse() {
    let stub = StubServer::start().await;
    stub.state.add_access_token("bound");
    *stub.state.introspection_aud.lock().unwrap() = Some(API.into());
    let v = RemoteVerifier::builder(&stub.base, API).introspection(CLIENT_ID, CLIENT_SECRET).discover().await.unwrap();
    let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    *stub.state.introspection_cnf.lock().unwrap() = Some(serde_json::json!({ "jkt": jkt }));
    assert_eq!(verify(&v, "bound").await.expect("a DPoP-bound token").jkt.as_deref(), Some(jkt));
    v.cache().forget(&oauth2_core::secret::SecretHash::of("bound"));
    *stub.state.introspection_cnf.lock().unwrap() =
        Some(serde_json::json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }));
    assert!(verify(&v, "bound").await.is_none(), "a certificate-bound token is not taken");
}
