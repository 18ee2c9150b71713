//! Client-side rules, one test per RFC rule, named by section. Messages are RFC 6749's examples where it has them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::error::{ErrorCode, ErrorResponse};
use crate::form::FormParams;
use crate::grant::ResponseType;
use crate::metadata::AuthorizationServerMetadata;
use crate::pkce::PkceVerifier;
use crate::secret::State;

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(42)
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The client of RFC 6749's examples: id s6BhdRkqt3, secret gX1fBat3bV.
fn rfc_client() -> ClientBuilder {
    Client::builder("s6BhdRkqt3")
        .secret("gX1fBat3bV")
        .authorization_endpoint("https://server.example.com/authorize")
        .token_endpoint("https://server.example.com/token")
        .revocation_endpoint("https://server.example.com/revoke")
        .introspection_endpoint("https://server.example.com/introspect")
        .redirect_uri("https://client.example.com/cb")
}

fn client() -> Client {
    rfc_client().build().unwrap()
}

fn pending_with_state(state: &str) -> PendingAuthorization {
    PendingAuthorization {
        response_type: ResponseType::Code,
        state: State::new(state),
        pkce_verifier: None,
        redirect_uri: Some("https://client.example.com/cb".into()),
        scope: Scope::empty(),
        nonce: None,
    }
}

fn json(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json;charset=UTF-8")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn form_of(req: &http::Request<Vec<u8>>) -> FormParams {
    FormParams::parse(req.body()).unwrap()
}

fn query_of(url: &url::Url) -> FormParams {
    FormParams::parse(url.query().unwrap_or("").as_bytes()).unwrap()
}

const RFC_TOKEN_RESPONSE: &str = r#"{
  "access_token":"2YotnFZFEjr1zCsicMWpAA",
  "token_type":"example",
  "expires_in":3600,
  "refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA",
  "example_parameter":"example_value"
}"#;

// ---- §4.1.1 authorization request ----

#[test]
fn rfc6749_4_1_1_authorization_request_carries_required_parameters() {
    let c = client();
    let (url, pending) = c.authorization_request(&mut rng()).scope("read profile").build().unwrap();
    assert!(url.as_str().starts_with("https://server.example.com/authorize?"));
    let q = query_of(&url);
    assert_eq!(q.get("response_type"), Some("code"));
    assert_eq!(q.get("client_id"), Some("s6BhdRkqt3"));
    assert_eq!(q.get("redirect_uri"), Some("https://client.example.com/cb"));
    assert_eq!(q.get("scope"), Some("read profile"));
    assert_eq!(q.get("state"), Some(pending.state.secret()));
    assert_eq!(pending.redirect_uri.as_deref(), Some("https://client.example.com/cb"));
    assert_eq!(pending.scope, Scope::parse("read profile"));
}

#[test]
fn rfc6749_10_12_state_has_at_least_128_bits_and_differs_per_request() {
    let c = client();
    let mut r = rng();
    let (_, a) = c.authorization_request(&mut r).build().unwrap();
    let (_, b) = c.authorization_request(&mut r).build().unwrap();
    // 43 base64url characters = 256 bits.
    assert_eq!(a.state.secret().len(), 43);
    assert_ne!(a.state, b.state);
}

#[test]
fn rfc7636_4_3_s256_challenge_is_sent_by_default() {
    let c = client();
    let (url, pending) = c.authorization_request(&mut rng()).build().unwrap();
    let q = query_of(&url);
    let verifier = pending.pkce_verifier.as_ref().unwrap();
    assert_eq!(q.get("code_challenge_method"), Some("S256"));
    assert_eq!(q.get("code_challenge"), Some(verifier.challenge(crate::pkce::PkceMethod::S256).as_str()));
    assert!(PkceVerifier::new(verifier.secret()).is_ok());

    let no_pkce = rfc_client().pkce(None).build().unwrap();
    let (url, pending) = no_pkce.authorization_request(&mut rng()).build().unwrap();
    assert_eq!(query_of(&url).get("code_challenge"), None);
    assert!(pending.pkce_verifier.is_none());
}

#[test]
fn rfc6749_3_1_extra_parameters_are_added_but_cannot_override_protocol_ones() {
    let c = client();
    let (url, _) = c.authorization_request(&mut rng()).param("access_type", "offline").build().unwrap();
    assert_eq!(query_of(&url).get("access_type"), Some("offline"));
    let err = c.authorization_request(&mut rng()).param("state", "fixed").build().unwrap_err();
    assert_eq!(err, RequestError::ReservedParameter("state".into()));
    // Setting a parameter twice keeps one: servers reject repeated parameters.
    let (url, _) =
        c.authorization_request(&mut rng()).param("prompt", "login").param("prompt", "consent").build().unwrap();
    assert_eq!(url.query_pairs().filter(|(k, _)| k == "prompt").count(), 1);
    assert_eq!(query_of(&url).get("prompt"), Some("consent"));
}

#[test]
fn rfc6749_3_1_endpoint_query_is_kept() {
    let c = rfc_client().authorization_endpoint("https://server.example.com/authorize?tenant=a").build().unwrap();
    let (url, _) = c.authorization_request(&mut rng()).build().unwrap();
    assert_eq!(query_of(&url).get("tenant"), Some("a"));
}

#[test]
fn rfc6749_3_3_invalid_scope_characters_are_refused() {
    let err = client().client_credentials_request("bad\"scope").unwrap_err();
    assert!(matches!(err, RequestError::InvalidScope(_)));
}

#[test]
fn pending_authorization_round_trips_through_serde() {
    let (_, pending) = client().authorization_request(&mut rng()).scope("a b").build().unwrap();
    let json = serde_json::to_string(&pending).unwrap();
    let back: PendingAuthorization = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pending);
    assert!(!format!("{pending:?}").contains(pending.state.secret()));
}

// ---- §4.1.2 the callback ----

#[test]
fn rfc6749_4_1_2_callback_yields_the_code() {
    let c = client();
    let code = c
        .parse_callback(
            &pending_with_state("xyz"),
            "https://client.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
        )
        .unwrap();
    assert_eq!(code.secret(), "SplxlOBeZQQYbYS6WxSbIA");
    // A bare query string works too, and a path with its query, as a web framework sees the request.
    assert!(c.parse_callback(&pending_with_state("xyz"), "?code=a&state=xyz").is_ok());
    assert!(c.parse_callback(&pending_with_state("xyz"), "code=a&state=xyz").is_ok());
    let from_path = c.parse_callback(&pending_with_state("xyz"), "/cb?code=from-path&state=xyz").unwrap();
    assert_eq!(from_path.secret(), "from-path");
}

#[test]
fn rfc6749_10_12_state_mismatch_is_rejected_as_csrf() {
    let c = client();
    let p = pending_with_state("xyz");
    for cb in [
        "https://client.example.com/cb?code=abc&state=xyZ",
        "https://client.example.com/cb?code=abc",
        "https://client.example.com/cb?code=abc&state=",
        "https://client.example.com/cb?error=access_denied&state=other",
    ] {
        assert_eq!(c.parse_callback(&p, cb), Err(CallbackError::StateMismatch), "{cb}");
    }
    // A pending value with no state accepts nothing, not even a callback without one.
    let empty = pending_with_state("");
    assert_eq!(c.parse_callback(&empty, "/cb?code=abc"), Err(CallbackError::StateMismatch));
    assert_eq!(c.parse_callback(&empty, "/cb?code=abc&state="), Err(CallbackError::StateMismatch));
    assert_eq!(CallbackError::StateMismatch.code(), "state_mismatch");
}

#[test]
fn rfc6749_4_1_2_1_error_callback_is_typed() {
    let c = client();
    let err = c
        .parse_callback(
            &pending_with_state("xyz"),
            "https://client.example.com/cb?error=access_denied&error_description=User+said+no&error_uri=https%3A%2F%2Fx&state=xyz",
        )
        .unwrap_err();
    assert_eq!(
        err,
        CallbackError::Provider(ErrorResponse {
            error: ErrorCode::AccessDenied,
            error_description: Some("User said no".into()),
            error_uri: Some("https://x".into()),
        })
    );
    assert_eq!(err.code(), "access_denied");
}

#[test]
fn rfc6749_4_1_2_callback_without_code_is_an_error() {
    let err =
        client().parse_callback(&pending_with_state("xyz"), "https://client.example.com/cb?state=xyz").unwrap_err();
    assert_eq!(err, CallbackError::MissingCode);
}

#[test]
fn rfc6749_3_1_callback_with_repeated_parameter_is_rejected() {
    let err = client()
        .parse_callback(&pending_with_state("xyz"), "https://client.example.com/cb?code=a&code=b&state=xyz")
        .unwrap_err();
    assert!(matches!(err, CallbackError::Malformed(_)));
}

#[test]
fn rfc9207_2_4_iss_must_match_the_issuer() {
    let c = rfc_client().issuer("https://server.example.com").build().unwrap();
    let p = pending_with_state("xyz");
    let ok = "https://client.example.com/cb?code=a&state=xyz&iss=https%3A%2F%2Fserver.example.com";
    assert!(c.parse_callback(&p, ok).is_ok());
    let bad = "https://client.example.com/cb?code=a&state=xyz&iss=https%3A%2F%2Fevil.example";
    assert!(matches!(c.parse_callback(&p, bad), Err(CallbackError::IssuerMismatch { .. })));
    // Error responses are checked too.
    let bad_err = "https://client.example.com/cb?error=access_denied&state=xyz&iss=https%3A%2F%2Fevil.example";
    assert!(matches!(c.parse_callback(&p, bad_err), Err(CallbackError::IssuerMismatch { .. })));
    // Absent iss is accepted unless required.
    assert!(c.parse_callback(&p, "?code=a&state=xyz").is_ok());
}

#[test]
fn rfc9207_2_4_iss_required_when_metadata_says_it_is_sent() {
    let metadata = AuthorizationServerMetadata {
        issuer: "https://server.example.com".into(),
        authorization_endpoint: Some("https://server.example.com/authorize".into()),
        token_endpoint: Some("https://server.example.com/token".into()),
        authorization_response_iss_parameter_supported: Some(true),
        ..Default::default()
    };
    let c = Client::builder("s6BhdRkqt3").metadata(&metadata).build().unwrap();
    let p = pending_with_state("xyz");
    assert_eq!(c.parse_callback(&p, "?code=a&state=xyz"), Err(CallbackError::MissingIssuer));
    assert!(c.parse_callback(&p, "?code=a&state=xyz&iss=https://server.example.com").is_ok());
    assert_eq!(Client::builder("x").require_issuer(true).build().unwrap_err(), ConfigError::MissingIssuer);
}

// ---- §4.1.3 code exchange and §2.3.1 client authentication ----

#[test]
fn rfc6749_4_1_3_code_exchange_request() {
    let c = client();
    let (_, pending) = c.authorization_request(&mut rng()).build().unwrap();
    let callback =
        format!("https://client.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state={}", pending.state.secret());
    let req = c.finish_authorization(&pending, &callback).unwrap();
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri(), "https://server.example.com/token");
    assert_eq!(req.headers()[CONTENT_TYPE], "application/x-www-form-urlencoded");
    // RFC 6749 §4.1.3's example header for s6BhdRkqt3:gX1fBat3bV.
    assert_eq!(req.headers()[AUTHORIZATION], "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
    assert!(req.headers()[AUTHORIZATION].is_sensitive());
    let body = form_of(&req);
    assert_eq!(body.get("grant_type"), Some("authorization_code"));
    assert_eq!(body.get("code"), Some("SplxlOBeZQQYbYS6WxSbIA"));
    assert_eq!(body.get("redirect_uri"), Some("https://client.example.com/cb"));
    assert_eq!(body.get("code_verifier"), pending.pkce_verifier.as_ref().map(|v| v.secret()));
    assert_eq!(body.get("client_secret"), None);
}

#[test]
fn rfc6749_2_3_1_basic_credentials_are_form_encoded_before_base64() {
    let v = basic_credentials("my client:1", "p@ss wörd/+%");
    let b64 = v.to_str().unwrap().strip_prefix("Basic ").unwrap();
    use base64::Engine;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap();
    assert_eq!(decoded, "my+client%3A1:p%40ss+w%C3%B6rd%2F%2B%25");
}

#[test]
fn rfc6749_2_3_1_client_secret_post_puts_credentials_in_the_body() {
    let c = rfc_client().auth_method(ClientAuthMethod::ClientSecretPost).build().unwrap();
    let req = c.client_credentials_request(Scope::empty()).unwrap();
    assert!(req.headers().get(AUTHORIZATION).is_none());
    let body = form_of(&req);
    assert_eq!(body.get("client_id"), Some("s6BhdRkqt3"));
    assert_eq!(body.get("client_secret"), Some("gX1fBat3bV"));
}

#[test]
fn rfc6749_3_2_1_public_client_sends_only_its_id() {
    let c = Client::builder("public-app").token_endpoint("https://server.example.com/token").build().unwrap();
    assert_eq!(c.auth_method(), ClientAuthMethod::None);
    let req = c.refresh_request(&RefreshToken::new("tGzv3JOkF0XG5Qx2TlKWIA"), Scope::empty()).unwrap();
    assert!(req.headers().get(AUTHORIZATION).is_none());
    assert_eq!(form_of(&req).get("client_id"), Some("public-app"));
    assert_eq!(form_of(&req).get("client_secret"), None);
    let err = Client::builder("x").auth_method(ClientAuthMethod::ClientSecretBasic).build().unwrap_err();
    assert_eq!(err, ConfigError::MissingSecret("client_secret_basic"));
}

// ---- §4.2 implicit ----

#[test]
fn rfc6749_4_2_2_implicit_token_comes_in_the_fragment() {
    let c = client();
    let (url, mut pending) = c.implicit_request(&mut rng()).scope("read").build().unwrap();
    assert_eq!(query_of(&url).get("response_type"), Some("token"));
    assert_eq!(query_of(&url).get("code_challenge"), None);
    pending.state = State::new("xyz");
    let cb = "http://example.com/cb#access_token=2YotnFZFEjr1zCsicMWpAA&state=xyz&token_type=example&expires_in=3600";
    let token = c.finish_implicit(&pending, cb, now()).unwrap();
    assert_eq!(token.access_token.secret(), "2YotnFZFEjr1zCsicMWpAA");
    assert_eq!(token.token_type, TokenType::Other("example".into()));
    assert_eq!(token.expires_at, Some(now() + Duration::from_secs(3600)));
    assert_eq!(token.scope, Some(Scope::parse("read")));
    assert!(token.extra.is_empty());
    // §4.2.2: token_type is required in the fragment too, unless the client is lenient.
    let untyped = "http://example.com/cb#access_token=x&state=xyz";
    assert!(matches!(c.finish_implicit(&pending, untyped, now()), Err(CallbackError::Malformed(_))));
    let forged = "http://example.com/cb#access_token=x&state=abc&token_type=Bearer";
    assert_eq!(c.finish_implicit(&pending, forged, now()), Err(CallbackError::StateMismatch));
    let denied = "http://example.com/cb#error=access_denied&state=xyz";
    assert_eq!(c.finish_implicit(&pending, denied, now()).unwrap_err().code(), "access_denied");
    // The flows are not interchangeable.
    assert!(matches!(c.parse_callback(&pending, "?code=a&state=xyz"), Err(CallbackError::Request(_))));
}

// ---- §4.3, §4.4, §6 grant requests ----

#[test]
fn rfc6749_4_3_2_password_request() {
    let req = client().password_request("johndoe", &Password::new("A3ddj3w"), Scope::empty()).unwrap();
    let body = form_of(&req);
    assert_eq!(body.get("grant_type"), Some("password"));
    assert_eq!(body.get("username"), Some("johndoe"));
    assert_eq!(body.get("password"), Some("A3ddj3w"));
    assert_eq!(body.get("scope"), None);
    assert_eq!(req.headers()[AUTHORIZATION], "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
}

#[test]
fn rfc6749_4_4_2_client_credentials_request() {
    let req = client().client_credentials_request("read write").unwrap();
    let body = form_of(&req);
    assert_eq!(body.get("grant_type"), Some("client_credentials"));
    assert_eq!(body.get("scope"), Some("read write"));
}

#[test]
fn rfc6749_6_refresh_request_with_narrower_scope() {
    let req = client().refresh_request(&RefreshToken::new("tGzv3JOkF0XG5Qx2TlKWIA"), ["read"]).unwrap();
    let body = form_of(&req);
    assert_eq!(body.get("grant_type"), Some("refresh_token"));
    assert_eq!(body.get("refresh_token"), Some("tGzv3JOkF0XG5Qx2TlKWIA"));
    assert_eq!(body.get("scope"), Some("read"));
}

#[test]
fn rfc6749_6_old_refresh_token_is_kept_when_none_is_returned() {
    let c = client();
    let mut previous = Token::new("old");
    previous.refresh_token = Some(RefreshToken::new("tGzv3JOkF0XG5Qx2TlKWIA"));
    previous.scope = Some(Scope::parse("read write"));
    let token = c
        .parse_refresh_response(
            json(200, r#"{"access_token":"new","token_type":"Bearer"}"#),
            &previous,
            &Scope::empty(),
            now(),
        )
        .unwrap();
    assert_eq!(token.refresh_token, previous.refresh_token);
    assert_eq!(token.scope, previous.scope);
    // §5.1: an omitted scope is the requested one.
    let narrowed = c
        .parse_refresh_response(
            json(200, r#"{"access_token":"new","token_type":"Bearer"}"#),
            &previous,
            &Scope::parse("read"),
            now(),
        )
        .unwrap();
    assert_eq!(narrowed.scope, Some(Scope::parse("read")));
    let rotated = c
        .parse_refresh_response(
            json(200, r#"{"access_token":"new","token_type":"Bearer","refresh_token":"r2","scope":"read"}"#),
            &previous,
            &Scope::empty(),
            now(),
        )
        .unwrap();
    assert_eq!(rotated.refresh_token, Some(RefreshToken::new("r2")));
    assert_eq!(rotated.scope, Some(Scope::parse("read")));
}

#[test]
fn token_requests_need_a_token_endpoint() {
    let c = Client::builder("x").build().unwrap();
    assert_eq!(
        c.client_credentials_request(Scope::empty()).unwrap_err(),
        RequestError::MissingEndpoint("token_endpoint")
    );
    assert_eq!(c.revocation_request("t", None).unwrap_err(), RequestError::MissingEndpoint("revocation_endpoint"));
}

// ---- §5.1, §5.2 token responses ----

#[test]
fn rfc6749_5_1_example_token_response() {
    let token = client().parse_token_response(json(200, RFC_TOKEN_RESPONSE), now()).unwrap();
    assert_eq!(token.access_token.secret(), "2YotnFZFEjr1zCsicMWpAA");
    assert_eq!(token.token_type, TokenType::Other("example".into()));
    assert_eq!(token.expires_at, Some(now() + Duration::from_secs(3600)));
    assert_eq!(token.refresh_token, Some(RefreshToken::new("tGzv3JOkF0XG5Qx2TlKWIA")));
    assert_eq!(token.extra.get("example_parameter").and_then(|v| v.as_str()), Some("example_value"));
    assert!(!token.is_expired(now() + Duration::from_secs(3599)));
    assert!(token.is_expired(now() + Duration::from_secs(3600)));
}

#[test]
fn rfc6749_5_1_token_type_is_case_insensitive_and_scope_parsed() {
    let token = client()
        .parse_token_response(json(200, r#"{"access_token":"a","token_type":"bEaReR","scope":"read write"}"#), now())
        .unwrap();
    assert_eq!(token.token_type, TokenType::Bearer);
    assert_eq!(token.scope, Some(Scope::parse("read write")));
    assert_eq!(token.expires_at, None);
}

#[test]
fn token_round_trips_through_serde_with_absolute_expiry() {
    let token = client().parse_token_response(json(200, RFC_TOKEN_RESPONSE), now()).unwrap();
    let saved = serde_json::to_value(&token).unwrap();
    assert_eq!(saved["expires_at"], 1_700_003_600u64);
    let back: Token = serde_json::from_value(saved).unwrap();
    assert_eq!(back, token);
    let shown = format!("{token:?}");
    assert!(!shown.contains("2YotnFZFEjr1zCsicMWpAA") && !shown.contains("example_value"), "{shown}");
}

#[test]
fn rfc6749_5_2_example_error_response() {
    let err = client().parse_token_response(json(400, r#"{"error":"invalid_request"}"#), now()).unwrap_err();
    assert_eq!(
        err,
        ResponseError::Provider {
            status: StatusCode::BAD_REQUEST,
            error: ErrorResponse::new(ErrorCode::InvalidRequest)
        }
    );
    let err = client()
        .parse_token_response(json(401, r#"{"error":"invalid_client","error_description":"bad secret"}"#), now())
        .unwrap_err();
    assert_eq!(err.code(), "invalid_client");
    assert_eq!(err.description(), "bad secret");
    let err = client().parse_token_response(json(400, r#"{"error":"authorization_pending"}"#), now()).unwrap_err();
    assert_eq!(err.code(), "authorization_pending");
}

#[test]
fn rfc6749_5_1_responses_that_break_the_rfc_are_unexpected_with_an_excerpt() {
    let html = http::Response::builder()
        .status(502)
        .header(CONTENT_TYPE, "text/html")
        .body(format!("  <html>{}</html>  ", "x".repeat(500)).into_bytes())
        .unwrap();
    match client().parse_token_response(html, now()).unwrap_err() {
        ResponseError::UnexpectedResponse { status, excerpt, .. } => {
            assert_eq!(status, StatusCode::BAD_GATEWAY);
            assert!(excerpt.starts_with("<html>"));
            assert_eq!(excerpt.chars().count(), 200);
        }
        other => panic!("{other:?}"),
    }
    for body in [
        r#"{"token_type":"Bearer"}"#,
        r#"{"access_token":"a"}"#,
        r#"{"access_token":"a","token_type":"Bearer","expires_in":"3600"}"#,
        r#"{"access_token":"a","token_type":"Bearer","expires_in":-5}"#,
        r#"{"access_token":5,"token_type":"Bearer"}"#,
        r#"["not an object"]"#,
        r#"{"error":"invalid_grant"}"#,
        r#"{"access_token":"a","token_type":""}"#,
        r#"{"access_token":"a","token_type":null}"#,
    ] {
        let err = client().parse_token_response(json(200, body), now()).unwrap_err();
        assert_eq!(err.code(), "unexpected_response", "{body}");
    }
    let created = json(201, r#"{"access_token":"a","token_type":"Bearer"}"#);
    // A malformed success still carries live tokens: they never reach the error text.
    let leaky = json(200, r#"{"access_token":"live-secret-at","refresh_token":"live-secret-rt","expires_in":"3600"}"#);
    let err = client().parse_token_response(leaky, now()).unwrap_err();
    let shown = format!("{err} {err:?} {}", err.description());
    assert!(!shown.contains("live-secret"), "{shown}");
    assert!(shown.contains("[redacted]"));
    assert_eq!(client().parse_token_response(created, now()).unwrap_err().code(), "unexpected_response");
    // Nested, truncated or repeated: the secret stays out of the error however the body is malformed.
    for body in [
        r#"{"data":{"access_token":"live-secret-nested"},"list":[{"refresh_token":"live-secret-in-array"}]}"#,
        r#"{"access_token":"live-secret-truncated","token_ty"#,
    ] {
        let err = client().parse_token_response(json(200, body), now()).unwrap_err();
        let shown = format!("{err} {err:?} {}", err.description());
        assert!(!shown.contains("live-secret"), "{shown}");
    }
    let repeated = http::Response::builder()
        .status(400)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(b"access_token=live-secret-form&access_token=again".to_vec())
        .unwrap();
    let err = lenient_client().parse_token_response(repeated, now()).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("live-secret"), "{err:?}");
    // A page that merely mentions a secret field's name as a word keeps its excerpt: it is what explains a failure.
    let cdn = http::Response::builder()
        .status(520)
        .header(CONTENT_TYPE, "text/html")
        .body(b"<html>Error code 520: web server returned an unknown error</html>".to_vec())
        .unwrap();
    match client().parse_token_response(cdn, now()).unwrap_err() {
        ResponseError::UnexpectedResponse { excerpt, .. } => assert!(excerpt.contains("Error code 520"), "{excerpt}"),
        other => panic!("{other:?}"),
    }
}

fn lenient_client() -> Client {
    rfc_client().lenient(true).build().unwrap()
}

#[test]
fn lenient_mode_accepts_common_provider_deviations() {
    let lenient = rfc_client().lenient(true).build().unwrap();
    let t = lenient.parse_token_response(json(200, r#"{"access_token":"a","expires_in":"3600"}"#), now()).unwrap();
    assert_eq!(t.token_type, TokenType::Bearer);
    for body in [r#"{"access_token":"a","token_type":null}"#, r#"{"access_token":"a","token_type":""}"#] {
        let t = lenient.parse_token_response(json(200, body), now()).unwrap();
        assert_eq!(t.token_type, TokenType::Bearer, "{body}");
    }
    assert_eq!(t.expires_at, Some(now() + Duration::from_secs(3600)));

    let form = http::Response::builder()
        .status(200)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(b"access_token=gho_abc&scope=repo&token_type=bearer".to_vec())
        .unwrap();
    let t = lenient.parse_token_response(form, now()).unwrap();
    assert_eq!(t.access_token.secret(), "gho_abc");
    assert_eq!(t.scope, Some(Scope::parse("repo")));

    let err = lenient
        .parse_token_response(json(200, r#"{"error":"bad_verification_code","error_description":"expired"}"#), now())
        .unwrap_err();
    assert_eq!(err.code(), "bad_verification_code");

    let t = lenient.parse_token_response(json(201, r#"{"access_token":"a","token_type":"Bearer"}"#), now()).unwrap();
    assert_eq!(t.access_token.secret(), "a");

    // A negative lifetime is nonsense, not "never expires".
    assert!(lenient.parse_token_response(json(200, r#"{"access_token":"a","expires_in":-1.5}"#), now()).is_err());
    // Still an error when nothing makes sense.
    assert!(lenient.parse_token_response(json(200, r#"{"token":"a"}"#), now()).is_err());
}

#[test]
fn hooks_rewrite_requests_and_responses() {
    let c = rfc_client()
        .request_hook(|req| {
            req.headers_mut().insert("x-provider-quirk", http::HeaderValue::from_static("1"));
        })
        .response_hook(|resp| {
            // A provider that wraps its token in {"data": ...}.
            let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap_or_default();
            if let Some(inner) = v.get("data") {
                *resp.body_mut() = inner.to_string().into_bytes();
            }
        })
        .build()
        .unwrap();
    let req = c.client_credentials_request(Scope::empty()).unwrap();
    assert_eq!(req.headers()["x-provider-quirk"], "1");
    let t = c
        .parse_token_response(json(200, r#"{"data":{"access_token":"wrapped","token_type":"Bearer"}}"#), now())
        .unwrap();
    assert_eq!(t.access_token.secret(), "wrapped");
}

// ---- transport rules ----

#[test]
fn rfc6749_3_2_plain_http_endpoints_are_refused_except_loopback() {
    let err = Client::builder("x").token_endpoint("http://as.example/token").build().unwrap_err();
    assert!(matches!(err, ConfigError::Insecure { field: "token_endpoint", .. }));
    assert!(Client::builder("x").token_endpoint("http://127.0.0.1:9/token").build().is_ok());
    assert!(Client::builder("x").token_endpoint("http://as.example/token").allow_insecure_http(true).build().is_ok());
    assert!(matches!(
        Client::builder("x").token_endpoint("not a url").build(),
        Err(ConfigError::InvalidUrl { field: "token_endpoint", .. })
    ));
}

// ---- RFC 7009 / RFC 7662 ----

#[test]
fn rfc7009_2_1_revocation_request_and_response() {
    let c = client();
    let req = c.revocation_request("45ghiukldjahdnhzdauz", Some(TokenTypeHint::RefreshToken)).unwrap();
    assert_eq!(req.uri(), "https://server.example.com/revoke");
    assert_eq!(req.headers()[AUTHORIZATION], "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
    let body = form_of(&req);
    assert_eq!(body.get("token"), Some("45ghiukldjahdnhzdauz"));
    assert_eq!(body.get("token_type_hint"), Some("refresh_token"));
    assert!(c.parse_revocation_response(http::Response::new(Vec::new())).is_ok());
    let err = c.parse_revocation_response(json(400, r#"{"error":"unsupported_token_type"}"#)).unwrap_err();
    assert_eq!(err.error_response().map(|e| &e.error), Some(&ErrorCode::UnsupportedTokenType));
}

#[test]
fn rfc7662_2_2_introspection_example_response() {
    let c = client();
    let req = c.introspection_request("mF_9.B5f-4.1JqM", Some(TokenTypeHint::AccessToken)).unwrap();
    assert_eq!(req.uri(), "https://server.example.com/introspect");
    assert_eq!(form_of(&req).get("token_type_hint"), Some("access_token"));
    let body = r#"{
      "active": true, "client_id": "l238j323ds-23ij4", "username": "jdoe", "scope": "read write dolphin",
      "sub": "Z5O3upPC88QrAjx00dis", "aud": "https://protected.example.net/resource",
      "iss": "https://server.example.com/", "exp": 1419356238, "iat": 1419350238,
      "extension_field": "twenty-seven"
    }"#;
    let i = c.parse_introspection_response(json(200, body)).unwrap();
    assert!(i.active);
    assert_eq!(i.username.as_deref(), Some("jdoe"));
    assert_eq!(i.scope, Some(Scope::parse("read write dolphin")));
    assert_eq!(i.exp, Some(1419356238));
    assert!(i.extra.contains_key("extension_field"));
    assert!(!c.parse_introspection_response(json(200, r#"{"active":false}"#)).unwrap().active);
    assert!(c.parse_introspection_response(json(200, r#"{"active":"yes"}"#)).is_err());
}

// ---- property tests: what we build, a parser reads back ----

proptest! {
    #[test]
    fn authorization_url_round_trips(
        scope in proptest::collection::vec("[a-z:/._-]{1,10}", 0..4),
        extra in proptest::collection::btree_map("x_[a-z]{1,6}", "\\PC{0,16}", 0..4),
        seed in any::<u64>(),
    ) {
        let c = client();
        let mut req = c.authorization_request(&mut ChaCha20Rng::seed_from_u64(seed)).scope(Scope::from(scope.clone()));
        for (k, v) in &extra {
            req = req.param(k.clone(), v.clone());
        }
        let (url, pending) = req.build().unwrap();
        let q = query_of(&url);
        prop_assert_eq!(Scope::parse(q.get("scope").unwrap_or("")), Scope::from(scope));
        prop_assert_eq!(q.get("state"), Some(pending.state.secret()));
        for (k, v) in &extra {
            prop_assert_eq!(q.get(k), if v.is_empty() { None } else { Some(v.as_str()) });
        }
        // The server's redirect, built from what it received, completes the flow.
        let cb = format!("https://client.example.com/cb?code=c0de&state={}", q.get("state").unwrap_or(""));
        prop_assert!(c.finish_authorization(&pending, &cb).is_ok());
    }

    #[test]
    fn token_request_bodies_round_trip(user in "\\PC{1,20}", pass in "\\PC{1,20}", scope in "[a-z]{1,8}( [a-z]{1,8}){0,3}") {
        let req = client().password_request(&user, &Password::new(pass.clone()), scope.as_str()).unwrap();
        let body = form_of(&req);
        prop_assert_eq!(body.get("username"), Some(user.as_str()));
        prop_assert_eq!(body.get("password"), Some(pass.as_str()));
        // A scope is a set (§3.3): "l l" is sent as "l".
        prop_assert_eq!(body.get("scope").map(Scope::parse), Some(Scope::parse(&scope)));
    }

    #[test]
    fn token_response_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200), status in 100u16..600, lenient in any::<bool>()) {
        let c = rfc_client().lenient(lenient).build().unwrap();
        let resp = http::Response::builder().status(status).header(CONTENT_TYPE, "application/json").body(body.clone()).unwrap();
        let _ = c.parse_token_response(resp, now());
        let resp = http::Response::builder().status(status).body(body).unwrap();
        let _ = c.parse_introspection_response(resp);
    }

    #[test]
    fn callback_parser_never_panics(cb in "\\PC{0,200}") {
        let c = client();
        let _ = c.parse_callback(&pending_with_state("xyz"), &cb);
        let mut p = pending_with_state("xyz");
        p.response_type = ResponseType::Token;
        let _ = c.finish_implicit(&p, &cb, now());
    }
}
