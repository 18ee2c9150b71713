//! JOSE tests: the RFCs' published vectors, then every refusal, then parsers under arbitrary input.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::json;

use super::*;

/// RFC 7515 Appendix A.2.1: the RSA key of the RS256 example.
pub(crate) const RFC7515_RSA: &str = include_str!("vectors/rfc7515_a2_rsa.json");
/// RFC 7515 Appendix A.3.1: the P-256 key of the ES256 example.
pub(crate) const RFC7515_EC: &str = include_str!("vectors/rfc7515_a3_ec.json");
/// RFC 8037 Appendix A.1: the Ed25519 key.
pub(crate) const RFC8037_ED25519: &str = include_str!("vectors/rfc8037_a1_ed25519.json");

fn rsa() -> SigningKey {
    SigningKey::from_private_jwk(RFC7515_RSA).unwrap()
}
fn ec() -> SigningKey {
    SigningKey::from_private_jwk(RFC7515_EC).unwrap()
}
fn ed() -> SigningKey {
    SigningKey::from_private_jwk(RFC8037_ED25519).unwrap()
}

const ISSUER: &str = "https://as.example";
const NOW: u64 = 1_800_000_000;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
}

fn claims() -> serde_json::Value {
    json!({"iss": ISSUER, "sub": "alice", "aud": "app", "iat": NOW, "exp": NOW + 300})
}

fn set(keys: &[&SigningKey]) -> JwkSet {
    JwkSet { keys: keys.iter().map(|k| k.public_jwk()).collect() }
}

fn validation() -> Validation<'static> {
    Validation::new(ISSUER, "app", &Algorithm::ALL, now())
}

/// A compact JWS with `header` and `claims` and a signature of junk: for refusals that come before the signature.
fn unsigned(header: serde_json::Value, claims: &serde_json::Value) -> String {
    format!("{}.{}.{}", b64(header.to_string()), b64(claims.to_string()), b64([1u8; 64]))
}

#[test]
fn rfc7515_appendix_a_2_rs256_signature_is_the_published_one() {
    let v: serde_json::Value = serde_json::from_str(include_str!("vectors/rfc7515_a2_jws.json")).unwrap();
    let jws = v["jws"].as_str().unwrap();
    let (input, signature) = jws.rsplit_once('.').unwrap();
    // RSASSA-PKCS1-v1_5 is deterministic: our signature over the RFC's signing input is the RFC's.
    assert_eq!(b64(rsa().signature(input.as_bytes()).unwrap()), signature);
    let verified = verify(jws, &set(&[&rsa()]), &[Algorithm::Rs256]).unwrap();
    assert_eq!(verified.algorithm, Algorithm::Rs256);
    assert!(String::from_utf8(verified.payload).unwrap().contains("joe"));
}

#[test]
fn rfc7515_appendix_a_3_es256_published_signature_verifies() {
    let v: serde_json::Value = serde_json::from_str(include_str!("vectors/rfc7515_a3_jws.json")).unwrap();
    let jws = v["jws"].as_str().unwrap();
    verify(jws, &set(&[&ec()]), &[Algorithm::Es256]).unwrap();
    // ECDSA signatures are randomized: ours differ each time and verify as well.
    let ours = ec().sign(None, &claims()).unwrap();
    assert_ne!(ours, ec().sign(None, &claims()).unwrap());
    verify(&ours, &set(&[&ec()]), &[Algorithm::Es256]).unwrap();
}

#[test]
fn rfc8037_appendix_a_4_ed25519_signature_is_the_published_one() {
    let v: serde_json::Value = serde_json::from_str(include_str!("vectors/rfc8037_a4_jws.json")).unwrap();
    let jws = v["jws"].as_str().unwrap();
    let (input, signature) = jws.rsplit_once('.').unwrap();
    assert_eq!(b64(ed().signature(input.as_bytes()).unwrap()), signature);
    let verified = verify(jws, &set(&[&ed()]), &[Algorithm::EdDsa]).unwrap();
    assert_eq!(verified.payload, b"Example of Ed25519 signing");
}

#[test]
fn rfc8037_appendix_a_3_and_rfc7638_3_1_thumbprints_are_the_published_ones() {
    let published = |file: &str| -> (Jwk, String) {
        let v: serde_json::Value = serde_json::from_str(file).unwrap();
        (serde_json::from_value(v["jwk"].clone()).unwrap(), v["thumbprint"].as_str().unwrap().to_owned())
    };
    for file in [include_str!("vectors/rfc7638_3_1.json"), include_str!("vectors/rfc8037_a3.json")] {
        let (jwk, thumbprint) = published(file);
        assert_eq!(jwk.thumbprint().unwrap(), thumbprint);
    }
    // Members beyond the required ones (kid, alg, use) do not change a thumbprint.
    assert_eq!(ed().public_jwk().thumbprint().unwrap(), published(include_str!("vectors/rfc8037_a3.json")).1);
}

#[test]
fn oidc_core_3_1_3_6_at_hash_is_the_published_one() {
    // OpenID Connect Core 1.0 Appendix A.3: an RS256 ID Token's at_hash of its access token.
    assert_eq!(half_hash(Algorithm::Rs256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    assert_eq!(half_hash(Algorithm::Es256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    // EdDSA takes SHA-512's left half: 32 bytes, 43 characters.
    assert_eq!(half_hash(Algorithm::EdDsa, "x").len(), 43);
}

#[test]
fn rfc7517_5_every_algorithm_signs_and_verifies_and_keys_survive_pkcs8() {
    for key in [rsa(), ec(), ed()] {
        let jwt = key.sign(Some("JWT"), &claims()).unwrap();
        let keys = set(&[&key]);
        let back: serde_json::Value = validation().decode(&jwt, &keys).unwrap();
        assert_eq!(back["sub"], "alice");
        let again = SigningKey::from_pkcs8(key.algorithm(), "k2", &key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(again.public_jwk().thumbprint().unwrap(), key.public_jwk().thumbprint().unwrap());
        assert_eq!(again.kid(), "k2");
    }
}

#[test]
fn the_committed_pkcs8_of_the_rfc7515_key_is_that_key() {
    // `vectors/rfc7515_a2_rsa.pk8` is the RFC 7515 A.2 key as PKCS#8 DER: tests hand it to the demo providers
    // (OAUTH2_DEMO_RS256_KEY) so that no RSA key is made per test.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/jose/vectors/rfc7515_a2_rsa.pk8");
    if std::env::var_os("OAUTH2_WRITE_VECTORS").is_some() {
        std::fs::write(path, rsa().to_pkcs8().unwrap()).unwrap();
    }
    let der = std::fs::read(path).expect("the committed PKCS#8 file");
    let key = SigningKey::from_pkcs8(Algorithm::Rs256, "k", &der).unwrap();
    assert_eq!(key.public_jwk().thumbprint().unwrap(), rsa().public_jwk().thumbprint().unwrap());
}

#[test]
fn ed25519_keys_come_from_a_seed_deterministically() {
    let a = SigningKey::ed25519_from_seed("a", &[9; 32]).unwrap();
    let b = SigningKey::ed25519_from_seed("a", &[9; 32]).unwrap();
    assert_eq!(a.public_jwk(), b.public_jwk());
    assert_ne!(a.public_jwk(), SigningKey::ed25519_from_seed("a", &[8; 32]).unwrap().public_jwk());
    // The RFC 8037 key's seed is its `d`: the same key either way.
    let d: serde_json::Value = serde_json::from_str(RFC8037_ED25519).unwrap();
    let seed: [u8; 32] = unb64(d["d"].as_str().unwrap(), "d").unwrap().try_into().unwrap();
    assert_eq!(SigningKey::ed25519_from_seed("x", &seed).unwrap().public_jwk().x, ed().public_jwk().x);
}

#[test]
fn a_private_key_never_shows_in_debug() {
    for key in [rsa(), ec(), ed()] {
        let debug = format!("{key:?}");
        let pkcs8 = b64(key.to_pkcs8().unwrap());
        assert!(debug.contains("[redacted]") && !debug.contains(&pkcs8[..16]), "{debug}");
    }
    let d: serde_json::Value = serde_json::from_str(RFC8037_ED25519).unwrap();
    assert!(!format!("{:?}", ed()).contains(d["d"].as_str().unwrap()));
}

#[test]
fn rfc7518_3_1_none_and_hmac_are_refused_whatever_the_keys() {
    let keys = set(&[&rsa(), &ec(), &ed()]);
    let none = format!("{}.{}.", b64(json!({"alg": "none"}).to_string()), b64(claims().to_string()));
    assert_eq!(verify(&none, &keys, &Algorithm::ALL).unwrap_err(), JoseError::Algorithm("none".into()));
    // HS256 keyed with the public key, the classic confusion attack: the MAC is right, and refused anyway.
    let public = serde_json::to_vec(&rsa().public_jwk()).unwrap();
    let input = format!("{}.{}", b64(json!({"alg": "HS256"}).to_string()), b64(claims().to_string()));
    let mac =
        aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public), input.as_bytes());
    let hs256 = format!("{input}.{}", b64(mac.as_ref()));
    assert_eq!(verify(&hs256, &keys, &Algorithm::ALL).unwrap_err(), JoseError::Algorithm("HS256".into()));
}

#[test]
fn only_the_algorithms_the_caller_pins_are_accepted() {
    let jwt = ed().sign(None, &claims()).unwrap();
    let keys = set(&[&ed()]);
    assert_eq!(verify(&jwt, &keys, &[Algorithm::Rs256]).unwrap_err(), JoseError::Algorithm("EdDSA".into()));
    // A key of another type under the token's kid does not verify it.
    let mut wrong = rsa().public_jwk();
    wrong.kid = Some(ed().kid().into());
    assert_eq!(verify(&jwt, &JwkSet { keys: vec![wrong] }, &Algorithm::ALL).unwrap_err(), JoseError::Signature);
    // A key published for another algorithm, or for encryption, does not either.
    let mut other_alg = ed().public_jwk();
    other_alg.alg = Some("ES256".into());
    assert_eq!(verify(&jwt, &JwkSet { keys: vec![other_alg] }, &Algorithm::ALL).unwrap_err(), JoseError::Signature);
    let mut enc = ed().public_jwk();
    enc.use_ = Some("enc".into());
    assert_eq!(verify(&jwt, &JwkSet { keys: vec![enc] }, &Algorithm::ALL).unwrap_err(), JoseError::Signature);
}

#[test]
fn rfc7515_5_2_a_tampered_token_is_refused() {
    for key in [rsa(), ec(), ed()] {
        let jwt = key.sign(None, &claims()).unwrap();
        let keys = set(&[&key]);
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        let mut bytes = unb64(signature, "s").unwrap();
        bytes[0] ^= 1;
        let flipped = format!("{input}.{}", b64(&bytes));
        assert_eq!(verify(&flipped, &keys, &Algorithm::ALL).unwrap_err(), JoseError::Signature);
        let (header, _) = input.split_once('.').unwrap();
        let other = json!({"iss": ISSUER, "sub": "mallory", "aud": "app", "iat": NOW, "exp": NOW + 300});
        let swapped = format!("{header}.{}.{signature}", b64(other.to_string()));
        assert_eq!(verify(&swapped, &keys, &Algorithm::ALL).unwrap_err(), JoseError::Signature);
    }
}

#[test]
fn a_token_of_an_unknown_kid_says_so_so_that_a_jwks_cache_refetches() {
    let jwt = SigningKey::ed25519_from_seed("new", &[1; 32]).unwrap().sign(None, &claims()).unwrap();
    let stale = set(&[&SigningKey::ed25519_from_seed("old", &[2; 32]).unwrap()]);
    assert_eq!(verify(&jwt, &stale, &Algorithm::ALL).unwrap_err(), JoseError::UnknownKey(Some("new".into())));
}

#[test]
fn without_a_kid_every_fitting_key_is_tried() {
    let (old, new) = (SigningKey::ed25519_from_seed("old", &[2; 32]).unwrap(), ed());
    let header = Header { alg: "EdDSA".into(), kid: None, typ: None, jwk: None, crit: None };
    let jwt = new.sign_with_header(&header, claims().to_string().as_bytes()).unwrap();
    let verified = verify(&jwt, &set(&[&rsa(), &old, &new]), &Algorithm::ALL).unwrap();
    assert_eq!(verified.key.kid.as_deref(), Some(new.kid()));
}

#[test]
fn a_token_carrying_its_own_key_is_verified_with_that_key_only() {
    let header =
        |jwk: Jwk| Header { alg: "ES256".into(), kid: None, typ: Some("dpop+jwt".into()), jwk: Some(jwk), crit: None };
    let proof = ec().sign_with_header(&header(ec().public_jwk()), b"{}").unwrap();
    let verified = verify_self_signed(&proof, &[Algorithm::Es256]).unwrap();
    assert_eq!(verified.key.thumbprint().unwrap(), ec().public_jwk().thumbprint().unwrap());
    // Signed by one key, claiming another: refused.
    let ed_header =
        Header { alg: "EdDSA".into(), ..header(SigningKey::ed25519_from_seed("o", &[5; 32]).unwrap().public_jwk()) };
    let lying = ed().sign_with_header(&ed_header, b"{}").unwrap();
    assert_eq!(verify_self_signed(&lying, &Algorithm::ALL).unwrap_err(), JoseError::Signature);
    let no_key = ec().sign(None, &claims()).unwrap();
    assert!(matches!(verify_self_signed(&no_key, &Algorithm::ALL), Err(JoseError::Malformed(_))));
}

#[test]
fn rfc7515_4_1_11_a_critical_extension_is_refused() {
    let header =
        Header { alg: "EdDSA".into(), kid: Some(ed().kid().into()), typ: None, jwk: None, crit: Some(json!(["exp"])) };
    let jwt = ed().sign_with_header(&header, claims().to_string().as_bytes()).unwrap();
    assert_eq!(verify(&jwt, &set(&[&ed()]), &Algorithm::ALL).unwrap_err(), JoseError::Critical);
}

#[test]
fn rfc7515_4_1_9_typ_is_compared_without_case_and_application_prefix() {
    let keys = set(&[&ed()]);
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
        let jwt = ed().sign(Some(typ), &claims()).unwrap();
        validation().typ("at+jwt").check(&jwt, &keys).unwrap();
    }
    for typ in [Some("JWT"), None, Some("application/jwt")] {
        let jwt = ed().sign(typ, &claims()).unwrap();
        let err = validation().typ("at+jwt").check(&jwt, &keys).unwrap_err();
        assert_eq!(err, JoseError::Type { expected: "at+jwt", found: typ.map(str::to_owned) });
    }
}

#[test]
fn rfc7519_4_1_1_and_4_1_3_issuer_and_audience_must_match() {
    let keys = set(&[&ed()]);
    let sign = |c: serde_json::Value| ed().sign(None, &c).unwrap();
    let mut c = claims();
    c["iss"] = json!("https://evil.example");
    assert_eq!(validation().check(&sign(c), &keys).unwrap_err(), JoseError::Issuer);
    let mut c = claims();
    c["aud"] = json!("other-app");
    assert_eq!(validation().check(&sign(c), &keys).unwrap_err(), JoseError::Audience);
    let mut c = claims();
    c["aud"] = json!(["other-app", "app"]);
    validation().check(&sign(c), &keys).unwrap();
    let mut c = claims();
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(validation().check(&sign(c), &keys).unwrap_err(), JoseError::Audience);
}

#[test]
fn rfc7519_4_1_4_and_4_1_5_times_hold_with_a_bounded_leeway() {
    let keys = set(&[&ed()]);
    let at =
        |secs: u64| Validation::new(ISSUER, "app", &Algorithm::ALL, SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
    let jwt = ed().sign(None, &claims()).unwrap();
    at(NOW + 300 + 59).check(&jwt, &keys).unwrap();
    assert_eq!(at(NOW + 300 + 60).check(&jwt, &keys).unwrap_err(), JoseError::Expired);
    assert_eq!(at(NOW - 61).check(&jwt, &keys).unwrap_err(), JoseError::NotYetValid);
    // No leeway beyond five minutes, whatever is asked.
    let lax = at(NOW + 300 + 301).leeway(Duration::from_secs(3600));
    assert_eq!(lax.check(&jwt, &keys).unwrap_err(), JoseError::Expired);
    at(NOW + 300 + 299).leeway(Duration::from_secs(3600)).check(&jwt, &keys).unwrap();
    let mut c = claims();
    c["nbf"] = json!(NOW + 120);
    assert_eq!(at(NOW).check(&ed().sign(None, &c).unwrap(), &keys).unwrap_err(), JoseError::NotYetValid);
    for missing in ["exp", "iat"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(missing);
        assert!(matches!(at(NOW).check(&ed().sign(None, &c).unwrap(), &keys), Err(JoseError::Claim(_))));
    }
    let mut c = claims();
    c["exp"] = json!("soon");
    assert_eq!(at(NOW).check(&ed().sign(None, &c).unwrap(), &keys).unwrap_err(), JoseError::Claim("exp"));
}

#[test]
fn malformed_tokens_are_refused_before_any_key_is_used() {
    let keys = set(&[&ed()]);
    let good = ed().sign(None, &claims()).unwrap();
    let padded = format!("{}=", good);
    let long = format!("{}.{}.{}", "a".repeat(MAX_JWS_BYTES), "b", "c");
    let two_dots_in_payload = format!("{good}.x");
    for bad in ["", "a", "a.b", "a.b.c", &padded, &long, &two_dots_in_payload] {
        assert!(
            matches!(verify(bad, &keys, &Algorithm::ALL), Err(JoseError::Malformed(_) | JoseError::Algorithm(_))),
            "{bad:.40}"
        );
    }
    let not_json = unsigned(json!("EdDSA"), &claims());
    assert_eq!(verify(&not_json, &keys, &Algorithm::ALL).unwrap_err(), JoseError::Malformed("header"));
    let duplicate = format!("{}.{}.{}", b64(r#"{"alg":"EdDSA","alg":"none"}"#), b64("{}"), b64([0u8; 64]));
    assert_eq!(verify(&duplicate, &keys, &Algorithm::ALL).unwrap_err(), JoseError::Malformed("header"));
}

#[test]
fn unusable_keys_are_refused() {
    assert!(SigningKey::from_pkcs8(Algorithm::Rs256, "k", b"not DER").is_err());
    // A P-256 key is not an RSA or an Ed25519 key.
    let ec_der = ec().to_pkcs8().unwrap();
    assert!(SigningKey::from_pkcs8(Algorithm::Rs256, "k", &ec_der).is_err());
    assert!(SigningKey::from_pkcs8(Algorithm::EdDsa, "k", &ec_der).is_err());
    // A private JWK whose public part is another key's.
    let mut jwk: serde_json::Value = serde_json::from_str(RFC8037_ED25519).unwrap();
    jwk["x"] = json!(ed25519_x(&[3; 32]));
    assert!(SigningKey::from_private_jwk(&jwk.to_string()).is_err());
    assert!(SigningKey::from_private_jwk(r#"{"kty":"oct","k":"c2VjcmV0"}"#).is_err());
}

fn ed25519_x(seed: &[u8; 32]) -> String {
    SigningKey::ed25519_from_seed("k", seed).unwrap().public_jwk().x.unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_token_makes_the_verifier_panic(token in "[A-Za-z0-9_.=-]{0,400}") {
        let keys = set(&[&ed()]);
        let _ = verify(&token, &keys, &Algorithm::ALL);
        let _ = validation().check(&token, &keys);
    }

    #[test]
    fn no_mutation_of_a_good_token_verifies_or_panics(at in 0usize..400, byte in any::<u8>()) {
        let good = ed().sign(None, &claims()).unwrap();
        let mut bytes = good.clone().into_bytes();
        let at = at % bytes.len();
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        let Ok(bad) = String::from_utf8(bytes) else { return Ok(()) };
        // base64url is decoded canonically (no padding, no stray trailing bits): every change is a change.
        prop_assert!(verify(&bad, &set(&[&ed()]), &Algorithm::ALL).is_err());
    }

    #[test]
    fn no_jwk_makes_the_parsers_panic(json in "\\{(\"(kty|crv|x|y|n|e|d|kid|alg|use)\":\"[A-Za-z0-9_-]{0,60}\",?){0,8}\\}") {
        let _ = SigningKey::from_private_jwk(&json);
        if let Ok(jwk) = serde_json::from_str::<Jwk>(&json) {
            let _ = jwk.thumbprint();
            for alg in Algorithm::ALL {
                let _ = jwk.verify(alg, b"input", &[0; 64]);
            }
        }
    }
}
