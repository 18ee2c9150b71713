//! The demo authorization server's app side: configuration (TOML or built-in), users, and the login and consent
//! pages behind `GET /authorize`. Framework-free: [`DemoApp::handle`] takes and returns `http` values.

mod config;
mod pages;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderValue, StatusCode};
use oauth2_core::form::FormParams;
use oauth2_core::resource::AccessGrant;
use oauth2_core::server::{AuthorizationRequest, AuthorizationServer, MemoryStore, OsTokenGenerator, TokenGenerator};
use subtle::ConstantTimeEq;

pub use config::{ClientConfig, ConfigError, DemoConfig, UserConfig};

/// The command line both demo providers take (design.md §4).
#[derive(Debug, Clone, clap::Args)]
pub struct ProviderArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: String,
    /// A TOML file of clients and users.
    #[arg(long)]
    pub config: Option<String>,
    /// The issuer identifier (default: http://HOST:PORT of --listen, with the port actually bound).
    #[arg(long)]
    pub issuer: Option<String>,
}

/// A demo provider ready to serve: what both binaries do before their framework takes over.
#[derive(Debug)]
pub struct Started {
    /// The bound listener (blocking mode; an async framework sets it non-blocking).
    pub listener: std::net::TcpListener,
    /// The authorization server.
    pub server: Arc<AuthorizationServer<MemoryStore>>,
    /// The login and consent pages and `/userinfo`.
    pub demo: DemoApp,
}

/// Loads the configuration (or the built-in data), binds `--listen`, works out the issuer and builds the server;
/// prints the listening line and, for built-in data, the data. `Err` is the message and the exit code (2 for an
/// unusable configuration, 1 when the address cannot be bound).
pub fn start(name: &str, args: &ProviderArgs) -> Result<Started, (String, u8)> {
    let config = match &args.config {
        Some(path) => DemoConfig::load(path).map_err(|e| (e.to_string(), 2))?,
        None => DemoConfig::builtin(),
    };
    let listener =
        std::net::TcpListener::bind(&args.listen).map_err(|e| (format!("cannot listen on {}: {e}", args.listen), 1))?;
    let bound = listener.local_addr().map_err(|e| (format!("cannot read the listening address: {e}"), 1))?;
    let issuer = args.issuer.clone().unwrap_or_else(|| default_issuer(&args.listen, bound));
    let server = config.server(&issuer).map_err(|e| (e.to_string(), 2))?;
    let demo = DemoApp::new(server.clone(), &config);
    println!("{name} listening on http://{bound} (issuer {issuer})");
    if args.config.is_none() {
        println!("Built-in demo data:\n{}", config.describe());
    }
    Ok(Started { listener, server, demo })
}

/// The issuer of a provider started with `--listen LISTEN` and bound to `bound` (design.md §4): `http://HOST:PORT`
/// with HOST as written in `--listen` (so `localhost:9000` gives `http://localhost:9000`) and the port actually
/// bound (so `127.0.0.1:0` gives the port chosen). No trailing slash.
pub fn default_issuer(listen: &str, bound: std::net::SocketAddr) -> String {
    let host = listen.rsplit_once(':').map(|(host, _)| host).filter(|h| !h.is_empty());
    match host {
        Some(host) => format!("http://{host}:{}", bound.port()),
        None => format!("http://{bound}"),
    }
}

/// Sessions kept at most; the oldest half is dropped past this (a demo must not grow without bound).
const MAX_SESSIONS: usize = 10_000;
/// Authorization requests a session holds open at once; the oldest goes past this.
const MAX_PENDING: usize = 16;

#[derive(Default)]
struct Session {
    user: Option<String>,
    csrf: String,
    /// Open authorization requests by id, with a sequence number to find the oldest.
    pending: HashMap<String, (u64, AuthorizationRequest)>,
    created: u64,
}

impl Session {
    fn add_pending(&mut self, rid: String, request: AuthorizationRequest, seq: u64) {
        if self.pending.len() >= MAX_PENDING {
            let oldest = self.pending.iter().min_by_key(|(_, (n, _))| *n).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.pending.remove(&oldest);
            }
        }
        self.pending.insert(rid, (seq, request));
    }
}

/// The demo's app side: users, sessions, pages. Cheap to clone.
#[derive(Clone)]
pub struct DemoApp {
    server: Arc<AuthorizationServer<MemoryStore>>,
    users: Arc<Vec<UserConfig>>,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    counter: Arc<std::sync::atomic::AtomicU64>,
    /// The session cookie's name, with the issuer's port in it: cookies ignore ports, and two demo providers on one
    /// host must not overwrite each other's sessions in one browser.
    cookie: Arc<str>,
}

impl std::fmt::Debug for DemoApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Users hold (demo) passwords, sessions hold CSRF tokens: neither is shown.
        f.debug_struct("DemoApp").field("cookie", &self.cookie).finish_non_exhaustive()
    }
}

impl DemoApp {
    /// The app for `server` (built from `config` with [`DemoConfig::server`]).
    pub fn new(server: Arc<AuthorizationServer<MemoryStore>>, config: &DemoConfig) -> Self {
        let port = url::Url::parse(&server.config().issuer).ok().and_then(|u| u.port_or_known_default());
        let cookie = match port {
            Some(port) => format!("demo_session_{port}"),
            None => "demo_session".to_owned(),
        };
        Self {
            server,
            users: Arc::new(config.users.clone()),
            sessions: Arc::default(),
            counter: Arc::default(),
            cookie: cookie.into(),
        }
    }

    /// `/userinfo`'s answer for a validated token: JSON with `sub` (the username) and `name` (the display name),
    /// or a `403` for a token that speaks for no user (client credentials).
    pub fn userinfo(&self, grant: &AccessGrant) -> http::Response<Vec<u8>> {
        let Some(sub) = grant.subject.as_deref() else {
            let refused = oauth2_core::OAuthError::new(
                oauth2_core::ErrorCode::InsufficientScope,
                "this token was issued to a client, not for a user",
            );
            let challenge = oauth2_core::error::Challenge::Bearer {
                realm: self.server.config().realm.clone(),
                error: Some(oauth2_core::ErrorCode::InsufficientScope),
                scope: None,
            };
            return refused.with_challenge(challenge).into_response();
        };
        let name = self.users.iter().find(|u| u.username == sub).map(|u| u.name.clone());
        let body = serde_json::json!({ "sub": sub, "name": name }).to_string().into_bytes();
        let mut response = http::Response::new(body);
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session id of the request's cookie, if it names a live session.
    fn session_id(&self, request: &http::Request<Vec<u8>>) -> Option<String> {
        let sessions = self.sessions();
        request
            .headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, v)| *k == &*self.cookie && sessions.contains_key(*v))
            .map(|(_, v)| v.to_owned())
    }

    fn new_session(&self, user: Option<String>, pending: HashMap<String, (u64, AuthorizationRequest)>) -> String {
        let id = OsTokenGenerator.generate();
        let created = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut sessions = self.sessions();
        if sessions.len() >= MAX_SESSIONS {
            let cutoff = created.saturating_sub(MAX_SESSIONS as u64 / 2);
            sessions.retain(|_, s| s.created >= cutoff);
        }
        sessions.insert(id.clone(), Session { user, csrf: OsTokenGenerator.generate(), pending, created });
        id
    }

    /// Serves `GET /authorize`, `POST /login` and `POST /consent`.
    pub async fn handle(&self, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let path = request.uri().path().to_owned();
        match (request.method().as_str(), path.as_str()) {
            ("GET", "/authorize") => self.authorize(request).await,
            ("POST", "/login") => self.login(request),
            ("POST", "/consent") => self.consent(request).await,
            _ => html(StatusCode::NOT_FOUND, pages::message("Not found", "There is nothing at this address.")),
        }
    }

    async fn authorize(&self, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        // The client and redirect URI are checked before anything is shown (design.md §4).
        let validated = match self.server.authorization_request(request.uri().query().unwrap_or("")).await {
            Ok(v) => v,
            Err(e) => return e.into_response(),
        };
        let rid = OsTokenGenerator.generate();
        let (sid, fresh) = match self.session_id(&request) {
            Some(sid) => (sid, false),
            None => (self.new_session(None, HashMap::new()), true),
        };
        let page = {
            let mut sessions = self.sessions();
            let Some(session) = sessions.get_mut(&sid) else {
                return html(StatusCode::INTERNAL_SERVER_ERROR, pages::message("Session lost", "Please try again."));
            };
            // design.md §4: every authorization request shows login, then consent. The demo keeps no "remember
            // me", so a browser that kept its cookies from an earlier flow sees the same two pages.
            let page = pages::login(&validated, &rid, &session.csrf, None);
            let seq = self.counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            session.add_pending(rid, validated, seq);
            page
        };
        let mut response = html(StatusCode::OK, page);
        if fresh {
            set_cookie(&mut response, &self.cookie, &sid);
        }
        response
    }

    /// The session and form of a POST, after the CSRF check; `None` when the check fails.
    fn checked_post(&self, request: &http::Request<Vec<u8>>) -> Option<(String, FormParams)> {
        let form = FormParams::parse(request.body()).ok()?;
        let sid = self.session_id(request)?;
        let sessions = self.sessions();
        let session = sessions.get(&sid)?;
        let sent = form.get("csrf").unwrap_or("");
        bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())).then_some((sid, form))
    }

    fn login(&self, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let Some((sid, form)) = self.checked_post(&request) else {
            return refused();
        };
        let rid = form.get("request").unwrap_or("").to_owned();
        let username = form.get("username").unwrap_or("");
        let password = form.get("password").unwrap_or("");
        let user = self
            .users
            .iter()
            .find(|u| u.username == username && bool::from(u.password.as_bytes().ct_eq(password.as_bytes())));
        let mut sessions = self.sessions();
        let Some(session) = sessions.get_mut(&sid) else {
            return html(StatusCode::BAD_REQUEST, pages::message("Session lost", "Start again from the application."));
        };
        let Some(pending) = session.pending.get(&rid).map(|(_, r)| r.clone()) else {
            return html(
                StatusCode::BAD_REQUEST,
                pages::message("Request expired", "Start again from the application."),
            );
        };
        let Some(user) = user else {
            let page = pages::login(&pending, &rid, &session.csrf, Some("The username or password is not right."));
            return html(StatusCode::UNAUTHORIZED, page);
        };
        // A new session id at login, so a session fixed before login is worth nothing after it.
        let old = sessions.remove(&sid).map(|s| s.pending).unwrap_or_default();
        drop(sessions);
        let new_sid = self.new_session(Some(user.username.clone()), old);
        let csrf = self.sessions().get(&new_sid).map(|s| s.csrf.clone()).unwrap_or_default();
        let mut response = html(StatusCode::OK, pages::consent(&pending, &user.name, &rid, &csrf));
        set_cookie(&mut response, &self.cookie, &new_sid);
        response
    }

    async fn consent(&self, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let Some((sid, form)) = self.checked_post(&request) else {
            return refused();
        };
        let (user, pending) = {
            let mut sessions = self.sessions();
            let Some(session) = sessions.get_mut(&sid) else {
                return html(
                    StatusCode::BAD_REQUEST,
                    pages::message("Session lost", "Start again from the application."),
                );
            };
            // Single use: a consent form cannot be submitted twice.
            (session.user.clone(), session.pending.remove(form.get("request").unwrap_or("")).map(|(_, r)| r))
        };
        let (Some(user), Some(pending)) = (user, pending) else {
            return html(
                StatusCode::BAD_REQUEST,
                pages::message("Request expired", "Start again from the application."),
            );
        };
        match form.get("decision") {
            Some("allow") => match self.server.approve(&pending, &user, None, SystemTime::now()).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            },
            _ => self.server.deny(&pending).await,
        }
    }
}

/// A form that failed the CSRF or session check.
fn refused() -> http::Response<Vec<u8>> {
    let text = "This form expired or did not come from this site. Start again from the application.";
    html(StatusCode::BAD_REQUEST, pages::message("Request refused", text))
}

fn html(status: StatusCode, body: String) -> http::Response<Vec<u8>> {
    oauth2_core::html::response(status, body)
}

fn set_cookie(response: &mut http::Response<Vec<u8>>, name: &str, sid: &str) {
    if let Ok(v) = HeaderValue::try_from(format!("{name}={sid}; Path=/; HttpOnly; SameSite=Lax")) {
        response.headers_mut().append(SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::default_issuer;

    #[test]
    fn rfc8414_2_the_issuer_is_the_listen_host_and_the_bound_port() {
        let bound = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        assert_eq!(default_issuer("127.0.0.1:9000", bound("127.0.0.1:9000")), "http://127.0.0.1:9000");
        assert_eq!(default_issuer("localhost:9000", bound("127.0.0.1:9000")), "http://localhost:9000");
        assert_eq!(default_issuer("127.0.0.1:0", bound("127.0.0.1:41234")), "http://127.0.0.1:41234");
        assert_eq!(default_issuer("[::1]:0", bound("[::1]:41234")), "http://[::1]:41234");
    }
}
