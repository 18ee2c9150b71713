//! The demo web client: "Log in with the demo provider", a profile page from `/userinfo`, refresh and logout, on
//! axum and oauth2-reqwest. `client-web --listen 127.0.0.1:3000 --issuer http://127.0.0.1:9000`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use clap::Parser;
use oauth2_core::html::escape as html_escape;
use oauth2_core::random::OsRng;
use oauth2_core::server::{OsTokenGenerator, TokenGenerator};
use oauth2_core::{Client, PendingAuthorization, Scope};
use oauth2_reqwest::Session;

/// The demo web client: logs users in with the demo provider (authorization code + PKCE) and shows their profile.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; the redirect URI is http://LISTEN/callback.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: String,
    /// The provider's issuer URL.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    issuer: String,
    /// This app's client id at the provider.
    #[arg(long, default_value = "demo-web")]
    client_id: String,
    /// This app's client secret.
    #[arg(long, default_value = "demo-web-secret")]
    client_secret: String,
    /// The scope to ask for (default: `openid profile email read` as far as the provider offers them, so that it
    /// logs in with OpenID Connect where it can; `profile read` when the provider lists no scopes).
    #[arg(long)]
    scope: Option<String>,
}

/// A login on its way to the provider: what the callback needs, when it started, and from where.
struct PendingLogin {
    pending: PendingAuthorization,
    started: SystemTime,
    address: Option<IpAddr>,
}

/// A signed-in visitor: their session with the provider, and the CSRF token of their forms.
struct SignedIn {
    session: Session,
    csrf: String,
}

/// Logins in progress kept at most, in all and per client address, and how long one may take. None is evicted
/// before it expires (anonymous visitors could otherwise push out everyone's): past the caps, /login says to try
/// again later.
const MAX_PENDING: usize = 10_000;
const MAX_PENDING_PER_ADDRESS: usize = 32;
const PENDING_LIFETIME: Duration = Duration::from_secs(600);
/// Pushed authorization requests in flight at most.
const MAX_PUSHING: usize = 16;
/// Signed-in visitors kept at most (the oldest go first), and how long a sign-in lasts.
const MAX_SIGNED_IN: usize = 10_000;
const SIGNED_IN_LIFETIME: Duration = Duration::from_secs(3600);

struct AppState {
    client: Client,
    http: reqwest::Client,
    scope: Scope,
    base: String,
    userinfo: String,
    /// By the `client_web_login` cookie: each visit to /login starts one.
    pending: Mutex<HashMap<String, PendingLogin>>,
    /// Pushes to the provider in flight (RFC 9126): the checks on `pending` come before a push, so this bounds how
    /// far concurrent logins can go past them.
    pushing: tokio::sync::Semaphore,
    /// By the `client_web` cookie, which is created at login: a cookie planted before it is worth nothing.
    signed_in: Mutex<HashMap<String, (SystemTime, SignedIn)>>,
}

type Shared = Arc<AppState>;

const COOKIE: &str = "client_web";
const LOGIN_COOKIE: &str = "client_web_login";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{t}</title><style>\
         body{{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}}main{{max-width:32rem;margin:4rem auto;\
         background:#fff;border:1px solid #d0d7de;border-radius:12px;padding:2rem}}a.button,button{{display:inline-block;\
         font-size:1rem;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #1a7f37;background:#1f883d;color:#fff;\
         text-decoration:none;cursor:pointer}}button.secondary{{background:#f6f8fa;color:#1f2328;border-color:#8c959f}}\
         form{{display:inline}}dt{{font-weight:600}}dd{{margin:0 0 .8rem}}.error{{color:#cf222e}}</style></head>\
         <body><main><h1>{t}</h1>{body}</main></body></html>",
        t = html_escape(title)
    ))
}

/// The value of cookie `name` in the request.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: Option<u64>) {
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    if let Ok(v) = HeaderValue::try_from(format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{age}")) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Inserts into a bounded map: past `max` entries, the oldest (by the time beside each) go first.
fn insert_bounded<V>(map: &mut HashMap<String, V>, max: usize, key: String, value: V, time: impl Fn(&V) -> SystemTime) {
    if map.len() >= max {
        let mut times: Vec<SystemTime> = map.values().map(&time).collect();
        times.sort_unstable();
        let cutoff = times[times.len() / 2];
        map.retain(|_, v| time(v) > cutoff);
    }
    map.insert(key, value);
}

impl AppState {
    fn signed_in<T>(&self, headers: &HeaderMap, f: impl FnOnce(&SignedIn) -> T) -> Option<T> {
        let id = cookie(headers, COOKIE)?;
        let now = SystemTime::now();
        let table = self.signed_in.lock().unwrap_or_else(PoisonError::into_inner);
        table.get(id).filter(|(at, _)| *at + SIGNED_IN_LIFETIME > now).map(|(_, s)| f(s))
    }

    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        self.signed_in(headers, |s| s.session.clone())
    }

    /// Whether a POST is the visitor's own: from this origin (other ports of the same host are the same site, so
    /// SameSite cookies do not tell) and with the visitor's CSRF token.
    fn checked_post(&self, headers: &HeaderMap, form: &[u8]) -> Option<Session> {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        if origin.is_some_and(|o| o != self.base) {
            return None;
        }
        let sent = oauth2_core::form::FormParams::parse(form).ok()?.get("csrf")?.to_owned();
        self.signed_in(headers, |s| {
            bool::from(subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), s.csrf.as_bytes())).then(|| s.session.clone())
        })
        .flatten()
    }
}

async fn home(State(app): State<Shared>, headers: HeaderMap) -> Html<String> {
    if app.session(&headers).is_some() {
        page(
            "Demo web client",
            "<p>You are signed in.</p><p><a class=\"button\" href=\"/profile\">View your profile</a></p>",
        )
    } else {
        page(
            "Demo web client",
            "<p>This app shows your profile from the demo provider, with your permission.</p>\
             <p><a class=\"button\" href=\"/login\">Log in with the demo provider</a></p>",
        )
    }
}

async fn login(State(app): State<Shared>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    let id = OsTokenGenerator.generate();
    let now = SystemTime::now();
    let address = Some(peer.ip());
    let busy = {
        let mut logins = app.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if logins.len() >= MAX_PENDING / 2 {
            logins.retain(|_, p| p.started + PENDING_LIFETIME > now);
        }
        let from_here = logins.values().filter(|p| address.is_some() && p.address == address).count();
        logins.len() >= MAX_PENDING || from_here >= MAX_PENDING_PER_ADDRESS
    };
    let pushing = app.client.requires_pushed_authorization_requests();
    let permit = if pushing { app.pushing.try_acquire().ok() } else { None };
    if busy || (pushing && permit.is_none()) {
        let body = "<p class=\"error\">Too many logins in progress. Try again in a few minutes.</p>";
        return (StatusCode::SERVICE_UNAVAILABLE, page("Busy", body)).into_response();
    }
    // A provider that requires pushed requests (RFC 9126 §5) gets this one pushed, and the browser only its
    // request_uri.
    let started = start_login(&app).await;
    drop(permit);
    let (url, pending) = match started {
        Ok(v) => v,
        Err(e) => {
            return (StatusCode::BAD_GATEWAY, page("Error", &html_escape(&e.to_string()))).into_response();
        }
    };
    app.pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id.clone(), PendingLogin { pending, started: now, address });
    let mut response = Redirect::to(url.as_str()).into_response();
    set_cookie(&mut response, LOGIN_COOKIE, &id, Some(PENDING_LIFETIME.as_secs()));
    response
}

/// The authorization URL for a login, pushed first when the provider's metadata requires it.
async fn start_login(app: &AppState) -> Result<(url::Url, PendingAuthorization), oauth2_reqwest::Error> {
    let request = app.client.authorization_request(&mut OsRng).scope(&app.scope);
    if !app.client.requires_pushed_authorization_requests() {
        return Ok(request.build()?);
    }
    let (push, pending) = request.build_pushed()?;
    let response = oauth2_reqwest::execute(&app.http, push).await?;
    let pushed = app.client.parse_pushed_authorization_response(response, SystemTime::now())?;
    Ok((app.client.pushed_authorization_url(&pushed)?, pending))
}

async fn callback(State(app): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let failed = |code: &str, text: &str| {
        let body =
            format!("<p class=\"error\">{}: {}</p><p><a href=\"/\">Back</a></p>", html_escape(code), html_escape(text));
        (StatusCode::BAD_REQUEST, page("Login failed", &body)).into_response()
    };
    let now = SystemTime::now();
    let login_id = cookie(&headers, LOGIN_COOKIE).map(str::to_owned);
    let pending = login_id.as_deref().and_then(|id| {
        let logins = app.pending.lock().unwrap_or_else(PoisonError::into_inner);
        logins.get(id).filter(|p| p.started + PENDING_LIFETIME > now).map(|p| p.pending.clone())
    });
    let Some(pending) = pending else {
        return failed("no_pending_login", "start from the login link");
    };
    let session = match Session::builder(app.client.clone()).http_client(app.http.clone()).build() {
        Ok(s) => s,
        Err(e) => return failed(e.code(), &e.description()),
    };
    let url = format!("{}/callback?{}", app.base, query.unwrap_or_default());
    let finished = session.finish_authorization(&pending, &url).await;
    // A callback with someone else's state (a link an attacker sent) leaves the real login in progress alone.
    let state_mismatch = matches!(&finished, Err(oauth2_reqwest::Error::Callback(e)) if e.code() == "state_mismatch");
    if !state_mismatch && let Some(id) = &login_id {
        app.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }
    if let Err(e) = finished {
        return failed(e.code(), &e.description());
    }
    // A new session id at login: whatever cookie the browser had before (planted or not) names nothing.
    let id = OsTokenGenerator.generate();
    let entry = (now, SignedIn { session, csrf: OsTokenGenerator.generate() });
    let mut signed_in = app.signed_in.lock().unwrap_or_else(PoisonError::into_inner);
    if signed_in.len() >= MAX_SIGNED_IN {
        signed_in.retain(|_, (at, _)| *at + SIGNED_IN_LIFETIME > now);
    }
    insert_bounded(&mut signed_in, MAX_SIGNED_IN, id.clone(), entry, |(t, _)| *t);
    drop(signed_in);
    let mut response = Redirect::to("/profile").into_response();
    set_cookie(&mut response, COOKIE, &id, None);
    set_cookie(&mut response, LOGIN_COOKIE, "", Some(0));
    response
}

async fn profile(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let Some((session, csrf)) = app.signed_in(&headers, |s| (s.session.clone(), s.csrf.clone())) else {
        return Redirect::to("/").into_response();
    };
    let me: serde_json::Value = match session.get(&app.userinfo).send().await {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
        Ok(r) => {
            return page("Profile", &format!("<p class=\"error\">userinfo answered {}</p>", r.status()))
                .into_response();
        }
        Err(e) => {
            return page("Profile", &format!("<p class=\"error\">{}</p>", html_escape(&e.description())))
                .into_response();
        }
    };
    let token = session.token();
    let expires = token
        .as_ref()
        .and_then(|t| t.expires_in(SystemTime::now()))
        .map(|d| format!("{} s", d.as_secs()))
        .unwrap_or_else(|| "unknown".into());
    let scope = token.as_ref().and_then(|t| t.scope.as_ref()).map(|s| s.to_string()).unwrap_or_default();
    // OpenID Connect: the id_token's claims (checked by the session against the provider's keys) beside UserInfo.
    let id_token = match session.id_token_claims() {
        Some(c) => format!(
            "<h2>ID token</h2><dl><dt>Issuer</dt><dd id=\"iss\">{}</dd><dt>Subject</dt><dd id=\"id-sub\">{}</dd>\
             <dt>Logged in at</dt><dd id=\"auth-time\">{}</dd><dt>Expires at</dt><dd>{}</dd></dl>",
            html_escape(&c.iss),
            html_escape(&c.sub),
            c.auth_time.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
            c.exp,
        ),
        None => String::new(),
    };
    let email = me["email"].as_str().map(|e| format!("<dt>Email</dt><dd id=\"email\">{}</dd>", html_escape(e)));
    let csrf = html_escape(&csrf);
    let body = format!(
        "<h2>UserInfo</h2><dl><dt>Name</dt><dd id=\"name\">{name}</dd><dt>Username</dt><dd id=\"sub\">{sub}</dd>{email}\
         <dt>Granted scope</dt><dd>{scope}</dd><dt>Access token expires in</dt><dd id=\"expires\">{expires}</dd></dl>{id_token}\
         <form method=\"post\" action=\"/refresh\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" class=\"secondary\">Refresh token</button></form> \
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Log out</button></form>",
        name = html_escape(me["name"].as_str().unwrap_or("")),
        sub = html_escape(me["sub"].as_str().unwrap_or("")),
        scope = html_escape(&scope),
        email = email.unwrap_or_default(),
    );
    page("Your profile", &body).into_response()
}

fn forbidden() -> Response {
    let text = "<p class=\"error\">This form did not come from this page.</p><p><a href=\"/\">Back</a></p>";
    (StatusCode::FORBIDDEN, page("Request refused", text)).into_response()
}

async fn refresh(State(app): State<Shared>, headers: HeaderMap, form: axum::body::Bytes) -> Response {
    let Some(session) = app.checked_post(&headers, &form) else { return forbidden() };
    match session.refresh().await {
        Ok(_) => Redirect::to("/profile").into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, page("Refresh failed", &html_escape(&e.description()))).into_response(),
    }
}

async fn logout(State(app): State<Shared>, headers: HeaderMap, form: axum::body::Bytes) -> Response {
    let Some(session) = app.checked_post(&headers, &form) else { return forbidden() };
    if let Some(id) = cookie(&headers, COOKIE) {
        app.signed_in.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }
    if let Some(token) = session.token() {
        // Revoking the refresh token revokes the whole grant at the provider.
        if let Some(secret) = token.refresh_token.as_ref().map(|r| r.secret().to_owned()) {
            let _ = session.revoke(&secret, Some(oauth2_core::introspection::TokenTypeHint::RefreshToken)).await;
        }
    }
    let mut response = Redirect::to("/").into_response();
    set_cookie(&mut response, COOKIE, "", Some(0));
    response
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let fail = |m: String| {
        eprintln!("error: {m}");
        std::process::ExitCode::from(1)
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on {}: {e}", args.listen)),
    };
    let base = format!("http://{}", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
    let http = match oauth2_reqwest::http_client() {
        Ok(h) => h,
        Err(e) => return fail(e.to_string()),
    };
    // The provider may still be starting (cargo xtask demo starts both): retry discovery for a while.
    let mut metadata = None;
    for _ in 0..50 {
        match oauth2_reqwest::discover(&http, &args.issuer).await {
            Ok(m) => {
                metadata = Some(m);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let Some(metadata) = metadata else { return fail(format!("no authorization server metadata at {}", args.issuer)) };
    let client = match Client::builder(&args.client_id)
        .secret(&args.client_secret)
        .metadata(&metadata)
        .redirect_uri(format!("{base}/callback"))
        .build()
    {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    let userinfo = metadata.userinfo_endpoint.clone().unwrap_or_else(|| format!("{}/userinfo", args.issuer));
    let state = Arc::new(AppState {
        client,
        http,
        scope: match &args.scope {
            Some(scope) => Scope::parse(scope),
            None => match &metadata.scopes_supported {
                Some(offered) => ["openid", "profile", "email", "read"]
                    .into_iter()
                    .filter(|s| offered.iter().any(|o| o == s))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
                    .into(),
                None => Scope::parse("profile read"),
            },
        },
        base: base.clone(),
        userinfo,
        pending: Mutex::default(),
        pushing: tokio::sync::Semaphore::new(MAX_PUSHING),
        signed_in: Mutex::default(),
    });
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/profile", get(profile))
        .route("/refresh", post(refresh))
        .route("/logout", post(logout))
        .with_state(state);
    println!("client-web listening on {base} (provider {})", args.issuer);
    match oauth2_axum::serve::serve(
        listener,
        app,
        oauth2_axum::serve::Limits::default(),
        oauth2_examples::demo::stop_signal(),
    )
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_ins_are_bounded_and_the_oldest_go_first() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut map: HashMap<String, SystemTime> = HashMap::new();
        for i in 0..(MAX_SIGNED_IN as u64 * 3) {
            insert_bounded(&mut map, MAX_SIGNED_IN, format!("k{i}"), start + Duration::from_millis(i), |t| *t);
            assert!(map.len() <= MAX_SIGNED_IN);
        }
        assert!(map.contains_key(&format!("k{}", MAX_SIGNED_IN as u64 * 3 - 1)), "the newest is kept");
        assert!(!map.contains_key("k0"), "the oldest went first");
    }
}
