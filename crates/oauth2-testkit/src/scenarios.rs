//! The provider scenario table: every grant end to end, the resource server, revocation, introspection, metadata,
//! the negative cases of design.md §3 and the races, over real HTTP.
//!
//! ## What the app under test provides
//! A server built from [`fixture`] (same clients and users everywhere), mounted on the framework with:
//! - the adapter's routes (token, revocation, introspection, metadata, device authorization, `/par`);
//! - `GET /authorize`: validate with the adapter; then "log in" the user named by the `x-test-user` header (no
//!   header: answer 401, the stand-in for a login page) and apply the `x-test-decision` header (`deny` denies,
//!   anything else allows);
//! - `POST /device`: the device grant's verification page (RFC 8628 §3.3), answered by [`device_page`];
//! - `GET /api/read` (scope `read`) and `GET /api/profile` (scope `profile`) behind the adapter's scope check,
//!   answering JSON `{"sub": ..., "client_id": ..., "scope": ...}` from the extractor.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use oauth2_core::grant::GrantType;
use oauth2_core::jose::{Algorithm, SigningKey};
use oauth2_core::server::{AuthorizationServer, MemoryStore, OsTokenGenerator, RegisteredClient, ServerConfig};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The confidential web client: code + refresh, scopes `read profile`.
pub const WEB: (&str, &str) = ("web", "web secret+/%");
/// The confidential service: client credentials, scopes `read write`.
pub const SVC: (&str, &str) = ("svc", "svc-secret");
/// The confidential legacy client: password + refresh, scopes `read profile`.
pub const LEGACY: (&str, &str) = ("legacy", "legacy-secret");
/// The public native client: code + refresh + implicit, scope `read`, loopback redirect.
pub const SPA: &str = "spa";
/// The web client's redirect URI.
pub const WEB_REDIRECT: &str = "https://web.example/cb";
/// How long the fixture waits for a request body (short, so the slow-body scenario is quick).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(1);
/// The code lifetime of the fixture (short, so the expiry scenario is quick).
pub const CODE_LIFETIME: Duration = Duration::from_secs(2);

/// The resource identifier (RFC 8707) of the API that stands alone in the JWT table.
pub const JWT_API: &str = "https://api.testkit.example";
/// The resource server registration of that API (RFC 7662 §2.1), for introspection.
pub const RS: (&str, &str) = ("rs", "rs-secret");

/// The server every adapter runs the table against, for `issuer` (the server's `http://127.0.0.1:PORT`).
pub fn fixture(issuer: &str) -> AuthorizationServer<MemoryStore> {
    fixture_with(issuer, oauth2_core::server::AccessTokenFormat::Opaque)
}

/// The server of the JWT table ([`run_jwt`]): [`fixture`]'s clients and users, issuing RFC 9068 access tokens
/// signed with EdDSA, with the resource server [`RS`] registered for [`JWT_API`].
pub fn jwt_fixture(issuer: &str) -> AuthorizationServer<MemoryStore> {
    let server = fixture_with(issuer, oauth2_core::server::AccessTokenFormat::Jwt(Algorithm::EdDsa));
    server.store().add_client(
        RegisteredClient::confidential(RS.0, RS.1).grant_types([]).resources([JWT_API]).resource_server(true),
    );
    server
}

fn fixture_with(
    issuer: &str,
    access_tokens: oauth2_core::server::AccessTokenFormat,
) -> AuthorizationServer<MemoryStore> {
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::confidential(WEB.0, WEB.1)
            .redirect_uris([WEB_REDIRECT])
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes("read profile openid"),
    );
    store.add_client(
        RegisteredClient::confidential(SVC.0, SVC.1).grant_types([GrantType::ClientCredentials]).scopes("read write"),
    );
    store.add_client(
        RegisteredClient::confidential(LEGACY.0, LEGACY.1)
            .grant_types([GrantType::Password, GrantType::RefreshToken])
            .scopes("read profile"),
    );
    store.add_client(
        RegisteredClient::public(TV).grant_types([GrantType::DeviceCode, GrantType::RefreshToken]).scopes("read"),
    );
    store.add_client(
        RegisteredClient::public(SPA)
            .redirect_uris(["http://127.0.0.1/callback"])
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::Implicit])
            .scopes("read"),
    );
    store.add_client(
        RegisteredClient::confidential(PAR_CLIENT.0, PAR_CLIENT.1)
            .redirect_uris([WEB_REDIRECT])
            .grant_types([GrantType::AuthorizationCode])
            .scopes("read")
            .require_pushed_authorization_requests(true),
    );
    let mut config = ServerConfig::new(issuer)
        .body_timeout(BODY_TIMEOUT)
        .device_grant(DEVICE_INTERVAL, DEVICE_LIFETIME)
        .pushed_request_lifetime(PAR_LIFETIME);
    config.code_lifetime = CODE_LIFETIME;
    config.access_tokens = access_tokens;
    // The implicit grant is legacy and off by default; the table checks it still works where a server offers it.
    config.grant_types.push(GrantType::Implicit);
    let server = AuthorizationServer::new(config, store, OsTokenGenerator)
        .with_password_verifier(|u, p| (u == "alice" && p == "wonderland").then(|| u.to_owned()))
        .with_userinfo(&["name"], |grant| {
            let mut claims = serde_json::Map::new();
            claims.insert("name".into(), grant.subject.as_deref().unwrap_or_default().to_uppercase().into());
            claims
        });
    // Signing keys, as a provider that signs (OpenID Connect, JWT access tokens) has them: Ed25519 from a seed, and
    // RS256, OpenID Connect's default, with the RFC 7515 key, so that no RSA key is made per test run.
    let now = std::time::SystemTime::now();
    let ed = || SigningKey::ed25519_from_seed("testkit-ed25519", &[42; 32]);
    ready(server.ensure_signing_key(Algorithm::EdDsa, now, ed)).expect("an Ed25519 key");
    let rsa = || SigningKey::from_private_jwk(include_str!("../../oauth2-core/src/jose/vectors/rfc7515_a2_rsa.json"));
    ready(server.ensure_signing_key(Algorithm::Rs256, now, rsa)).expect("the RFC 7515 key");
    server
}

/// The output of a future that is ready at once (the memory store's are), without a runtime.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the memory store's futures are ready at once"),
    }
}

/// Context of one run: the provider's base URL and an HTTP client that follows no redirects.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The API that stands alone, in the JWT table.
    pub api: String,
    http: reqwest::Client,
}

pub(crate) type Outcome = Result<(), String>;
pub(crate) type Run = for<'a> fn(&'a Target) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn str(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_default().to_owned()
    }
}

fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

impl Target {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn reply(&self, request: reqwest::RequestBuilder) -> Result<Reply, String> {
        let r = request.send().await.map_err(|e| format!("request failed: {e}"))?;
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.map_err(|e| e.to_string())?;
        Ok(Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
    }

    /// POSTs a form to `path`, with Basic credentials when given.
    async fn form(&self, path: &str, form: &[(&str, &str)], auth: Option<(&str, &str)>) -> Result<Reply, String> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.raw_form(path, body, auth.map(|(i, s)| basic(i, s))).await
    }

    async fn raw_form(&self, path: &str, body: String, authorization: Option<String>) -> Result<Reply, String> {
        let mut req =
            self.http.post(self.url(path)).header("content-type", "application/x-www-form-urlencoded").body(body);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        self.reply(req).await
    }

    async fn token(&self, form: &[(&str, &str)], auth: Option<(&str, &str)>) -> Result<Reply, String> {
        self.form("/token", form, auth).await
    }

    /// GET /authorize as user `alice` (allowing), returning the redirect's parameters (query or fragment).
    async fn authorize(
        &self,
        query: &[(&str, &str)],
        decision: &str,
    ) -> Result<(StatusCode, Option<url::Url>), String> {
        let url = url::Url::parse_with_params(&self.url("/authorize"), query).map_err(|e| e.to_string())?;
        let r = self
            .http
            .get(url)
            .header("x-test-user", "alice")
            .header("x-test-decision", decision)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).and_then(|l| url::Url::parse(l).ok());
        Ok((r.status(), location))
    }

    /// Opens an authorization URL a client built, as user `alice` (allowing), and returns where the provider
    /// redirects the browser: the client's callback URL.
    async fn visit(&self, authorization_url: url::Url) -> Result<String, String> {
        let r =
            self.http.get(authorization_url).header("x-test-user", "alice").send().await.map_err(|e| e.to_string())?;
        let location = r.headers().get("location").and_then(|v| v.to_str().ok());
        location.map(str::to_owned).ok_or_else(|| format!("no redirect ({})", r.status()))
    }

    /// Runs the code flow for `web` up to the code.
    async fn web_code(&self, pkce: bool) -> Result<String, String> {
        let ch = challenge(VERIFIER);
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", WEB.0),
            ("redirect_uri", WEB_REDIRECT),
            ("scope", "read"),
            ("state", "st-1"),
        ];
        if pkce {
            q.extend([("code_challenge", ch.as_str()), ("code_challenge_method", "S256")]);
        }
        let (status, location) = self.authorize(&q, "allow").await?;
        check!(status == StatusCode::FOUND, "authorize answered {status}");
        let location = location.ok_or("no Location")?;
        let p = params(location.query().unwrap_or(""));
        check!(p("state").as_deref() == Some("st-1"), "state not returned: {location}");
        check!(p("iss").as_deref() == Some(self.base.as_str()), "iss missing or wrong: {location}");
        p("code").ok_or_else(|| format!("no code in {location}"))
    }

    async fn redeem(&self, code: &str, verifier: Option<&str>) -> Result<Reply, String> {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", WEB_REDIRECT)];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(&form, Some(WEB)).await
    }

    async fn api(&self, path: &str, token: &str) -> Result<Reply, String> {
        self.reply(self.http.get(self.url(path)).bearer_auth(token)).await
    }

    async fn password_tokens(&self, scope: &str) -> Result<Reply, String> {
        let r = self
            .token(
                &[("grant_type", "password"), ("username", "alice"), ("password", "wonderland"), ("scope", scope)],
                Some(LEGACY),
            )
            .await?;
        check!(r.status == StatusCode::OK, "password grant failed: {} {}", r.status, r.body);
        Ok(r)
    }
}

fn params(raw: &str) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
    move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

fn expect_error(r: &Reply, status: StatusCode, code: &str) -> Outcome {
    check!(r.status == status && r.body["error"] == code, "expected {status} {code}, got {} {}", r.status, r.body);
    check!(r.header("cache-control") == "no-store", "error without Cache-Control: no-store");
    Ok(())
}

macro_rules! table {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), (|t| Box::pin($name(t))) as Run)),*]
    };
}
mod device;
mod dpop;
mod jwt;
mod par;

pub use device::{DEVICE_INTERVAL, DEVICE_LIFETIME, TV, device_page};
pub use par::{PAR_CLIENT, PAR_LIFETIME};

// ---------------------------------------------------------------- scenarios

async fn metadata(t: &Target) -> Outcome {
    let r = t.reply(t.http.get(t.url("/.well-known/oauth-authorization-server"))).await?;
    check!(r.status == StatusCode::OK, "metadata status {}", r.status);
    check!(r.str("issuer") == t.base, "issuer {} != {}", r.body["issuer"], t.base);
    for field in ["authorization_endpoint", "token_endpoint", "revocation_endpoint", "introspection_endpoint"] {
        check!(r.str(field).starts_with(&t.base), "{field} missing: {}", r.body);
    }
    check!(r.body["code_challenge_methods_supported"] == serde_json::json!(["S256"]), "S256 not advertised");
    check!(r.body["authorization_response_iss_parameter_supported"] == true, "iss support not advertised");
    Ok(())
}

/// RFC 7517 §5, RFC 8414 §2: `jwks_uri` is advertised and serves the public signing keys, each with `kid`, `kty`,
/// `alg` and `use: sig`, never a private member, and revalidated by caches (a rotation must be seen).
async fn rfc7517_5_jwks_lists_the_public_signing_keys(t: &Target) -> Outcome {
    let meta = t.reply(t.http.get(t.url("/.well-known/oauth-authorization-server"))).await?;
    let jwks_uri = meta.str("jwks_uri");
    check!(jwks_uri == t.url("/jwks"), "jwks_uri advertised: {}", meta.body);
    let r = t.reply(t.http.get(&jwks_uri)).await?;
    check!(
        r.status == StatusCode::OK && r.header("cache-control") == "no-cache",
        "jwks: {} {:?}",
        r.status,
        r.header("cache-control")
    );
    let keys = r.body["keys"].as_array().cloned().unwrap_or_default();
    check!(!keys.is_empty(), "the fixture's key is listed: {}", r.body);
    for key in &keys {
        check!(["kid", "kty", "alg"].iter().all(|m| key[m].is_string()) && key["use"] == "sig", "key members: {key}");
        check!(["d", "p", "q", "dp", "dq", "qi", "k"].iter().all(|m| key.get(m).is_none()), "a private member: {key}");
        let jwk: oauth2_core::jose::Jwk = serde_json::from_value(key.clone()).map_err(|e| e.to_string())?;
        check!(jwk.thumbprint().is_ok(), "a usable key: {key}");
    }
    Ok(())
}

/// The code grant with `openid` up to the token response, with `extra` authorization parameters.
async fn oidc_tokens(t: &Target, extra: &[(&str, &str)]) -> Result<Reply, String> {
    let mut q =
        vec![("response_type", "code"), ("client_id", WEB.0), ("redirect_uri", WEB_REDIRECT), ("state", "st-o")];
    q.push(("scope", "openid read"));
    q.extend_from_slice(extra);
    let (status, location) = t.authorize(&q, "allow").await?;
    check!(status == StatusCode::FOUND, "authorize answered {status}");
    let location = location.ok_or("no Location")?;
    let code = params(location.query().unwrap_or(""))("code").ok_or_else(|| format!("no code in {location}"))?;
    let r = t.redeem(&code, None).await?;
    check!(r.status == StatusCode::OK, "redeem: {} {}", r.status, r.body);
    Ok(r)
}

/// OIDC Core §3.1.3.3, §3.1.3.6: a code grant with `openid` returns an id_token that the server's JWKS verifies,
/// for this client, with the request's nonce and the access token's at_hash.
async fn oidc_core_3_1_3_3_the_code_grant_with_openid_returns_a_verifiable_id_token(t: &Target) -> Outcome {
    use oauth2_core::jose::{Algorithm, JwkSet, Validation, half_hash};
    let r = oidc_tokens(t, &[("nonce", "n-0S6_WzA2Mj")]).await?;
    let id_token = r.str("id_token");
    check!(!id_token.is_empty(), "no id_token: {}", r.body);
    let keys = t.reply(t.http.get(t.url("/jwks"))).await?;
    let keys: JwkSet = serde_json::from_value(keys.body).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now();
    let claims: Value = Validation::new(&t.base, WEB.0, &[Algorithm::Rs256], now)
        .decode(&id_token, &keys)
        .map_err(|e| format!("the id_token does not verify: {e}"))?;
    check!(claims["sub"] == "alice" && claims["nonce"] == "n-0S6_WzA2Mj", "claims: {claims}");
    check!(claims["at_hash"] == half_hash(Algorithm::Rs256, &r.str("access_token")), "at_hash: {claims}");
    let plain = t.redeem(&t.web_code(false).await?, None).await?;
    check!(plain.body.get("id_token").is_none(), "an id_token without openid: {}", plain.body);
    Ok(())
}

/// OIDC Core §3.1.2.6: `prompt=none` is answered `login_required` by redirect, with `state` and `iss`.
async fn oidc_core_3_1_2_6_prompt_none_is_login_required(t: &Target) -> Outcome {
    let q = [
        ("response_type", "code"),
        ("client_id", WEB.0),
        ("redirect_uri", WEB_REDIRECT),
        ("scope", "openid"),
        ("state", "st-n"),
        ("prompt", "none"),
    ];
    let (status, location) = t.authorize(&q, "allow").await?;
    check!(status == StatusCode::FOUND, "prompt=none answered {status}");
    let location = location.ok_or("no Location")?;
    let p = params(location.query().unwrap_or(""));
    check!(p("error").as_deref() == Some("login_required"), "error: {location}");
    check!(p("state").as_deref() == Some("st-n") && p("iss").as_deref() == Some(t.base.as_str()), "{location}");
    Ok(())
}

/// OpenID Connect Discovery §3, §4: the provider metadata at the issuer's `/.well-known/openid-configuration`.
async fn oidc_discovery_4_the_openid_configuration_is_served(t: &Target) -> Outcome {
    let m = t.reply(t.http.get(t.url("/.well-known/openid-configuration"))).await?;
    check!(m.status == StatusCode::OK && m.str("issuer") == t.base, "{} {}", m.status, m.body);
    check!(m.str("jwks_uri") == t.url("/jwks") && m.str("userinfo_endpoint") == t.url("/userinfo"), "{}", m.body);
    check!(m.body["subject_types_supported"] == serde_json::json!(["public"]), "{}", m.body);
    let algs = m.body["id_token_signing_alg_values_supported"].as_array().cloned().unwrap_or_default();
    check!(algs.iter().any(|a| a == "RS256"), "RS256 must be offered: {}", m.body);
    Ok(())
}

/// OIDC Core §5.3.1, §5.3.2: UserInfo answers GET and POST with the id_token's `sub`.
async fn oidc_core_5_3_1_userinfo_answers_get_and_post(t: &Target) -> Outcome {
    let r = oidc_tokens(t, &[]).await?;
    let token = r.str("access_token");
    for request in [t.http.get(t.url("/userinfo")), t.http.post(t.url("/userinfo"))] {
        let info = t.reply(request.bearer_auth(&token)).await?;
        check!(info.status == StatusCode::OK, "userinfo: {} {}", info.status, info.body);
        check!(info.body["sub"] == "alice" && info.body["name"] == "ALICE", "userinfo: {}", info.body);
    }
    let none = t.reply(t.http.get(t.url("/userinfo"))).await?;
    check!(
        none.status == StatusCode::UNAUTHORIZED && none.header("www-authenticate").starts_with("Bearer"),
        "{}",
        none.status
    );
    Ok(())
}

async fn code_grant_with_pkce(t: &Target) -> Outcome {
    let code = t.web_code(true).await?;
    let r = t.redeem(&code, Some(VERIFIER)).await?;
    check!(r.status == StatusCode::OK, "redeem: {} {}", r.status, r.body);
    check!(
        r.header("cache-control") == "no-store" && r.header("pragma") == "no-cache",
        "token response caching headers"
    );
    check!(r.body["token_type"] == "Bearer" && r.body["expires_in"].is_u64(), "token response shape: {}", r.body);
    check!(r.body["scope"] == "read" && r.body["refresh_token"].is_string(), "scope/refresh: {}", r.body);
    let api = t.api("/api/read", &r.str("access_token")).await?;
    check!(api.status == StatusCode::OK && api.body["sub"] == "alice", "resource: {} {}", api.status, api.body);
    check!(api.body["client_id"] == WEB.0, "resource sees the client: {}", api.body);
    Ok(())
}

async fn public_client_loopback_any_port(t: &Target) -> Outcome {
    let ch = challenge(VERIFIER);
    let (status, location) = t
        .authorize(
            &[
                ("response_type", "code"),
                ("client_id", SPA),
                ("redirect_uri", "http://127.0.0.1:54321/callback"),
                ("code_challenge", &ch),
                ("code_challenge_method", "S256"),
            ],
            "allow",
        )
        .await?;
    check!(status == StatusCode::FOUND, "authorize: {status}");
    let location = location.ok_or("no Location")?;
    check!(location.port() == Some(54321), "redirected to {location}");
    let code = params(location.query().unwrap_or(""))("code").ok_or("no code")?;
    let r = t
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:54321/callback"),
                ("client_id", SPA),
                ("code_verifier", VERIFIER),
            ],
            None,
        )
        .await?;
    check!(r.status == StatusCode::OK, "public redeem: {} {}", r.status, r.body);
    Ok(())
}

async fn public_client_without_pkce_is_refused(t: &Target) -> Outcome {
    let q = [
        ("response_type", "code"),
        ("client_id", SPA),
        ("redirect_uri", "http://127.0.0.1:5/callback"),
        ("state", "s"),
    ];
    let (status, location) = t.authorize(&q, "allow").await?;
    let location = location.ok_or(format!("no redirect ({status})"))?;
    check!(params(location.query().unwrap_or(""))("error").as_deref() == Some("invalid_request"), "got {location}");
    Ok(())
}

async fn implicit_grant(t: &Target) -> Outcome {
    let q = [
        ("response_type", "token"),
        ("client_id", SPA),
        ("redirect_uri", "http://127.0.0.1:7/callback"),
        ("state", "s2"),
    ];
    let (_, location) = t.authorize(&q, "allow").await?;
    let location = location.ok_or("no Location")?;
    let p = params(location.fragment().unwrap_or(""));
    check!(p("state").as_deref() == Some("s2") && p("token_type").as_deref() == Some("Bearer"), "fragment: {location}");
    check!(p("refresh_token").is_none(), "implicit must not issue a refresh token");
    let api = t.api("/api/read", &p("access_token").ok_or("no token")?).await?;
    check!(api.status == StatusCode::OK, "resource: {}", api.status);
    Ok(())
}

async fn denied_authorization(t: &Target) -> Outcome {
    let q = [("response_type", "code"), ("client_id", WEB.0), ("redirect_uri", WEB_REDIRECT), ("state", "s3")];
    let (_, location) = t.authorize(&q, "deny").await?;
    let location = location.ok_or("no Location")?;
    let p = params(location.query().unwrap_or(""));
    check!(p("error").as_deref() == Some("access_denied") && p("state").as_deref() == Some("s3"), "{location}");
    check!(p("iss").as_deref() == Some(t.base.as_str()), "iss on errors too: {location}");
    Ok(())
}

async fn password_grant(t: &Target) -> Outcome {
    let r = t.password_tokens("read profile").await?;
    let api = t.api("/api/profile", &r.str("access_token")).await?;
    check!(api.status == StatusCode::OK && api.body["sub"] == "alice", "resource: {} {}", api.status, api.body);
    let bad = t.token(&[("grant_type", "password"), ("username", "alice"), ("password", "nope")], Some(LEGACY)).await?;
    expect_error(&bad, StatusCode::BAD_REQUEST, "invalid_grant")?;
    let not_registered =
        t.token(&[("grant_type", "password"), ("username", "alice"), ("password", "wonderland")], Some(WEB)).await?;
    expect_error(&not_registered, StatusCode::BAD_REQUEST, "unauthorized_client")
}

async fn client_credentials_grant(t: &Target) -> Outcome {
    let r = t.token(&[("grant_type", "client_credentials"), ("scope", "read")], Some(SVC)).await?;
    check!(r.status == StatusCode::OK, "{} {}", r.status, r.body);
    check!(r.body.get("refresh_token").is_none(), "no refresh token for client credentials: {}", r.body);
    let api = t.api("/api/read", &r.str("access_token")).await?;
    check!(api.status == StatusCode::OK && api.body["sub"].is_null(), "resource: {} {}", api.status, api.body);
    let post =
        t.token(&[("grant_type", "client_credentials"), ("client_id", SVC.0), ("client_secret", SVC.1)], None).await?;
    check!(post.status == StatusCode::OK, "client_secret_post: {} {}", post.status, post.body);
    check!(post.body["scope"] == "read write", "omitted scope = registered scopes: {}", post.body);
    Ok(())
}

async fn refresh_rotation(t: &Target) -> Outcome {
    let first = t.password_tokens("read profile").await?;
    let r = t
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &first.str("refresh_token")), ("scope", "read")],
            Some(LEGACY),
        )
        .await?;
    check!(r.status == StatusCode::OK, "refresh: {} {}", r.status, r.body);
    check!(r.str("refresh_token") != first.str("refresh_token"), "refresh token not rotated");
    check!(r.body["scope"] == "read", "narrowed scope: {}", r.body);
    Ok(())
}

async fn refresh_reuse_revokes_family(t: &Target) -> Outcome {
    let first = t.password_tokens("read").await?;
    let rt = first.str("refresh_token");
    let second = t.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)], Some(LEGACY)).await?;
    check!(second.status == StatusCode::OK, "first refresh failed");
    let reuse = t.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)], Some(LEGACY)).await?;
    expect_error(&reuse, StatusCode::BAD_REQUEST, "invalid_grant")?;
    let api = t.api("/api/read", &second.str("access_token")).await?;
    check!(api.status == StatusCode::UNAUTHORIZED, "family access token still works: {}", api.status);
    let next = t
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &second.str("refresh_token"))], Some(LEGACY))
        .await?;
    expect_error(&next, StatusCode::BAD_REQUEST, "invalid_grant")
}

async fn widened_scope_on_refresh(t: &Target) -> Outcome {
    let first = t.password_tokens("read").await?;
    let r = t
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &first.str("refresh_token")),
                ("scope", "read profile"),
            ],
            Some(LEGACY),
        )
        .await?;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_scope")
}

async fn revocation(t: &Target) -> Outcome {
    let tokens = t.password_tokens("read").await?;
    let at = tokens.str("access_token");
    let r = t.form("/revoke", &[("token", &at), ("token_type_hint", "access_token")], Some(LEGACY)).await?;
    check!(r.status == StatusCode::OK, "revoke: {}", r.status);
    let api = t.api("/api/read", &at).await?;
    check!(api.status == StatusCode::UNAUTHORIZED, "revoked token still accepted: {}", api.status);
    check!(api.header("www-authenticate").contains("invalid_token"), "challenge: {}", api.header("www-authenticate"));
    let unknown = t.form("/revoke", &[("token", "never-issued")], Some(LEGACY)).await?;
    check!(unknown.status == StatusCode::OK, "unknown token revocation must be 200: {}", unknown.status);
    // Revoking the refresh token revokes the grant's access tokens too.
    let tokens = t.password_tokens("read").await?;
    t.form("/revoke", &[("token", &tokens.str("refresh_token"))], Some(LEGACY)).await?;
    let api = t.api("/api/read", &tokens.str("access_token")).await?;
    check!(api.status == StatusCode::UNAUTHORIZED, "access token survived its refresh token's revocation");
    let anonymous = t.form("/revoke", &[("token", "x")], None).await?;
    expect_error(&anonymous, StatusCode::UNAUTHORIZED, "invalid_client")
}

async fn introspection(t: &Target) -> Outcome {
    let tokens = t.password_tokens("read").await?;
    let at = tokens.str("access_token");
    let r = t.form("/introspect", &[("token", &at)], Some(LEGACY)).await?;
    check!(r.body["active"] == true && r.body["client_id"] == LEGACY.0 && r.body["username"] == "alice", "{}", r.body);
    let foreign = t.form("/introspect", &[("token", &at)], Some(SVC)).await?;
    check!(foreign.body == serde_json::json!({"active": false}), "foreign token visible: {}", foreign.body);
    let unknown = t.form("/introspect", &[("token", "nope")], Some(LEGACY)).await?;
    check!(unknown.body == serde_json::json!({"active": false}), "unknown: {}", unknown.body);
    let anonymous = t.form("/introspect", &[("token", &at)], None).await?;
    expect_error(&anonymous, StatusCode::UNAUTHORIZED, "invalid_client")
}

async fn wrong_secret(t: &Target) -> Outcome {
    let r = t.token(&[("grant_type", "client_credentials")], Some((SVC.0, "wrong"))).await?;
    expect_error(&r, StatusCode::UNAUTHORIZED, "invalid_client")?;
    check!(r.header("www-authenticate").starts_with("Basic"), "no Basic challenge: {:?}", r.headers);
    Ok(())
}

async fn two_auth_methods(t: &Target) -> Outcome {
    let r = t.token(&[("grant_type", "client_credentials"), ("client_secret", SVC.1)], Some(SVC)).await?;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request")
}

async fn malformed_basic_header(t: &Target) -> Outcome {
    for auth in ["Basic %%%notbase64", "Basic c3Zj", "Basic"] {
        let r = t.raw_form("/token", "grant_type=client_credentials".into(), Some(auth.into())).await?;
        expect_error(&r, StatusCode::UNAUTHORIZED, "invalid_client").map_err(|e| format!("{auth}: {e}"))?;
    }
    Ok(())
}

async fn unknown_client(t: &Target) -> Outcome {
    let (status, location) = t
        .authorize(&[("response_type", "code"), ("client_id", "nobody"), ("redirect_uri", WEB_REDIRECT)], "allow")
        .await?;
    check!(status == StatusCode::BAD_REQUEST && location.is_none(), "unknown client: {status} {location:?}");
    let r = t.token(&[("grant_type", "client_credentials")], Some(("nobody", "x"))).await?;
    expect_error(&r, StatusCode::UNAUTHORIZED, "invalid_client")
}

async fn unregistered_redirect(t: &Target) -> Outcome {
    let q =
        [("response_type", "code"), ("client_id", WEB.0), ("redirect_uri", "https://evil.example/cb"), ("state", "s")];
    let (status, location) = t.authorize(&q, "allow").await?;
    check!(status == StatusCode::BAD_REQUEST && location.is_none(), "open redirect: {status} {location:?}");
    Ok(())
}

async fn duplicate_parameters(t: &Target) -> Outcome {
    let url =
        format!("{}/authorize?response_type=code&client_id=web&client_id=web&redirect_uri={}", t.base, WEB_REDIRECT);
    let r = t.http.get(url).header("x-test-user", "alice").send().await.map_err(|e| e.to_string())?;
    check!(
        r.status() == StatusCode::BAD_REQUEST && r.headers().get("location").is_none(),
        "authorize dup: {}",
        r.status()
    );
    let r = t
        .raw_form(
            "/token",
            "grant_type=client_credentials&grant_type=client_credentials".into(),
            Some(basic(SVC.0, SVC.1)),
        )
        .await?;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request")
}

/// A body over the limit is refused with `invalid_request`, and the client, still sending, gets to read the answer:
/// the server reads (and drops) the rest of a moderately oversized body before it answers and closes, so that its
/// close does not reset the connection and destroy the answer in flight (RFC 9112 §9.6). The body arrives in paced
/// chunks, as from a real network, so the server decides while the client is still sending.
async fn oversized_body(t: &Target) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const CHUNK: usize = 16 * 1024;
    const CHUNKS: usize = 64;
    let host = t.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.map_err(|e| e.to_string())?;
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\ngrant_type=client_credentials&pad=",
        basic(SVC.0, SVC.1),
        "grant_type=client_credentials&pad=".len() + CHUNK * CHUNKS,
    );
    s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
    let chunk = vec![b'x'; CHUNK];
    for i in 0..CHUNKS {
        if let Err(e) = s.write_all(&chunk).await {
            return Err(format!("the server closed while chunk {i} of the body was being sent: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
    check!(read.is_ok(), "no answer to an oversized body");
    let answer = String::from_utf8_lossy(&answer);
    check!(
        matches!(read, Ok(Ok(_))) || !answer.is_empty(),
        "the answer to an oversized body was lost: {:?}",
        read.map(|r| r.map_err(|e| e.to_string()))
    );
    check!(answer.starts_with("HTTP/1.1 4"), "oversized body: {answer}");
    check!(answer.contains("invalid_request"), "oversized body error: {answer}");
    Ok(())
}

/// A body declared far over the limit is refused at once, not after waiting for bytes that will be dropped.
async fn a_huge_declared_body_is_refused_at_once(t: &Target) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = t.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.map_err(|e| e.to_string())?;
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\ngrant_type=",
        basic(SVC.0, SVC.1),
        1u64 << 30,
    );
    s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
    // The answer, not the close: a server may go on reading (and dropping) the body after it answered.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(BODY_TIMEOUT / 2, async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("invalid_request") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&answer);
    check!(read.is_ok(), "a 1 GiB body was waited for: {answer:?}");
    check!(answer.starts_with("HTTP/1.1 4"), "a 1 GiB body: {answer}");
    check!(answer.contains("invalid_request"), "a 1 GiB body: {answer}");
    Ok(())
}

async fn wrong_content_type(t: &Target) -> Outcome {
    let r = t
        .reply(
            t.http
                .post(t.url("/token"))
                .header("authorization", basic(SVC.0, SVC.1))
                .header("content-type", "application/json")
                .body("{}"),
        )
        .await?;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request")
}

async fn reused_code_revokes_tokens(t: &Target) -> Outcome {
    let code = t.web_code(false).await?;
    let first = t.redeem(&code, None).await?;
    check!(first.status == StatusCode::OK, "first redeem: {}", first.body);
    let again = t.redeem(&code, None).await?;
    expect_error(&again, StatusCode::BAD_REQUEST, "invalid_grant")?;
    let api = t.api("/api/read", &first.str("access_token")).await?;
    check!(api.status == StatusCode::UNAUTHORIZED, "tokens of a replayed code still work: {}", api.status);
    Ok(())
}

async fn wrong_or_missing_verifier(t: &Target) -> Outcome {
    let code = t.web_code(true).await?;
    expect_error(&t.redeem(&code, None).await?, StatusCode::BAD_REQUEST, "invalid_grant")?;
    let code = t.web_code(true).await?;
    let wrong = "A".repeat(43);
    expect_error(&t.redeem(&code, Some(&wrong)).await?, StatusCode::BAD_REQUEST, "invalid_grant")
}

async fn verifier_without_challenge(t: &Target) -> Outcome {
    let code = t.web_code(false).await?;
    expect_error(&t.redeem(&code, Some(VERIFIER)).await?, StatusCode::BAD_REQUEST, "invalid_grant")
}

async fn expired_code(t: &Target) -> Outcome {
    let code = t.web_code(false).await?;
    tokio::time::sleep(CODE_LIFETIME + Duration::from_millis(200)).await;
    expect_error(&t.redeem(&code, None).await?, StatusCode::BAD_REQUEST, "invalid_grant")
}

async fn insufficient_scope(t: &Target) -> Outcome {
    let tokens = t.password_tokens("read").await?;
    let r = t.api("/api/profile", &tokens.str("access_token")).await?;
    check!(r.status == StatusCode::FORBIDDEN, "insufficient scope: {}", r.status);
    let c = r.header("www-authenticate");
    check!(
        c.starts_with("Bearer") && c.contains("error=\"insufficient_scope\"") && c.contains("scope=\"profile\""),
        "challenge: {c}"
    );
    Ok(())
}

async fn resource_without_or_with_bad_token(t: &Target) -> Outcome {
    let none = t.reply(t.http.get(t.url("/api/read"))).await?;
    check!(none.status == StatusCode::UNAUTHORIZED, "no token: {}", none.status);
    let c = none.header("www-authenticate");
    check!(c.starts_with("Bearer") && !c.contains("error="), "no-credentials challenge: {c}");
    let tokens = t.password_tokens("read").await?;
    let in_query =
        t.reply(t.http.get(format!("{}?access_token={}", t.url("/api/read"), tokens.str("access_token")))).await?;
    check!(
        in_query.status == StatusCode::UNAUTHORIZED,
        "query-string tokens must not be accepted: {}",
        in_query.status
    );
    let malformed = t.reply(t.http.get(t.url("/api/read")).header("authorization", "Bearer a b")).await?;
    check!(malformed.status == StatusCode::BAD_REQUEST, "malformed: {}", malformed.status);
    let unknown = t.api("/api/read", "nope").await?;
    check!(
        unknown.status == StatusCode::UNAUTHORIZED && unknown.header("www-authenticate").contains("invalid_token"),
        "unknown token"
    );
    Ok(())
}

async fn race_code_redemption(t: &Target) -> Outcome {
    let code = t.web_code(false).await?;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (t, code) = (t.clone(), code.clone());
            tokio::spawn(async move { t.redeem(&code, None).await.map(|r| r.status) })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if task.await.map_err(|e| e.to_string())?? == StatusCode::OK {
            ok += 1;
        }
    }
    check!(ok == 1, "{ok} of 100 concurrent redemptions succeeded");
    Ok(())
}

async fn race_refresh(t: &Target) -> Outcome {
    let rt = t.password_tokens("read").await?.str("refresh_token");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (t, rt) = (t.clone(), rt.clone());
            tokio::spawn(async move {
                t.token(&[("grant_type", "refresh_token"), ("refresh_token", &rt)], Some(LEGACY))
                    .await
                    .map(|r| r.status)
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if task.await.map_err(|e| e.to_string())?? == StatusCode::OK {
            ok += 1;
        }
    }
    check!(ok == 1, "{ok} of 100 concurrent refreshes succeeded");
    Ok(())
}

async fn rfc6749_3_3_blank_scope_on_refresh(t: &Target) -> Outcome {
    let first = t.password_tokens("read profile").await?;
    let r = t
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &first.str("refresh_token")), ("scope", " ")],
            Some(LEGACY),
        )
        .await?;
    check!(r.status == StatusCode::OK, "blank scope refresh: {} {}", r.status, r.body);
    check!(r.body["scope"] == "read profile", "a blank scope means the original one: {}", r.body);
    let api = t.api("/api/profile", &r.str("access_token")).await?;
    check!(api.status == StatusCode::OK, "the refreshed token lost its scope: {} {}", api.status, api.body);
    Ok(())
}

async fn rfc8252_7_3_native_redirects_vary_only_in_port(t: &Target) -> Outcome {
    let ch = challenge(VERIFIER);
    for redirect in [
        "http://127.0.0.1:5000/x/../callback",
        "http://127.0.0.1:5000/%2e%2e/callback",
        "http://127.1:5000/callback",
        "http://0x7f.1:5000/callback",
        "http://0x7f000001:5000/callback",
        "HTTP://127.0.0.1:5000/callback",
        "http://127.0.0.1:0/callback",
    ] {
        let q = [
            ("response_type", "code"),
            ("client_id", SPA),
            ("redirect_uri", redirect),
            ("code_challenge", ch.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let (status, location) = t.authorize(&q, "allow").await?;
        check!(
            status == StatusCode::BAD_REQUEST && location.is_none(),
            "{redirect}: {status} {location:?} (only the port may vary)"
        );
    }
    // A tab inside the redirect URI, sent raw in the query: URL parsers drop it, the comparison must not.
    let url = format!(
        "{}/authorize?response_type=code&client_id={SPA}&redirect_uri=http://127.0.0.1:5000/call%09back\
         &code_challenge={ch}&code_challenge_method=S256",
        t.base
    );
    let r = t.http.get(url).header("x-test-user", "alice").send().await.map_err(|e| e.to_string())?;
    check!(r.status() == StatusCode::BAD_REQUEST && r.headers().get("location").is_none(), "tab: {}", r.status());
    Ok(())
}

async fn rfc6749_5_2_error_description_characters(t: &Target) -> Outcome {
    let body = "grant_type=client_credentials&%22%C2%A7%5C%7F=1&%22%C2%A7%5C%7F=2".to_owned();
    let r = t.raw_form("/token", body, Some(basic(SVC.0, SVC.1))).await?;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request")?;
    let d = r.str("error_description");
    check!(
        !d.is_empty() && d.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
        "error_description outside RFC 6749 section 5.2's characters: {d:?}"
    );
    Ok(())
}

async fn rfc7009_2_1_another_clients_token(t: &Target) -> Outcome {
    let tokens = t.password_tokens("read").await?;
    for token in [tokens.str("access_token"), tokens.str("refresh_token")] {
        let r = t.form("/revoke", &[("token", &token)], Some(SVC)).await?;
        expect_error(&r, StatusCode::BAD_REQUEST, "unauthorized_client")?;
    }
    let api = t.api("/api/read", &tokens.str("access_token")).await?;
    check!(api.status == StatusCode::OK, "another client's revocation touched the token: {}", api.status);
    Ok(())
}

async fn rfc6749_4_3_2_password_guessing_is_throttled(t: &Target) -> Outcome {
    let guess = |password: &'static str| {
        let form = [("grant_type", "password"), ("username", "mallory"), ("password", password)];
        async move { t.token(&form, Some(LEGACY)).await }
    };
    for i in 0..10 {
        let r = guess("guess").await?;
        expect_error(&r, StatusCode::BAD_REQUEST, "invalid_grant").map_err(|e| format!("attempt {i}: {e}"))?;
        check!(r.header("retry-after").is_empty(), "attempt {i} was throttled already");
    }
    let r = guess("guess").await?;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_grant")?;
    check!(r.header("retry-after") == "60", "the eleventh attempt is refused for 60 s: {:?}", r.headers);
    // Another user is not affected.
    t.password_tokens("read").await.map(drop)
}

async fn a_body_that_trickles_in_is_refused(t: &Target) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = t.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.map_err(|e| e.to_string())?;
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: {}\r\nContent-Length: 100\r\nConnection: close\r\n\r\ngrant_type=",
        basic(SVC.0, SVC.1)
    );
    s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(BODY_TIMEOUT + Duration::from_secs(3), s.read_to_end(&mut answer)).await;
    check!(read.is_ok(), "still waiting for the body after {:?}", started.elapsed());
    let answer = String::from_utf8_lossy(&answer);
    check!(answer.starts_with("HTTP/1.1 400"), "a slow body gets 400 invalid_request: {answer}");
    check!(answer.contains("invalid_request"), "{answer}");
    Ok(())
}

/// The client side (oauth2-reqwest) against this provider: discovery, code + PKCE, refresh, API calls, password,
/// client credentials, introspection and revocation.
async fn client_side_session(t: &Target) -> Outcome {
    use oauth2_core::Client;
    use oauth2_reqwest::Session;
    let e = |e: oauth2_reqwest::Error| format!("{}: {}", e.code(), e.description());
    let http = oauth2_reqwest::http_client().map_err(e)?;
    let metadata = oauth2_reqwest::discover(&http, &t.base).await.map_err(e)?;
    let client = Client::builder(WEB.0)
        .secret(WEB.1)
        .metadata(&metadata)
        .redirect_uri(WEB_REDIRECT)
        .build()
        .map_err(|e| e.to_string())?;
    let session = Session::new(client).map_err(e)?;
    let (url, pending) = session.authorization_url("read").map_err(e)?;
    let callback = t.visit(url).await?;
    let token = session.finish_authorization(&pending, &callback).await.map_err(e)?;
    let me: Value = session.get(t.url("/api/read")).send().await.map_err(e)?.json().await.map_err(|e| e.to_string())?;
    check!(me["sub"] == "alice", "session API call: {me}");
    let refreshed = session.refresh().await.map_err(e)?;
    check!(refreshed.access_token != token.access_token, "refresh gave the same token");
    let info = session.introspect(refreshed.access_token.secret(), None).await.map_err(e)?;
    check!(info.active, "introspection of the session's token");
    session.revoke(refreshed.refresh_token.as_ref().map(|r| r.secret()).unwrap_or(""), None).await.map_err(e)?;
    check!(!session.introspect(refreshed.access_token.secret(), None).await.map_err(e)?.active, "revoked but active");

    let legacy = Client::builder(LEGACY.0).secret(LEGACY.1).metadata(&metadata).build().map_err(|e| e.to_string())?;
    let s = Session::new(legacy).map_err(e)?;
    s.password("alice", "wonderland", "profile").await.map_err(e)?;
    check!(s.get(t.url("/api/profile")).send().await.map_err(e)?.status() == StatusCode::OK, "password session");

    let svc = Client::builder(SVC.0).secret(SVC.1).metadata(&metadata).build().map_err(|e| e.to_string())?;
    let s = Session::new(svc).map_err(e)?;
    s.client_credentials("read").await.map_err(e)?;
    check!(s.get(t.url("/api/read")).send().await.map_err(e)?.status() == StatusCode::OK, "client credentials session");

    // A public native client (no secret: `none` authentication, PKCE required) on a loopback port of its choosing,
    // then the implicit grant for the same client.
    let native = Client::builder(SPA)
        .metadata(&metadata)
        .redirect_uri("http://127.0.0.1:43111/callback")
        .build()
        .map_err(|e| e.to_string())?;
    let s = Session::new(native).map_err(e)?;
    let (url, pending) = s.authorization_url("read").map_err(e)?;
    let callback = t.visit(url).await?;
    let token = s.finish_authorization(&pending, &callback).await.map_err(e)?;
    check!(token.refresh_token.is_some(), "the public client got no refresh token");
    check!(s.get(t.url("/api/read")).send().await.map_err(e)?.status() == StatusCode::OK, "public client session");
    s.refresh().await.map_err(e)?;
    check!(s.get(t.url("/api/read")).send().await.map_err(e)?.status() == StatusCode::OK, "public client refresh");
    let (url, pending) = s.implicit_url("read").map_err(e)?;
    let callback = t.visit(url).await?;
    s.finish_implicit(&pending, &callback).map_err(e)?;
    check!(s.get(t.url("/api/read")).send().await.map_err(e)?.status() == StatusCode::OK, "implicit session");
    Ok(())
}

/// Every scenario, by name.
const SCENARIOS: &[(&str, Run)] = table![
    metadata,
    rfc7517_5_jwks_lists_the_public_signing_keys,
    oidc_core_3_1_3_3_the_code_grant_with_openid_returns_a_verifiable_id_token,
    oidc_core_3_1_2_6_prompt_none_is_login_required,
    oidc_discovery_4_the_openid_configuration_is_served,
    oidc_core_5_3_1_userinfo_answers_get_and_post,
    code_grant_with_pkce,
    public_client_loopback_any_port,
    public_client_without_pkce_is_refused,
    implicit_grant,
    denied_authorization,
    password_grant,
    client_credentials_grant,
    refresh_rotation,
    refresh_reuse_revokes_family,
    widened_scope_on_refresh,
    revocation,
    introspection,
    wrong_secret,
    two_auth_methods,
    malformed_basic_header,
    unknown_client,
    unregistered_redirect,
    duplicate_parameters,
    oversized_body,
    a_huge_declared_body_is_refused_at_once,
    wrong_content_type,
    reused_code_revokes_tokens,
    wrong_or_missing_verifier,
    verifier_without_challenge,
    expired_code,
    insufficient_scope,
    resource_without_or_with_bad_token,
    race_code_redemption,
    race_refresh,
    rfc6749_3_3_blank_scope_on_refresh,
    rfc8252_7_3_native_redirects_vary_only_in_port,
    rfc6749_5_2_error_description_characters,
    rfc7009_2_1_another_clients_token,
    rfc6749_4_3_2_password_guessing_is_throttled,
    a_body_that_trickles_in_is_refused,
    client_side_session,
];

/// The outcome of a run: each scenario's name and its failure, if any.
#[derive(Debug)]
pub struct Report {
    /// `(name, None)` for a pass, `(name, Some(why))` for a failure.
    pub results: Vec<(&'static str, Option<String>)>,
}

impl Report {
    /// How many scenarios failed.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|(_, e)| e.is_some()).count()
    }
}

/// Runs the whole table against the provider at `base` and prints one line per scenario.
pub async fn run(framework: &str, base: &str) -> Report {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default();
    let target = Target { base: base.to_owned(), api: String::new(), http };
    let mut report = run_table(framework, &target, SCENARIOS).await;
    report.results.extend(run_table(framework, &target, device::SCENARIOS).await.results);
    report.results.extend(run_table(framework, &target, par::SCENARIOS).await.results);
    report.results.extend(run_table(framework, &target, dpop::SCENARIOS).await.results);
    report
}

/// Runs the JWT table: a provider built from [`jwt_fixture`] at `base`, mounted as for [`run`], and an API at
/// `api` that stands alone: `GET /api/read` (scope `read`) and `GET /api/profile` (scope `profile`) behind the
/// adapter's scope check with [`api_verifier`], answering as the provider's resources do.
pub async fn run_jwt(framework: &str, base: &str, api: &str) -> Report {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default();
    let target = Target { base: base.to_owned(), api: api.to_owned(), http };
    run_table(framework, &target, jwt::SCENARIOS).await
}

/// The verifier type of the JWT table's API.
pub type ApiVerifier = oauth2_reqwest::resource::RemoteVerifier;

/// The verifier of the JWT table's API: the JWTs of the provider at `issuer` for [`JWT_API`], with its JWKS.
pub async fn api_verifier(issuer: &str) -> Result<ApiVerifier, oauth2_reqwest::Error> {
    oauth2_reqwest::resource::RemoteVerifier::builder(issuer, JWT_API).algorithms(&[Algorithm::EdDsa]).discover().await
}

async fn run_table(framework: &str, target: &Target, table: &[(&'static str, Run)]) -> Report {
    let mut results = Vec::new();
    for (name, scenario) in table {
        let outcome = scenario(target).await;
        match &outcome {
            Ok(()) => eprintln!("[{framework}] scenario {name} ... ok"),
            Err(e) => eprintln!("[{framework}] scenario {name} ... FAILED: {e}"),
        }
        results.push((*name, outcome.err()));
    }
    let report = Report { results };
    eprintln!("[{framework}] {} passed, {} failed", report.results.len() - report.failed(), report.failed());
    report
}
