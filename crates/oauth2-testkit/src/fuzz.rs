//! The bodies of the fuzz targets (`fuzz/`, run with `cargo xtask fuzz`), here so that the corpus they find is
//! replayed by an ordinary `cargo test` (`tests/fuzz_corpus.rs`). Each takes arbitrary bytes and must not panic;
//! each also checks that what comes out is an RFC answer.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oauth2_core::form::FormParams;
use oauth2_core::grant::ResponseType;
use oauth2_core::http;
use oauth2_core::server::{AuthorizationServer, MemoryStore};
use oauth2_core::{Client, PendingAuthorization, Scope, State};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The targets, by name: what `fuzz/fuzz_targets/<name>.rs` runs and `fuzz/corpus/<name>/` feeds.
pub const TARGETS: [(&str, Target); 6] = [
    ("form", form),
    ("basic_credentials", basic_credentials),
    ("www_authenticate", www_authenticate),
    ("token_response", token_response),
    ("callback", callback),
    ("token_endpoint", token_endpoint),
];

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn server() -> &'static AuthorizationServer<MemoryStore> {
    static SERVER: OnceLock<AuthorizationServer<MemoryStore>> = OnceLock::new();
    SERVER.get_or_init(|| crate::scenarios::fixture("https://as.example"))
}

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder("web")
            .secret("s3cret")
            .authorization_endpoint("https://as.example/authorize")
            .token_endpoint("https://as.example/token")
            .redirect_uri("https://app.example/cb")
            .issuer("https://as.example")
            .build()
            .unwrap_or_else(|e| unreachable!("a fixed, valid configuration: {e}"))
    })
}

/// The in-memory store never waits, so its futures complete on their first poll.
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => unreachable!("the in-memory store answered later"),
    }
}

/// The form parser (RFC 6749 §3.1): parsing, and re-encoding what it parsed, round-trips.
pub fn form(data: &[u8]) {
    if let Ok(params) = FormParams::parse(data) {
        let encoded = oauth2_core::form::encode(params.iter());
        let again = FormParams::parse(encoded.as_bytes());
        assert_eq!(again.as_ref().map(|p| p.iter().count()).ok(), Some(params.iter().count()), "{encoded}");
    }
}

/// Basic client credentials (RFC 6749 §2.3.1) as the token endpoint reads them: any header value is an answer,
/// never a panic, and a refusal is 401 `invalid_client` (or 400 for a malformed request).
pub fn basic_credentials(data: &[u8]) {
    let mut value = b"Basic ".to_vec();
    value.extend_from_slice(data);
    let Ok(value) = http::HeaderValue::from_bytes(&value) else { return };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    let params = FormParams::parse(b"grant_type=client_credentials").unwrap_or_default();
    if let Err(e) = ready(server().authenticate_client(&headers, &params)) {
        assert!(matches!(e.status().as_u16(), 400 | 401), "{e:?}");
    }
}

/// The `WWW-Authenticate` parser (RFC 7235 §4.1, RFC 6750 §3).
pub fn www_authenticate(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = oauth2_core::client::parse_challenges(&text);
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::WWW_AUTHENTICATE, value);
        let _ = oauth2_core::client::BearerChallenge::from_headers(&headers);
    }
}

/// The token response parser (RFC 6749 §5.1, §5.2), for each status a server might send, strict and lenient.
pub fn token_response(data: &[u8]) {
    let status = data.first().map_or(200, |b| [200, 400, 401, 500][usize::from(b % 4)]);
    let body = data.get(1..).unwrap_or_default().to_vec();
    for content_type in ["application/json", "application/x-www-form-urlencoded"] {
        let response = http::Response::builder().status(status).header("content-type", content_type).body(body.clone());
        let Ok(response) = response else { return };
        let parsed = client().parse_token_response(response, now());
        if let Ok(token) = parsed {
            assert!(!token.access_token.secret().is_empty(), "an empty access token was accepted");
        }
    }
}

/// The authorization callback parser (RFC 6749 §4.1.2, §4.2.2, §10.12; RFC 9207), for both flows.
pub fn callback(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for response_type in [ResponseType::Code, ResponseType::Token] {
        let pending = PendingAuthorization {
            response_type,
            state: State::new("s-fuzz"),
            pkce_verifier: None,
            redirect_uri: Some("https://app.example/cb".into()),
            scope: Scope::parse("read"),
            nonce: None,
        };
        match response_type {
            ResponseType::Code => drop(client().finish_authorization(&pending, &text)),
            _ => drop(client().finish_implicit(&pending, &text, now())),
        }
    }
}

/// The token endpoint as a whole (RFC 6749 §3.2): the first byte picks the content type and whether Basic
/// credentials are sent, the rest is the body. Every answer is a success or an RFC error with a 4xx status and
/// `Cache-Control: no-store`.
pub fn token_endpoint(data: &[u8]) {
    let (selector, body) = data.split_first().map_or((0, &[][..]), |(s, b)| (*s, b));
    let content_type =
        ["application/x-www-form-urlencoded", "application/json", "text/plain"][usize::from(selector % 3)];
    let mut request = http::Request::post("/token").header("content-type", content_type);
    if selector & 4 != 0 {
        request = request.header("authorization", "Basic c3ZjOnN2Yy1zZWNyZXQ=");
    }
    let Ok(request) = request.body(body.to_vec()) else { return };
    let response = ready(server().token(request, now()));
    let status = response.status().as_u16();
    assert!(status == 200 || (400..500).contains(&status), "status {status}");
    assert_eq!(response.headers().get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]));
}
