//! Pushed authorization requests (RFC 9126), server side.

use super::*;

const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

fn par_post(body: &str, auth: Option<&str>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::post("/par").header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(body.as_bytes().to_vec()).unwrap()
}

fn at(s: u64) -> SystemTime {
    now() + Duration::from_secs(s)
}

/// A request of `web` to push: code flow with PKCE, `state=pushed`.
fn web_request() -> String {
    format!(
        "response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read&state=pushed\
         &code_challenge={CHALLENGE}&code_challenge_method=S256"
    )
}

/// Pushes `body` as `web` at `t`: the `request_uri`.
fn push(s: &AuthorizationServer<MemoryStore>, body: &str, t: SystemTime) -> String {
    let r = block_on(s.pushed_authorization_request(par_post(body, web_auth().as_deref()), t));
    assert_eq!(r.status(), 201, "{}", json(&r));
    json(&r)["request_uri"].as_str().unwrap().to_owned()
}

fn authorize_with(
    s: &AuthorizationServer<MemoryStore>,
    client_id: &str,
    request_uri: &str,
    t: SystemTime,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .finish();
    block_on(s.authorization_request(&query, t))
}

fn is_page(r: Result<AuthorizationRequest, AuthorizeError>) -> bool {
    matches!(r, Err(AuthorizeError::Page(_)))
}

#[test]
fn rfc9126_2_2_the_answer_is_201_with_a_fresh_request_uri_and_expires_in() {
    let s = server();
    let r = block_on(s.pushed_authorization_request(par_post(&web_request(), web_auth().as_deref()), now()));
    assert_eq!(r.status(), StatusCode::CREATED, "{}", json(&r));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = json(&r);
    assert_eq!(body["expires_in"], 60, "the default lifetime");
    let uri = body["request_uri"].as_str().unwrap();
    let random = uri.strip_prefix(PREFIX).expect("the RFC's URN prefix");
    let bits = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(random).unwrap().len() * 8;
    assert_eq!(bits, 256, "256 random bits (the RFC asks for at least 128)");
    let other = push(&s, &web_request(), now());
    assert_ne!(other, uri, "a fresh one each time");
    assert_eq!(r.extensions().get::<ClientId>().map(|c| c.0.as_str()), Some("web"), "for the access log");
}

#[test]
fn rfc9126_2_1_the_client_authenticates_as_at_the_token_endpoint() {
    let s = server();
    let wrong = block_on(s.pushed_authorization_request(par_post(&web_request(), Some(&basic("web", "x"))), now()));
    assert_eq!(wrong.status(), 401);
    assert_eq!(json(&wrong)["error"], "invalid_client");
    assert!(wrong.headers().contains_key("www-authenticate"));
    let none = block_on(s.pushed_authorization_request(par_post(&web_request(), None), now()));
    assert_eq!(none.status(), 401, "a confidential client must authenticate: {}", json(&none));
    // A public client names itself, as at the token endpoint.
    let public = format!(
        "client_id=native&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback&scope=read\
         &code_challenge={CHALLENGE}&code_challenge_method=S256"
    );
    let r = block_on(s.pushed_authorization_request(par_post(&public, None), now()));
    assert_eq!(r.status(), 201, "{}", json(&r));
    let mismatch = format!("client_id=other&{}", web_request());
    let r = block_on(s.pushed_authorization_request(par_post(&mismatch, web_auth().as_deref()), now()));
    let token = block_on(s.token(post("grant_type=client_credentials&client_id=other", web_auth().as_deref()), now()));
    assert_eq!(r.status(), 400, "the body's client_id must be the authenticated one");
    assert_eq!(json(&r)["error"], json(&token)["error"], "refused as the token endpoint refuses it");
}

#[test]
fn rfc9126_2_1_a_pushed_request_cannot_name_a_request_uri_and_is_a_post_form() {
    let s = server();
    let body = format!("{}&request_uri={PREFIX}abc", web_request());
    let r = block_on(s.pushed_authorization_request(par_post(&body, web_auth().as_deref()), now()));
    assert_eq!((r.status().as_u16(), json(&r)["error"].clone()), (400, "invalid_request".into()));
    let dup = format!("{}&state=again", web_request());
    let r = block_on(s.pushed_authorization_request(par_post(&dup, web_auth().as_deref()), now()));
    assert_eq!(json(&r)["error"], "invalid_request", "RFC 6749 §3.1: no repeated parameter");
    let get = http::Request::get("/par").body(Vec::new()).unwrap();
    assert_eq!(json(&block_on(s.pushed_authorization_request(get, now())))["error"], "invalid_request");
}

#[test]
fn rfc9126_2_3_a_bad_request_is_refused_at_the_endpoint_with_the_rfc6749_error() {
    let s = server();
    let cases = [
        // §2.3: what /authorize shows as a page is invalid_request here.
        ("response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=read", "invalid_request"),
        ("response_type=code&scope=read", "invalid_request"),
        ("response_type=bogus&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", "unsupported_response_type"),
        ("response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=admin", "invalid_scope"),
        ("response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&resource=%2Frelative", "invalid_target"),
        (
            "response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_challenge=short\
             &code_challenge_method=S256",
            "invalid_request",
        ),
    ];
    for (body, code) in cases {
        let r = block_on(s.pushed_authorization_request(par_post(body, web_auth().as_deref()), now()));
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(json(&r)["error"], code, "{body}: {}", json(&r));
        assert!(r.headers().get("location").is_none(), "never a redirect");
    }
    // A public client must send PKCE here too.
    let public = "client_id=native&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=read";
    let r = block_on(s.pushed_authorization_request(par_post(public, None), now()));
    assert_eq!(json(&r)["error"], "invalid_request", "{}", json(&r));
}

#[test]
fn rfc9126_4_authorize_uses_only_the_pushed_parameters() {
    let s = server();
    let uri = push(&s, &web_request(), now());
    // Parameters repeated in the query are ignored (RFC 9101 §5), even a redirect URI that is registered.
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", "web")
        .append_pair("request_uri", &uri)
        .append_pair("state", "from-the-query")
        .append_pair("scope", "write")
        .append_pair("redirect_uri", "https://app.example/cb2")
        .append_pair("response_type", "token")
        .finish();
    let request = block_on(s.authorization_request(&query, at(5))).unwrap();
    assert_eq!(request.state.as_deref(), Some("pushed"));
    assert_eq!(request.scope.to_string(), "read");
    assert_eq!(request.redirect_uri, "https://app.example/cb");
    assert_eq!(request.response_type, crate::grant::ResponseType::Code);
    assert_eq!(request.code_challenge.as_ref().map(|c| c.method()), Some(PkceMethod::S256));
    // The flow goes on as usual: the code is redeemed with the verifier.
    let redirect = block_on(s.approve(&request, "alice", None, at(6))).unwrap();
    let (_, p) = location_params(&redirect);
    assert_eq!(p.get("state"), Some("pushed"));
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier={VERIFIER}",
        p.get("code").unwrap()
    );
    let r = block_on(s.token(post(&body, web_auth().as_deref()), at(7)));
    assert_eq!(r.status(), 200, "{}", json(&r));
}

#[test]
fn rfc9126_4_a_request_uri_works_once() {
    let s = server();
    let uri = push(&s, &web_request(), now());
    assert!(authorize_with(&s, "web", &uri, now()).is_ok());
    let again = authorize_with(&s, "web", &uri, now());
    assert!(is_page(again.clone()), "used: an error page, no redirect: {again:?}");
    assert!(again.unwrap_err().to_string().contains("request_uri"));
}

#[test]
fn rfc9126_4_an_expired_request_uri_is_an_error_page() {
    let s = server();
    let uri = push(&s, &web_request(), now());
    assert!(is_page(authorize_with(&s, "web", &uri, at(60))), "at expires_in");
    let fresh = push(&s, &web_request(), now());
    assert!(authorize_with(&s, "web", &fresh, at(59)).is_ok(), "within expires_in");
    let short = AuthorizationServer::new(
        ServerConfig::new(ISSUER).pushed_request_lifetime(Duration::from_secs(5)),
        MemoryStore::new(),
        Mutex::new(ChaCha20Rng::seed_from_u64(91)),
    );
    short
        .store()
        .add_client(RegisteredClient::confidential("web", "s3cret pa+ss").redirect_uris(["https://app.example/cb"]));
    let r = block_on(short.pushed_authorization_request(
        par_post(&web_request().replace("&scope=read", ""), web_auth().as_deref()),
        now(),
    ));
    assert_eq!(json(&r)["expires_in"], 5, "configured: {}", json(&r));
}

#[test]
fn rfc9126_4_another_clients_or_an_unknown_request_uri_is_an_error_page() {
    let s = server();
    let uri = push(&s, &web_request(), now());
    assert!(is_page(authorize_with(&s, "other", &uri, now())), "bound to the client that pushed it");
    assert!(authorize_with(&s, "web", &uri, now()).is_ok(), "and another client's try did not use it up");
    for unknown in [format!("{PREFIX}nothing-pushed"), "https://app.example/request.jwt".into(), String::new()] {
        assert!(is_page(authorize_with(&s, "web", &unknown, now())), "{unknown}");
    }
    assert!(is_page(authorize_with(&s, "nobody", &uri, now())), "an unknown client");
}

#[test]
fn rfc9126_4_a_pushed_request_is_checked_against_the_registration_again() {
    let s = server();
    let uri = push(&s, &web_request(), now());
    // The client is registered again, without the redirect URI, before the browser gets there.
    s.store().add_client(
        RegisteredClient::confidential("web", "s3cret pa+ss").redirect_uris(["https://app.example/cb2"]).scopes("read"),
    );
    assert!(is_page(authorize_with(&s, "web", &uri, now())));
}

#[test]
fn rfc9126_6_a_client_registered_to_push_is_refused_without_par() {
    let s = server();
    s.store().add_client(
        RegisteredClient::confidential("web", "s3cret pa+ss")
            .redirect_uris(["https://app.example/cb"])
            .scopes("read")
            .require_pushed_authorization_requests(true),
    );
    let query = format!("client_id=web&{}", web_request());
    let (location, p) = redirect_error(block_on(s.authorization_request(&query, now())).unwrap_err());
    assert!(location.starts_with("https://app.example/cb?"), "the redirect URI is trusted: {location}");
    assert_eq!(p.get("error"), Some("invalid_request"));
    assert_eq!(p.get("state"), Some("pushed"));
    // Refused for not pushing before anything else is looked at.
    let (_, p) = redirect_error(block_on(s.authorization_request(&format!("{query}&prompt=none"), now())).unwrap_err());
    assert_eq!(p.get("error"), Some("invalid_request"), "not login_required");
    let unregistered = "client_id=web&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2Fcb";
    assert!(is_page(block_on(s.authorization_request(unregistered, now()))), "and never to an untrusted URI");
    let uri = push(&s, &web_request(), now());
    assert!(authorize_with(&s, "web", &uri, now()).is_ok(), "pushed, it goes through");
    // Other clients are not concerned.
    let native = format!(
        "response_type=code&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=read\
         &code_challenge={CHALLENGE}&code_challenge_method=S256"
    );
    assert!(block_on(s.authorization_request(&native, now())).is_ok());
}

#[test]
fn rfc9126_5_the_metadata_names_the_endpoint_and_the_server_wide_requirement() {
    let s = server();
    let m = json(&s.metadata_response());
    assert_eq!(m["pushed_authorization_request_endpoint"], "https://as.example/par");
    assert_eq!(m["require_pushed_authorization_requests"], false);
    assert!(
        s.endpoints().any(|(e, method, path)| e == Endpoint::PushedAuthorization && method == "POST" && path == "/par")
    );

    let strict = AuthorizationServer::new(
        ServerConfig::new(ISSUER).require_pushed_authorization_requests(true),
        MemoryStore::new(),
        Mutex::new(ChaCha20Rng::seed_from_u64(91)),
    );
    strict.store().add_client(
        RegisteredClient::confidential("web", "s3cret pa+ss").redirect_uris(["https://app.example/cb"]).scopes("read"),
    );
    assert_eq!(json(&strict.metadata_response())["require_pushed_authorization_requests"], true);
    let query = format!("client_id=web&{}", web_request());
    let (_, p) = redirect_error(block_on(strict.authorization_request(&query, now())).unwrap_err());
    assert_eq!(p.get("error"), Some("invalid_request"), "every client must push");
    let r =
        block_on(strict.serve(Endpoint::PushedAuthorization, par_post(&web_request(), web_auth().as_deref()), now()));
    let uri = json(&r)["request_uri"].as_str().unwrap().to_owned();
    assert!(authorize_with(&strict, "web", &uri, now()).is_ok());
}

#[test]
fn rfc9126_2_3_pushes_are_throttled_per_client_and_address() {
    let s = server();
    let native = format!(
        "client_id=native&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=read\
         &code_challenge={CHALLENGE}&code_challenge_method=S256"
    );
    let from = |body: &str, auth: Option<String>, ip: &str| {
        let mut r = par_post(body, auth.as_deref());
        r.extensions_mut().insert(ClientAddress(ip.parse().unwrap()));
        r
    };
    for i in 0..60 {
        let r = block_on(s.pushed_authorization_request(from(&native, None, "203.0.113.7"), now()));
        assert_eq!(r.status(), 201, "request {i}");
    }
    let r = block_on(s.pushed_authorization_request(from(&native, None, "203.0.113.7"), now()));
    assert_eq!(r.status(), 429, "a public client, from one address");
    assert!(r.headers().contains_key("retry-after"));
    let r = block_on(s.pushed_authorization_request(from(&native, None, "198.51.100.1"), now()));
    assert_eq!(r.status(), 201, "another address is not concerned");
    // A confidential client pushes for all its users from its servers: its own, larger budget, whoever else is
    // throttled at that address.
    for i in 0..200 {
        let r = block_on(s.pushed_authorization_request(from(&web_request(), web_auth(), "203.0.113.7"), now()));
        assert_eq!(r.status(), 201, "confidential request {i}");
    }
}
