//! The demo web client: "Log in with the demo provider", a profile page from `/userinfo`, refresh and logout, on
//! axum and oauth2-reqwest. `client-web --listen 127.0.0.1:3000 --issuer http://127.0.0.1:9000`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{RawQuery, State};
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
    /// The scope to ask for.
    #[arg(long, default_value = "profile read")]
    scope: String,
}

#[derive(Default)]
struct Visitor {
    pending: Option<PendingAuthorization>,
    session: Option<Session>,
}

struct AppState {
    client: Client,
    http: reqwest::Client,
    scope: Scope,
    base: String,
    userinfo: String,
    visitors: Mutex<HashMap<String, Visitor>>,
}

type Shared = Arc<AppState>;

const COOKIE: &str = "client_web";

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

impl AppState {
    fn visitor_id(&self, headers: &HeaderMap) -> Option<String> {
        let visitors = self.visitors.lock().unwrap_or_else(PoisonError::into_inner);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, v)| *k == COOKIE && visitors.contains_key(*v))
            .map(|(_, v)| v.to_owned())
    }

    fn with_visitor<T>(&self, id: &str, f: impl FnOnce(&mut Visitor) -> T) -> Option<T> {
        self.visitors.lock().unwrap_or_else(PoisonError::into_inner).get_mut(id).map(f)
    }

    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let id = self.visitor_id(headers)?;
        self.with_visitor(&id, |v| v.session.clone()).flatten()
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

async fn login(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let (url, pending) = match app.client.authorization_request(&mut OsRng).scope(&app.scope).build() {
        Ok(v) => v,
        Err(e) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, page("Error", &html_escape(&e.to_string()))).into_response();
        }
    };
    let id = app.visitor_id(&headers).unwrap_or_else(|| OsTokenGenerator.generate());
    app.visitors.lock().unwrap_or_else(PoisonError::into_inner).entry(id.clone()).or_default().pending = Some(pending);
    let mut response = Redirect::to(url.as_str()).into_response();
    if let Ok(v) = HeaderValue::try_from(format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax")) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn callback(State(app): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let failed = |code: &str, text: &str| {
        let body =
            format!("<p class=\"error\">{}: {}</p><p><a href=\"/\">Back</a></p>", html_escape(code), html_escape(text));
        (StatusCode::BAD_REQUEST, page("Login failed", &body)).into_response()
    };
    let Some(id) = app.visitor_id(&headers) else { return failed("no_session", "start from the login link") };
    let Some(pending) = app.with_visitor(&id, |v| v.pending.take()).flatten() else {
        return failed("no_pending_login", "start from the login link");
    };
    let session = match Session::builder(app.client.clone()).http_client(app.http.clone()).build() {
        Ok(s) => s,
        Err(e) => return failed(e.code(), &e.description()),
    };
    let url = format!("{}/callback?{}", app.base, query.unwrap_or_default());
    if let Err(e) = session.finish_authorization(&pending, &url).await {
        return failed(e.code(), &e.description());
    }
    app.with_visitor(&id, |v| v.session = Some(session));
    Redirect::to("/profile").into_response()
}

async fn profile(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let Some(session) = app.session(&headers) else { return Redirect::to("/").into_response() };
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
    let body = format!(
        "<dl><dt>Name</dt><dd id=\"name\">{name}</dd><dt>Username</dt><dd id=\"sub\">{sub}</dd>\
         <dt>Granted scope</dt><dd>{scope}</dd><dt>Access token expires in</dt><dd id=\"expires\">{expires}</dd></dl>\
         <form method=\"post\" action=\"/refresh\"><button type=\"submit\" class=\"secondary\">Refresh token</button></form> \
         <form method=\"post\" action=\"/logout\"><button type=\"submit\">Log out</button></form>",
        name = html_escape(me["name"].as_str().unwrap_or("")),
        sub = html_escape(me["sub"].as_str().unwrap_or("")),
        scope = html_escape(&scope),
    );
    page("Your profile", &body).into_response()
}

async fn refresh(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let Some(session) = app.session(&headers) else { return Redirect::to("/").into_response() };
    match session.refresh().await {
        Ok(_) => Redirect::to("/profile").into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, page("Refresh failed", &html_escape(&e.description()))).into_response(),
    }
}

async fn logout(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(id) = app.visitor_id(&headers) {
        let session = app.visitors.lock().unwrap_or_else(PoisonError::into_inner).remove(&id).and_then(|v| v.session);
        if let Some(token) = session.and_then(|s| s.token()) {
            // Revoking the refresh token revokes the whole grant at the provider.
            let secret = token.refresh_token.as_ref().map(|r| r.secret().to_owned());
            let s = Session::builder(app.client.clone()).http_client(app.http.clone()).build();
            if let (Some(secret), Ok(s)) = (secret, s) {
                let _ = s.revoke(&secret, Some(oauth2_core::introspection::TokenTypeHint::RefreshToken)).await;
            }
        }
    }
    Redirect::to("/").into_response()
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
        scope: Scope::parse(&args.scope),
        base: base.clone(),
        userinfo,
        visitors: Mutex::default(),
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
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail(e.to_string()),
    }
}
