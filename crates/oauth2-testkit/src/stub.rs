//! The stub authorization server.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The confidential client the stub knows.
pub const CLIENT_ID: &str = "app";
/// Its secret (with characters that §2.3.1 form-encoding changes).
pub const CLIENT_SECRET: &str = "app secret+/%";
/// A public client (no secret).
pub const PUBLIC_CLIENT_ID: &str = "public-app";
/// The resource owner for the password grant and the simulated login.
pub const USERNAME: &str = "alice";
/// Alice's password.
pub const PASSWORD: &str = "wonderland";

#[derive(Debug)]
struct Code {
    client_id: String,
    redirect_uri: Option<String>,
    challenge: Option<String>,
    scope: String,
}

/// A token request as received: its Authorization header and form body.
pub type RecordedRequest = (Option<String>, Vec<(String, String)>);

/// A request pushed to the stub's `/par`: its client and its form.
type Pushed = (String, Vec<(String, String)>);

/// What the stub has seen and issued; tests read and script it.
#[derive(Debug, Default)]
pub struct StubState {
    /// The issuer (`http://127.0.0.1:PORT`).
    pub issuer: String,
    counter: AtomicU64,
    /// Requests to the token endpoint, by grant type.
    pub grant_calls: Mutex<HashMap<String, usize>>,
    /// Refresh requests received (counted before any check).
    pub refresh_calls: AtomicUsize,
    /// When set, a refresh request, once counted, waits for `release_refresh` instead of the usual 50 ms: a test
    /// can act inside a refresh without racing a timer.
    pub hold_refresh: std::sync::atomic::AtomicBool,
    /// Lets one held refresh go on (a permit is kept if none is waiting yet).
    pub release_refresh: tokio::sync::Notify,
    /// Requests the resource answered with 200.
    pub api_ok: AtomicUsize,
    codes: Mutex<HashMap<String, Code>>,
    access: Mutex<HashSet<String>>,
    refresh: Mutex<HashMap<String, String>>,
    /// `expires_in` of issued tokens (seconds).
    pub expires_in: AtomicU64,
    /// Whether to issue refresh tokens with the password and code grants.
    pub issue_refresh: std::sync::atomic::AtomicBool,
    /// The last Authorization header and form body seen at the token endpoint.
    pub last_token_request: Mutex<Option<RecordedRequest>>,
    /// An `id_token` to put in the code grant's and refreshes' token responses, as scripted (a forged one, say).
    pub id_token: Mutex<Option<String>>,
    /// What `/jwks` serves (an empty key set unless scripted).
    pub jwks: Mutex<Option<Value>>,
    /// How many times `/jwks` was fetched.
    pub jwks_calls: AtomicUsize,
    /// How many introspection requests came.
    pub introspect_calls: AtomicUsize,
    /// The `aud` of active introspection answers, when set.
    pub introspection_aud: Mutex<Option<String>>,
    /// The `exp` of active introspection answers, when set.
    pub introspection_exp: Mutex<Option<u64>>,
    /// The `cnf` (and then `token_type: DPoP`) of active introspection answers, when set.
    pub introspection_cnf: Mutex<Option<serde_json::Value>>,
    /// The `jwks_uri` the metadata names instead of the stub's own, when set.
    pub metadata_jwks_uri: Mutex<Option<String>>,
    /// Whether the metadata requires pushed authorization requests (RFC 9126 §5), and `/authorize` refuses others.
    pub require_par: std::sync::atomic::AtomicBool,
    /// Requests pushed to `/par`, by `request_uri`: the client and the form.
    pushed: Mutex<HashMap<String, Pushed>>,
    /// The Authorization header and form of the last request pushed to `/par`.
    pub last_pushed_request: Mutex<Option<RecordedRequest>>,
}

impl StubState {
    fn next(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.counter.fetch_add(1, Ordering::SeqCst))
    }

    /// Makes `token` a valid access token.
    pub fn add_access_token(&self, token: &str) {
        lock(&self.access).insert(token.to_owned());
    }

    /// Makes `token` a valid refresh token.
    pub fn add_refresh_token(&self, token: &str, scope: &str) {
        lock(&self.refresh).insert(token.to_owned(), scope.to_owned());
    }

    /// Invalidates an access token (the resource then answers 401 invalid_token).
    pub fn revoke_access_token(&self, token: &str) {
        lock(&self.access).remove(token);
    }

    /// Whether `token` is a currently valid access token.
    pub fn is_valid_access_token(&self, token: &str) -> bool {
        lock(&self.access).contains(token)
    }

    /// How many token requests with `grant_type` arrived.
    pub fn grant_calls(&self, grant_type: &str) -> usize {
        lock(&self.grant_calls).get(grant_type).copied().unwrap_or(0)
    }

    fn issue(&self, scope: &str, with_refresh: bool) -> Value {
        let access = self.next("at");
        lock(&self.access).insert(access.clone());
        let mut body = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in.load(Ordering::SeqCst),
            "scope": scope,
        });
        if with_refresh {
            let refresh = self.next("rt");
            lock(&self.refresh).insert(refresh.clone(), scope.to_owned());
            body["refresh_token"] = json!(refresh);
        }
        body
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A stub authorization server and API running on `127.0.0.1:0` until dropped.
///
/// Routes: `GET /authorize` (approves at once, redirecting with `code`, `state` and `iss`, or with the token in the
/// fragment for `response_type=token`), `POST /token` (all four
/// grants, refresh with rotation), `POST /revoke`, `POST /introspect`, `GET|POST /api/me` (Bearer-protected), `GET /api/no-credentials`
/// (always 401 with a bare Bearer challenge),
/// `GET /.well-known/oauth-authorization-server`, and quirky token endpoints for lenient-mode tests:
/// `POST /token-form` (form-encoded body), `POST /token-quirky` (string `expires_in`, no `token_type`),
/// `POST /token-redirect` (a 307 to `/token`). For discovery's fallback, the issuer `BASE/oidc` has only an OpenID
/// Connect discovery document (`GET /oidc/.well-known/openid-configuration`), no RFC 8414 one.
#[derive(Debug)]
pub struct StubServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Shared state, to script and inspect.
    pub state: Arc<StubState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StubServer {
    /// Starts a stub on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(StubState { issuer: base.clone(), ..Default::default() });
        state.expires_in.store(3600, Ordering::SeqCst);
        state.issue_refresh.store(true, Ordering::SeqCst);
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/par", post(par))
            .route("/token", post(token))
            .route("/token-form", post(token_form))
            .route("/token-quirky", post(token_quirky))
            .route(
                "/token-redirect",
                post(|| async { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, "/token")]) }),
            )
            .route("/revoke", post(revoke))
            .route("/introspect", post(introspect))
            .route("/api/me", get(api_me).post(api_me))
            .route(
                "/api/no-credentials",
                get(|| async { (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer realm=\"stub\"")]) }),
            )
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route(
                "/jwks",
                get(|State(st): State<Arc<StubState>>| async move {
                    st.jwks_calls.fetch_add(1, Ordering::SeqCst);
                    axum::Json(lock(&st.jwks).clone().unwrap_or_else(|| json!({"keys": []})))
                }),
            )
            .route("/oidc/.well-known/openid-configuration", get(openid_configuration))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, state, task }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn form(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut r =
        (status, no_store(), axum::Json(json!({"error": code, "error_description": description}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"stub\""));
    }
    r
}

fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

/// The authenticated client id, or `None` when authentication fails.
fn authenticate(headers: &HeaderMap, params: &[(String, String)]) -> Option<String> {
    let decode = |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let b64 = auth.strip_prefix("Basic ")?;
        let raw = String::from_utf8(STANDARD.decode(b64).ok()?).ok()?;
        let (id, secret) = raw.split_once(':')?;
        let (id, secret) = (decode(id)?, decode(secret)?);
        return (id == CLIENT_ID && secret == CLIENT_SECRET && param(params, "client_secret").is_none()).then_some(id);
    }
    match (param(params, "client_id"), param(params, "client_secret")) {
        (Some(CLIENT_ID), Some(CLIENT_SECRET)) => Some(CLIENT_ID.to_owned()),
        (Some(PUBLIC_CLIENT_ID), None) => Some(PUBLIC_CLIENT_ID.to_owned()),
        _ => None,
    }
}

/// RFC 9126 §2: the request is kept as pushed, for its client, once.
async fn par(State(st): State<Arc<StubState>>, headers: HeaderMap, body: Bytes) -> Response {
    let params = form(&body);
    *lock(&st.last_pushed_request) =
        Some((headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned), params.clone()));
    let Some(client_id) = authenticate(&headers, &params) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    };
    if param(&params, "redirect_uri").is_none() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "missing redirect_uri");
    }
    let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", st.next("stub"));
    lock(&st.pushed).insert(request_uri.clone(), (client_id, params));
    (StatusCode::CREATED, no_store(), axum::Json(json!({"request_uri": request_uri, "expires_in": 60}))).into_response()
}

async fn authorize(State(st): State<Arc<StubState>>, RawQuery(query): RawQuery) -> Response {
    let mut params = form(query.unwrap_or_default().as_bytes());
    if let Some(request_uri) = param(&params, "request_uri").map(str::to_owned) {
        // RFC 9126 §4: only the pushed parameters count.
        match lock(&st.pushed).remove(&request_uri) {
            Some((client_id, pushed)) if param(&params, "client_id") == Some(client_id.as_str()) => params = pushed,
            _ => return (StatusCode::BAD_REQUEST, "unknown request_uri").into_response(),
        }
    } else if st.require_par.load(Ordering::SeqCst) {
        return (StatusCode::BAD_REQUEST, "pushed authorization requests are required").into_response();
    }
    let Some(redirect_uri) = param(&params, "redirect_uri") else {
        return (StatusCode::BAD_REQUEST, "missing redirect_uri").into_response();
    };
    let mut target = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response(),
    };
    if param(&params, "response_type") == Some("token") {
        // Implicit grant (RFC 6749 §4.2.2): the token goes in the fragment.
        let issued = st.issue(param(&params, "scope").unwrap_or("read"), false);
        let mut fragment = url::form_urlencoded::Serializer::new(String::new());
        for key in ["access_token", "token_type", "scope"] {
            fragment.append_pair(key, issued[key].as_str().unwrap_or_default());
        }
        fragment.append_pair("expires_in", &issued["expires_in"].to_string());
        if let Some(state) = param(&params, "state") {
            fragment.append_pair("state", state);
        }
        fragment.append_pair("iss", &st.issuer);
        target.set_fragment(Some(&fragment.finish()));
        return (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response();
    }
    {
        let mut q = target.query_pairs_mut();
        if param(&params, "scope") == Some("forbidden") {
            q.append_pair("error", "access_denied").append_pair("error_description", "the user said no");
        } else {
            let code = st.next("code");
            lock(&st.codes).insert(
                code.clone(),
                Code {
                    client_id: param(&params, "client_id").unwrap_or_default().to_owned(),
                    redirect_uri: Some(redirect_uri.to_owned()),
                    challenge: param(&params, "code_challenge").map(str::to_owned),
                    scope: param(&params, "scope").unwrap_or("read").to_owned(),
                },
            );
            q.append_pair("code", &code);
        }
        if let Some(state) = param(&params, "state") {
            q.append_pair("state", state);
        }
        q.append_pair("iss", &st.issuer);
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

async fn token(State(st): State<Arc<StubState>>, headers: HeaderMap, body: Bytes) -> Response {
    let params = form(&body);
    *lock(&st.last_token_request) =
        Some((headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned), params.clone()));
    let grant = param(&params, "grant_type").unwrap_or_default().to_owned();
    *lock(&st.grant_calls).entry(grant.clone()).or_default() += 1;
    if grant == "refresh_token" {
        st.refresh_calls.fetch_add(1, Ordering::SeqCst);
        if st.hold_refresh.load(Ordering::SeqCst) {
            st.release_refresh.notified().await;
        } else {
            // Widen the window in which concurrent refreshes would overlap, so a missing single-flight shows.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let Some(client_id) = authenticate(&headers, &params) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    };
    let with_refresh = st.issue_refresh.load(Ordering::SeqCst);
    let issued = match grant.as_str() {
        "authorization_code" => {
            let Some(code) = param(&params, "code").and_then(|c| lock(&st.codes).remove(c)) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown or used code");
            };
            if code.client_id != client_id || code.redirect_uri.as_deref() != param(&params, "redirect_uri") {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "code issued to another client or redirect",
                );
            }
            if let Some(challenge) = &code.challenge {
                let ok = param(&params, "code_verifier")
                    .is_some_and(|v| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == *challenge);
                if !ok {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
                }
            }
            let mut issued = st.issue(&code.scope, with_refresh);
            if let Some(id_token) = lock(&st.id_token).clone() {
                issued["id_token"] = json!(id_token);
            }
            issued
        }
        "refresh_token" => {
            let Some(scope) = param(&params, "refresh_token").and_then(|r| lock(&st.refresh).remove(r)) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "refresh token unknown or used");
            };
            let mut issued = st.issue(param(&params, "scope").unwrap_or(&scope), true);
            if let Some(id_token) = lock(&st.id_token).clone() {
                issued["id_token"] = json!(id_token);
            }
            issued
        }
        "client_credentials" if client_id == CLIENT_ID => st.issue(param(&params, "scope").unwrap_or("read"), false),
        "password" => {
            if param(&params, "username") != Some(USERNAME) || param(&params, "password") != Some(PASSWORD) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "wrong username or password");
            }
            st.issue(param(&params, "scope").unwrap_or("read"), with_refresh)
        }
        "client_credentials" => {
            return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", "public clients cannot");
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "unknown grant_type"),
    };
    (no_store(), axum::Json(issued)).into_response()
}

async fn token_form(State(st): State<Arc<StubState>>) -> Response {
    let access = st.next("at");
    st.add_access_token(&access);
    let body = format!("access_token={access}&token_type=bearer&scope=repo");
    ([(header::CONTENT_TYPE, "application/x-www-form-urlencoded")], body).into_response()
}

async fn token_quirky(State(st): State<Arc<StubState>>) -> Response {
    let access = st.next("at");
    st.add_access_token(&access);
    axum::Json(json!({"access_token": access, "expires_in": "3600"})).into_response()
}

async fn revoke(State(st): State<Arc<StubState>>, headers: HeaderMap, body: Bytes) -> Response {
    let params = form(&body);
    if authenticate(&headers, &params).is_none() {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    }
    if let Some(token) = param(&params, "token") {
        lock(&st.access).remove(token);
        lock(&st.refresh).remove(token);
    }
    StatusCode::OK.into_response()
}

async fn introspect(State(st): State<Arc<StubState>>, headers: HeaderMap, body: Bytes) -> Response {
    st.introspect_calls.fetch_add(1, Ordering::SeqCst);
    let params = form(&body);
    if authenticate(&headers, &params).is_none() {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    }
    let token = param(&params, "token").unwrap_or_default();
    let body = if st.is_valid_access_token(token) {
        let mut body = json!({"active": true, "client_id": CLIENT_ID, "token_type": "Bearer", "sub": USERNAME});
        if let Some(aud) = lock(&st.introspection_aud).clone() {
            body["aud"] = json!(aud);
        }
        if let Some(exp) = *lock(&st.introspection_exp) {
            body["exp"] = json!(exp);
        }
        if let Some(cnf) = lock(&st.introspection_cnf).clone() {
            (body["cnf"], body["token_type"]) = (cnf, json!("DPoP"));
        }
        body
    } else {
        json!({"active": false})
    };
    axum::Json(body).into_response()
}

async fn api_me(State(st): State<Arc<StubState>>, headers: HeaderMap) -> Response {
    let token =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(t) if st.is_valid_access_token(t) => {
            st.api_ok.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({"sub": USERNAME, "token": t})).into_response()
        }
        Some(_) => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"stub\", error=\"invalid_token\", error_description=\"expired\"",
            )],
        )
            .into_response(),
        None => (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer realm=\"stub\"")]).into_response(),
    }
}

async fn metadata(State(st): State<Arc<StubState>>) -> Response {
    let b = &st.issuer;
    let jwks_uri = lock(&st.metadata_jwks_uri).clone().unwrap_or_else(|| format!("{b}/jwks"));
    axum::Json(json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "revocation_endpoint": format!("{b}/revoke"),
        "introspection_endpoint": format!("{b}/introspect"),
        "jwks_uri": jwks_uri,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "password"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "pushed_authorization_request_endpoint": format!("{b}/par"),
        "require_pushed_authorization_requests": st.require_par.load(Ordering::SeqCst),
        "x_stub": "kept"
    }))
    .into_response()
}

/// OpenID Connect discovery for the issuer `BASE/oidc` (whose endpoints are the stub's own).
async fn openid_configuration(State(st): State<Arc<StubState>>) -> Response {
    let b = &st.issuer;
    axum::Json(json!({
        "issuer": format!("{b}/oidc"),
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "jwks_uri": format!("{b}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"]
    }))
    .into_response()
}
