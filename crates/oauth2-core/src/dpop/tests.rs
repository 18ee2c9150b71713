//! RFC 9449 §4: proofs as the client makes them and the server checks them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;

const TOKEN_URL: &str = "https://as.example/token";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(9449)
}

fn ed_key() -> DpopKey {
    DpopKey::ed25519_from_seed(&[7; 32]).unwrap()
}

/// Signs `header` and `claims` as they are, with `key`: for proofs the client type would never make.
fn forged(key: &DpopKey, header: serde_json::Value, claims: serde_json::Value) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = key.key.signature(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signature))
}

fn claims() -> serde_json::Value {
    serde_json::json!({"jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": TOKEN_URL, "iat": 1_800_000_000u64})
}

fn header(key: &DpopKey) -> serde_json::Value {
    serde_json::json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.public_jwk()})
}

fn check(proof: &str) -> Result<Proof, DpopError> {
    check_proof(proof.as_bytes(), &Expected::new("POST", TOKEN_URL, now()))
}

#[test]
fn rfc9449_4_2_a_proof_has_the_header_and_claims_of_the_rfc() {
    let key = ed_key();
    let proof = key.proof("POST", "https://as.example/token?x=1#f", None, Some("n-1"), now(), &mut rng()).unwrap();
    let parts: Vec<&str> = proof.split('.').collect();
    let header: serde_json::Value = serde_json::from_slice(&unb64(parts[0], "h").unwrap()).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&unb64(parts[1], "c").unwrap()).unwrap();
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["jwk"].get("d").is_none(), "no private member: {header}");
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], TOKEN_URL, "without query and fragment");
    assert_eq!(claims["iat"], 1_800_000_000u64);
    assert_eq!(claims["nonce"], "n-1");
    assert!(claims["jti"].as_str().unwrap().len() >= 16, "96 bits at least");
    assert!(claims.get("ath").is_none());
    let other = key.proof("POST", TOKEN_URL, None, None, now(), &mut rng()).unwrap();
    let with_ath =
        key.proof("GET", "https://rs.example/r", Some("tok"), None, now(), &mut ChaCha20Rng::seed_from_u64(1));
    assert_ne!(proof, with_ath.unwrap());
    assert_eq!(check(&other).unwrap().jkt, key.thumbprint());
}

#[test]
fn rfc9449_4_3_a_proof_is_checked_and_names_its_key() {
    for key in [ed_key(), DpopKey::generate(Algorithm::Es256, &mut crate::random::OsRng).unwrap()] {
        let proof = key.proof("POST", TOKEN_URL, None, None, now(), &mut rng()).unwrap();
        let checked = check(&proof).unwrap();
        assert_eq!(checked.jkt, key.public_jwk().thumbprint().unwrap());
        assert_eq!(checked.issued_at, now());
        assert_eq!(checked.nonce, None);
        assert_eq!(checked.replay_id(), SecretHash::of(&format!("{}.{}", checked.jkt, checked.jti)));
    }
}

#[test]
fn rfc9449_4_3_rs256_proofs_are_accepted() {
    let key =
        SigningKey::from_pkcs8(Algorithm::Rs256, "r", include_bytes!("../jose/vectors/rfc7515_a2_rsa.pk8")).unwrap();
    let jwk = key.public_jwk();
    let header =
        Header { alg: "RS256".into(), kid: None, typ: Some("dpop+jwt".into()), jwk: Some(jwk.clone()), crit: None };
    let proof = key.sign_with_header(&header, claims().to_string().as_bytes()).unwrap();
    assert_eq!(check(&proof).unwrap().jkt, jwk.thumbprint().unwrap());
}

#[test]
fn rfc9449_4_3_the_header_must_be_a_dpop_proofs() {
    let key = ed_key();
    let mut jwt = header(&key);
    jwt["typ"] = "JWT".into();
    assert_eq!(check(&forged(&key, jwt, claims())), Err(DpopError::Invalid("typ is not dpop+jwt")));
    let mut private = header(&key);
    private["jwk"]["d"] = "AAAA".into();
    assert_eq!(check(&forged(&key, private, claims())), Err(DpopError::Invalid("the jwk is a private key")));
    let mut none = header(&key);
    none["alg"] = "none".into();
    assert!(check(&forged(&key, none, claims())).is_err());
    let mut hs = header(&key);
    hs["alg"] = "HS256".into();
    assert!(check(&forged(&key, hs, claims())).is_err());
    let mut no_jwk = header(&key);
    no_jwk.as_object_mut().unwrap().remove("jwk");
    assert!(check(&forged(&key, no_jwk, claims())).is_err());
}

#[test]
fn rfc9449_4_3_a_proof_signed_by_another_key_than_it_carries_is_refused() {
    let (key, other) = (ed_key(), DpopKey::ed25519_from_seed(&[8; 32]).unwrap());
    let proof = forged(&other, header(&key), claims());
    assert_eq!(check(&proof), Err(DpopError::Invalid("the signature does not verify with the proof's key")));
}

#[test]
fn rfc9449_4_3_each_claim_is_required() {
    let key = ed_key();
    for name in ["jti", "htm", "htu", "iat"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(name);
        assert!(check(&forged(&key, header(&key), c)).is_err(), "{name}");
    }
    let mut long = claims();
    long["jti"] = "x".repeat(MAX_JTI_BYTES + 1).into();
    assert!(check(&forged(&key, header(&key), long)).is_err());
}

#[test]
fn rfc9449_4_3_htm_and_htu_must_be_this_requests() {
    let key = ed_key();
    let proof = key.proof("POST", TOKEN_URL, None, None, now(), &mut rng()).unwrap();
    let get = check_proof(proof.as_bytes(), &Expected::new("GET", TOKEN_URL, now()));
    assert_eq!(get, Err(DpopError::Invalid("htm is not this request's method")));
    let par = check_proof(proof.as_bytes(), &Expected::new("POST", "https://as.example/par", now()));
    assert_eq!(par, Err(DpopError::Invalid("htu is not this request's URL")));
    let lower = key.proof("post", TOKEN_URL, None, None, now(), &mut rng()).unwrap();
    assert!(check(&lower).is_err(), "htm is compared exactly");
}

#[test]
fn rfc9449_4_3_htu_is_compared_without_query_and_after_normalization() {
    for same in [
        "https://as.example/token",
        "HTTPS://AS.example/token",
        "https://as.example:443/token",
        "https://as.example/a/../token",
        "https://as.example/token?q=1",
        "https://as.example/token#frag",
    ] {
        assert!(htu_matches(same, TOKEN_URL), "{same}");
    }
    for other in [
        "http://as.example/token",
        "https://as.example:8443/token",
        "https://evil.example/token",
        "https://as.example/token/",
        "https://as.example/Token",
        "https://user@as.example/token",
        "token",
        "",
    ] {
        assert!(!htu_matches(other, TOKEN_URL), "{other}");
    }
}

#[test]
fn rfc9449_4_3_htu_is_compared_after_percent_encoding_normalization() {
    // RFC 3986 §6.2.2.2: an encoded unreserved character is that character; §6.2.2.1: hex digits in either case.
    for (htu, url) in [
        ("https://as.example/%74oken", TOKEN_URL),
        ("https://as.example/%7Euser/token", "https://as.example/~user/token"),
        ("https://as.example/%7euser/token", "https://as.example/~user/token"),
        ("https://as.example/a%2fb", "https://as.example/a%2Fb"),
        ("https://as.example/caf%c3%a9", "https://as.example/caf%C3%A9"),
        ("https://as.example/café", "https://as.example/caf%C3%A9"),
    ] {
        assert!(htu_matches(htu, url), "{htu} names {url}");
    }
    assert!(htu_matches("https://as.example/a%3fb", "https://as.example/a%3Fb"));
    // A reserved character stays encoded: `%2F` is not a path separator; `%25` is a `%`, not the start of an escape.
    // A `%` that starts no escape is compared as written: decoding around it would make `%%32F` the `%2F` of
    // another path, which a framework routes as another resource.
    for (htu, url) in [
        ("https://as.example/a%2Fb", "https://as.example/a/b"),
        ("https://as.example/%2574oken", TOKEN_URL),
        ("https://as.example/a%3Fb", "https://as.example/a%253Fb"),
        ("https://as.example/a%2Fb", "https://as.example/a%%32Fb"),
        ("https://as.example/%%34A", "https://as.example/%4%41"),
        ("https://as.example/%zz", "https://as.example/%25zz"),
    ] {
        assert!(!htu_matches(htu, url), "{htu} does not name {url}");
        assert!(!htu_matches(url, htu), "{url} does not name {htu}");
    }
}

#[test]
fn rfc9449_4_3_a_request_path_with_dot_segments_matches_no_proof() {
    // Parsing removes dot segments, but the server routed the path as it came: a proof for /admin is no proof for
    // /public/../admin, which may be another handler's.
    for url in [
        "https://rs.example/public/../admin",
        "https://rs.example/public/%2e%2E/admin",
        "https://rs.example/public/.%2e/admin",
        "https://rs.example/public/./../admin",
        "https://rs.example/public\\..\\admin",
        "https://rs.example/./admin",
    ] {
        assert!(!htu_matches("https://rs.example/admin", url), "{url}");
        assert!(!htu_matches(url, url), "{url}");
    }
    // Nor a request path in any other form than the normal one: the router saw it as written (a `\` is no `/` to
    // it, and `%61dmin` may reach a handler that `admin` does not), so only the htu is normalized.
    for (htu, url) in [
        ("https://rs.example/admin/x", "https://rs.example/admin\\x"),
        ("https://rs.example/admin", "https://rs.example/%61dmin"),
        ("https://rs.example/a~b", "https://rs.example/a%7eb"),
        ("https://rs.example/a%2Fb", "https://rs.example/a%2fb"),
        ("https://rs.example/a%7Bb", "https://rs.example/a{b"),
        ("https://rs.example/caf%C3%A9", "https://rs.example/café"),
        ("https://rs.example/admin", "https://rs.example/public/.\t./admin"),
        ("https://rs.example/admin", "https://user@rs.example/admin"),
    ] {
        assert!(!htu_matches(htu, url), "{htu} does not name {url}");
    }
    // In the proof's htu, a dot segment is normalized away (RFC 3986 §6.2.2.3), and dots within a segment are none.
    assert!(htu_matches("https://rs.example/public/../admin", "https://rs.example/admin"));
    assert!(htu_matches("https://rs.example/v1.2/..a/.b", "https://rs.example/v1.2/..a/.b"));
}

#[test]
fn rfc9449_4_3_iat_must_be_within_the_window() {
    let key = ed_key();
    for offset in [-60i64, 0, 60] {
        let at = UNIX_EPOCH + Duration::from_secs((1_800_000_000 + offset) as u64);
        let proof = key.proof("POST", TOKEN_URL, None, None, at, &mut rng()).unwrap();
        assert!(check(&proof).is_ok(), "{offset}");
    }
    for offset in [-61i64, 61, -3600] {
        let at = UNIX_EPOCH + Duration::from_secs((1_800_000_000 + offset) as u64);
        let proof = key.proof("POST", TOKEN_URL, None, None, at, &mut rng()).unwrap();
        assert_eq!(check(&proof), Err(DpopError::Invalid("iat is outside the accepted window")), "{offset}");
    }
    let mut c = claims();
    c["iat"] = "1800000000".into();
    assert!(check(&forged(&key, header(&key), c)).is_err(), "a string is not a NumericDate");
}

#[test]
fn rfc9449_4_3_at_a_resource_ath_must_be_the_tokens_hash() {
    let key = ed_key();
    let url = "https://rs.example/photos";
    let expected = Expected::new("GET", url, now()).access_token("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU");
    let proof = key.proof("GET", url, Some("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"), None, now(), &mut rng());
    assert!(check_proof(proof.unwrap().as_bytes(), &expected).is_ok());
    let without = key.proof("GET", url, None, None, now(), &mut rng()).unwrap();
    assert_eq!(check_proof(without.as_bytes(), &expected), Err(DpopError::Invalid("ath is missing")));
    let other = key.proof("GET", url, Some("another"), None, now(), &mut rng()).unwrap();
    assert_eq!(
        check_proof(other.as_bytes(), &expected),
        Err(DpopError::Invalid("ath is not the hash of the access token"))
    );
}

#[test]
fn rfc9449_4_2_ath_is_the_published_example() {
    // RFC 9449 §7.1's example: the access token and the ath of its proof.
    assert_eq!(
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn rfc9449_8_server_nonces_are_good_for_their_slot_and_the_next() {
    let issuer = NonceIssuer::new(&[3; 32], Duration::from_secs(300));
    let nonce = issuer.current(now());
    assert!(issuer.accepts(&nonce, now()));
    assert!(issuer.accepts(&nonce, now() + Duration::from_secs(300)));
    assert!(!issuer.accepts(&nonce, now() + Duration::from_secs(600)), "two slots later");
    assert!(!NonceIssuer::new(&[4; 32], Duration::from_secs(300)).accepts(&nonce, now()), "another secret");
    for garbage in ["", "abc", "!!!", &nonce[..nonce.len() - 1]] {
        assert!(!issuer.accepts(garbage, now()), "{garbage}");
    }
}

#[test]
fn rfc9449_8_the_client_remembers_each_servers_nonce() {
    let mut nonces = DpopNonces::new();
    let mut headers = http::HeaderMap::new();
    headers.insert(DPOP_NONCE, "eyJ7S_zG.eyJH0-Z.HX4w-7v".parse().unwrap());
    assert!(nonces.observe("https://as.example/token", &headers));
    assert!(!nonces.observe("https://as.example/par", &headers), "the same nonce");
    assert_eq!(nonces.get("https://as.example/userinfo"), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
    assert_eq!(nonces.get("https://rs.example/"), None, "per server");
    headers.insert(DPOP_NONCE, "has space".parse().unwrap());
    assert!(!nonces.observe("https://as.example/token", &headers), "not NQCHAR");
    for i in 0..100 {
        headers.insert(DPOP_NONCE, "n".parse().unwrap());
        nonces.observe(&format!("https://s{i}.example/"), &headers);
    }
    assert!(nonces.by_origin.len() <= MAX_NONCE_SERVERS);
}

#[test]
fn dpop_keys_round_trip_as_private_jwks() {
    for key in [ed_key(), DpopKey::generate(Algorithm::Es256, &mut crate::random::OsRng).unwrap()] {
        let jwk = key.to_private_jwk().unwrap();
        assert!(jwk.secret().contains("\"d\":"));
        let back = DpopKey::from_private_jwk(jwk.secret()).unwrap();
        assert_eq!((back.thumbprint(), back.algorithm()), (key.thumbprint(), key.algorithm()));
        assert!(!format!("{key:?}").contains(jwk.secret()));
    }
    assert!(DpopKey::generate(Algorithm::Rs256, &mut crate::random::OsRng).is_err());
}

proptest::proptest! {
    #[test]
    fn no_proof_makes_the_parser_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let _ = check_proof(&bytes, &Expected::new("POST", TOKEN_URL, now()));
    }

    #[test]
    fn no_dotted_proof_makes_the_parser_panic(
        header in "[A-Za-z0-9_-]{0,80}", claims in "[A-Za-z0-9_-]{0,80}", signature in "[A-Za-z0-9_-]{0,90}",
    ) {
        let _ = check_proof(format!("{header}.{claims}.{signature}").as_bytes(), &Expected::new("POST", TOKEN_URL, now()));
    }

    #[test]
    fn no_signed_claims_make_the_checker_panic(claims in "\\PC{0,200}") {
        let key = ed_key();
        let input = format!("{}.{}", b64(header(&key).to_string()), b64(&claims));
        let proof = format!("{input}.{}", b64(key.key.signature(input.as_bytes()).unwrap()));
        let _ = check(&proof);
    }
}
