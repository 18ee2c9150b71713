//! The demo authorization server's app side: configuration (TOML or built-in), users, and the login and consent
//! pages behind `GET /authorize`. Framework-free: [`DemoApp::handle`] takes and returns `http` values.

mod config;
mod pages;
mod sessions;
mod store;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderValue, StatusCode};
use oauth2_core::form::FormParams;
use oauth2_core::server::{
    AuthorizationServer, ClientAddress, ClientId, DeviceError, OsTokenGenerator, PasswordError, ServerConfig,
    TokenGenerator,
};
use sessions::{Login, Logins, Pending, Sealer};
use subtle::ConstantTimeEq;

pub use config::{ClientConfig, ConfigError, DemoConfig, UserConfig};
pub use store::{DemoStore, default_db};

/// The demo's authorization server.
pub type DemoServer = AuthorizationServer<DemoStore>;

/// The environment variable that holds the key-encryption key of the signing keys (32 bytes, base64).
pub const KEY_ENCRYPTION_KEY: &str = "OAUTH2_KEY_ENCRYPTION_KEY";

/// The environment variable that may name an RSA key (PKCS#8 DER) to install as the first RS256 key of a new
/// database instead of making one (an operator's existing key; the tests' RFC 7515 key).
pub const RS256_KEY_FILE: &str = "OAUTH2_DEMO_RS256_KEY";

/// The sealer for the signing keys, when [`KEY_ENCRYPTION_KEY`] is set.
pub fn key_sealer() -> Result<Option<oauth2_core::jose::KeySealer>, String> {
    match std::env::var(KEY_ENCRYPTION_KEY) {
        Ok(text) => oauth2_core::jose::KeySealer::from_base64(&text)
            .map(Some)
            .map_err(|e| format!("{KEY_ENCRYPTION_KEY}: {e} (32 bytes of base64: `openssl rand -base64 32`)")),
        Err(_) => Ok(None),
    }
}

/// The secret of the DPoP nonces: derived from [`KEY_ENCRYPTION_KEY`] when it is set, so every instance makes and
/// accepts the same nonces; else 256 fresh bits, good for this process only.
fn dpop_nonce_secret() -> [u8; 32] {
    use sha2::Digest;
    match std::env::var(KEY_ENCRYPTION_KEY) {
        Ok(key) => {
            sha2::Sha256::new().chain_update(b"oauth2 demo DPoP nonces\0").chain_update(key.trim()).finalize().into()
        }
        Err(_) => {
            let mut secret = [0u8; 32];
            oauth2_core::rand_core::Rng::fill_bytes(&mut oauth2_core::random::OsRng, &mut secret);
            secret
        }
    }
}

/// A new signing key of `algorithm`: RS256 from [`RS256_KEY_FILE`] when it is set, else made here.
pub fn new_signing_key(algorithm: oauth2_core::jose::Algorithm) -> Result<oauth2_core::jose::SigningKey, String> {
    use oauth2_core::jose::{Algorithm, SigningKey};
    if algorithm == Algorithm::Rs256
        && let Ok(path) = std::env::var(RS256_KEY_FILE)
    {
        let failed = |e: &dyn std::fmt::Display| format!("{RS256_KEY_FILE}={path}: {e}");
        let der = std::fs::read(&path).map_err(|e| failed(&e))?;
        // An imported key's kid is its RFC 7638 thumbprint.
        let key = SigningKey::from_pkcs8(algorithm, "", &der).map_err(|e| failed(&e))?;
        let kid = key.public_jwk().thumbprint().map_err(|e| failed(&e))?;
        return SigningKey::from_pkcs8(algorithm, kid, &der).map_err(|e| failed(&e));
    }
    SigningKey::generate(algorithm, &mut oauth2_core::random::OsRng).map_err(|e| e.to_string())
}

/// Makes sure the store has a signing key of every algorithm the demo offers (design.md §4: RS256 for OpenID
/// Connect, ES256 and EdDSA for the clients that register them); the first start of a database makes them, and
/// instances that start together share them.
pub async fn ensure_signing_keys(server: &DemoServer) -> Result<(), String> {
    for algorithm in oauth2_core::jose::Algorithm::ALL {
        let ensured = server.ensure_signing_key(algorithm, SystemTime::now(), || {
            new_signing_key(algorithm).map_err(|_| oauth2_core::jose::JoseError::Key("the key could not be made"))
        });
        ensured.await.map_err(|e| format!("signing keys: {e}"))?;
    }
    Ok(())
}

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
    /// Seconds a client has to send a request's headers; idle keep-alive connections are closed after as long.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Connections served at once (default: three quarters of the open-file limit, at most 1024); more wait in
    /// the listen backlog.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Where codes, tokens, grants and clients are kept: sqlite:PATH, postgres://USER@HOST:PORT/DB, or memory.
    /// Default: sqlite:$XDG_DATA_HOME/oauth2-demo/HOST_PORT.sqlite (else under ~/.local/share).
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// Connections to the database at most.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_connections: u32,
    /// What access tokens are: opaque (random, looked up in the database) or jwt (RFC 9068, `typ: at+jwt`, which an
    /// API checks with the JWKS alone; they live 5 minutes).
    #[arg(long, value_enum, default_value_t = AccessTokens::Opaque)]
    pub access_tokens: AccessTokens,
    /// How JWT access tokens are signed: RS256, ES256 or EdDSA.
    #[arg(long, value_name = "ALG", default_value = "RS256", value_parser = parse_algorithm)]
    pub access_token_alg: oauth2_core::jose::Algorithm,
    /// Seconds devices wait between polls of the device grant (RFC 8628 §3.2 `interval`; at least 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub device_interval: u64,
    /// Seconds a device code and its user code stay good (RFC 8628 §3.2 `expires_in`).
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub device_code_lifetime: u64,
    /// Every client must push its authorization requests to /par first (RFC 9126 §5); the metadata then says
    /// `require_pushed_authorization_requests: true`.
    #[arg(long)]
    pub require_par: bool,
    /// DPoP proofs must carry the server's nonce (RFC 9449 §8): the token and PAR endpoints give it in `DPoP-Nonce`
    /// and refuse a proof without it with `use_dpop_nonce`. Instances share nonces when they share
    /// OAUTH2_KEY_ENCRYPTION_KEY; without it, each instance makes its own.
    #[arg(long)]
    pub dpop_nonce: bool,
    /// A maintenance command instead of serving.
    #[command(subcommand)]
    pub command: Option<DemoCommand>,
}

/// `--access-tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessTokens {
    /// 256 random bits, stored by their hash.
    Opaque,
    /// RFC 9068 JWTs.
    Jwt,
}

fn parse_algorithm(text: &str) -> Result<oauth2_core::jose::Algorithm, String> {
    text.parse().map_err(|_| format!("{text}: use RS256, ES256 or EdDSA"))
}

impl ProviderArgs {
    /// The access token format of `--access-tokens` and `--access-token-alg`.
    pub fn access_token_format(&self) -> oauth2_core::server::AccessTokenFormat {
        match self.access_tokens {
            AccessTokens::Opaque => oauth2_core::server::AccessTokenFormat::Opaque,
            AccessTokens::Jwt => oauth2_core::server::AccessTokenFormat::Jwt(self.access_token_alg),
        }
    }
}

/// The demo providers' maintenance commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DemoCommand {
    /// Puts a new signing key of ALG in use at every instance on DB within a minute; the key it replaces stays in
    /// the JWKS until the tokens it signed have expired. Then exits.
    RotateSigningKey {
        /// The provider's database, as for --db.
        #[arg(long, value_name = "URL")]
        db: String,
        /// RS256, ES256 or EdDSA.
        #[arg(long, value_name = "ALG", default_value = "RS256")]
        alg: String,
    },
}

/// Runs a maintenance command: prints what it did, or `error: ...`; the exit code.
pub async fn run_command(command: &DemoCommand) -> std::process::ExitCode {
    match command {
        DemoCommand::RotateSigningKey { db, alg } => match rotate_signing_key(db, alg).await {
            Ok(message) => {
                println!("{message}");
                std::process::ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("error: {message}");
                std::process::ExitCode::from(1)
            }
        },
    }
}

/// Rotates the signing key of `alg` in the store at `db` (see [`DemoCommand::RotateSigningKey`]).
pub async fn rotate_signing_key(db: &str, alg: &str) -> Result<String, String> {
    use oauth2_core::jose::{Algorithm, SigningKey};
    let algorithm: Algorithm = alg.parse().map_err(|_| format!("--alg {alg}: use RS256, ES256 or EdDSA"))?;
    let store = DemoStore::open(db, 2).await.map_err(|e| describe(&e))?;
    // The issuer does not matter here: only the store's keys are touched.
    let mut server = AuthorizationServer::new(ServerConfig::new("http://127.0.0.1"), store, OsTokenGenerator);
    if let Some(sealer) = key_sealer()? {
        server = server.with_key_sealer(sealer);
    }
    let key = SigningKey::generate(algorithm, &mut oauth2_core::random::OsRng).map_err(|e| e.to_string())?;
    let kid = key.kid().to_owned();
    let keys = server.rotate_signing_key(key, SystemTime::now()).await.map_err(|e| e.to_string())?;
    Ok(format!("rotated {algorithm}: kid {kid} signs now; {} keys published", keys.jwks().keys.len()))
}

impl ProviderArgs {
    /// The header timeout.
    pub fn header_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.header_timeout)
    }

    /// The connection cap: `--max-connections`, else three quarters of the soft open-file limit (read from
    /// `/proc/self/limits` where there is one), at most 1024: a flood of sockets must find the cap before the
    /// process runs out of file descriptors.
    pub fn max_connections(&self) -> usize {
        if let Some(n) = self.max_connections {
            return usize::try_from(n).unwrap_or(usize::MAX);
        }
        let soft = std::fs::read_to_string("/proc/self/limits").ok().and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        });
        soft.map_or(1024, |n| (n / 4 * 3).clamp(16, 1024))
    }
}

/// A demo provider ready to serve: what both binaries do before their framework takes over.
#[derive(Debug)]
pub struct Started {
    /// The bound listener (blocking mode; an async framework sets it non-blocking).
    pub listener: std::net::TcpListener,
    /// The authorization server.
    pub server: Arc<DemoServer>,
    /// The login and consent pages and `/userinfo`.
    pub demo: DemoApp,
    /// `--header-timeout`.
    pub header_timeout: std::time::Duration,
    /// The connection cap ([`ProviderArgs::max_connections`]).
    pub max_connections: usize,
}

/// Loads the configuration (or the built-in data), binds `--listen`, works out the issuer and builds the server;
/// prints the listening line and, for built-in data, the data. `Err` is the message and the exit code (2 for an
/// unusable configuration, 1 when the address cannot be bound).
pub async fn start(name: &str, args: &ProviderArgs) -> Result<Started, (String, u8)> {
    let config = match &args.config {
        Some(path) => DemoConfig::load(path).map_err(|e| (e.to_string(), 2))?,
        None => DemoConfig::builtin(),
    };
    let listener =
        std::net::TcpListener::bind(&args.listen).map_err(|e| (format!("cannot listen on {}: {e}", args.listen), 1))?;
    let bound = listener.local_addr().map_err(|e| (format!("cannot read the listening address: {e}"), 1))?;
    let issuer = args.issuer.clone().unwrap_or_else(|| default_issuer(&args.listen, bound));
    let db = match &args.db {
        Some(db) => db.clone(),
        None => store::default_db(&issuer).map_err(|e| (e, 2))?,
    };
    // The schema is created or migrated here, and the registry made the configuration's clients (design.md §4).
    let store = DemoStore::open(&db, args.db_max_connections).await.map_err(|e| (describe(&e), 1))?;
    let clients = config.registered().map_err(|e| (e.to_string(), 2))?;
    store.sync_clients(&clients).await.map_err(|e| (describe(&e), 1))?;
    let sealer = key_sealer().map_err(|e| (e, 2))?;
    let options = config::ServerOptions {
        access_tokens: args.access_token_format(),
        device_interval: Duration::from_secs(args.device_interval),
        device_code_lifetime: Duration::from_secs(args.device_code_lifetime),
        require_par: args.require_par,
        dpop_nonce_secret: args.dpop_nonce.then(dpop_nonce_secret),
    };
    let server = config.server(&issuer, store, sealer, &options).map_err(|e| (e.to_string(), 2))?;
    ensure_signing_keys(&server).await.map_err(|e| (e, 1))?;
    let demo = DemoApp::new(server.clone(), &config);
    println!("database: {db}");
    println!("{name} listening on http://{bound} (issuer {issuer})");
    if args.config.is_none() {
        println!("Built-in demo data:\n{}", config.describe());
    }
    let (header_timeout, max_connections) = (args.header_timeout(), args.max_connections());
    Ok(Started { listener, server, demo, header_timeout, max_connections })
}

/// A store error with its causes, for the operator.
fn describe(e: &oauth2_core::StoreError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Logs to stderr through `tracing`, filtered by `RUST_LOG` (default `info`): one line per request from the
/// providers' request logs, and the endpoints' events (replays, reuses, failed client authentication).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
}

/// The request log line: method, path (never the query, which can carry codes and tokens), status, latency, and
/// the client the response was for when the endpoint knew it.
pub fn log_request(method: &str, path: &str, status: u16, latency: std::time::Duration, client: Option<&ClientId>) {
    let latency_ms = (latency.as_secs_f64() * 1e4).round() / 10.0;
    match client {
        Some(ClientId(client_id)) => {
            let client_id = client_id.escape_debug();
            tracing::info!(target: "request", %method, %path, status, latency_ms, %client_id);
        }
        None => tracing::info!(target: "request", %method, %path, status, latency_ms),
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM: what stops a demo server, which then finishes the requests in flight.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
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

/// The demo's app side: users, logins, pages. Cheap to clone.
#[derive(Clone)]
pub struct DemoApp {
    server: Arc<DemoServer>,
    users: Arc<Vec<UserConfig>>,
    sealer: Arc<Sealer>,
    logins: Arc<Logins>,
    /// The origin of the issuer: a POST from any other origin is refused (other ports of the same host are the
    /// same *site*, so SameSite cookies alone do not stop them).
    origin: Arc<str>,
    /// The cookie names, with the issuer's port in them: cookies ignore ports, and two demo providers on one host
    /// must not overwrite each other's cookies in one browser.
    session_cookie: Arc<str>,
    csrf_cookie: Arc<str>,
}

impl std::fmt::Debug for DemoApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Users hold (demo) passwords, logins hold CSRF tokens: neither is shown.
        f.debug_struct("DemoApp").field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl DemoApp {
    /// The app for `server` (built from `config` with [`DemoConfig::server`]).
    pub fn new(server: Arc<DemoServer>, config: &DemoConfig) -> Self {
        let issuer = url::Url::parse(&server.config().issuer).ok();
        let port =
            issuer.as_ref().and_then(url::Url::port_or_known_default).map(|p| format!("_{p}")).unwrap_or_default();
        let origin = issuer.map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        Self {
            server,
            users: Arc::new(config.users.clone()),
            sealer: Arc::new(Sealer::new()),
            logins: Arc::default(),
            origin: origin.into(),
            session_cookie: format!("demo_session{port}").into(),
            csrf_cookie: format!("demo_csrf{port}").into(),
        }
    }

    /// The authorization server.
    pub fn server(&self) -> &DemoServer {
        &self.server
    }

    /// `GET /healthz`: 200 `{"status":"ok"}` when the store answers within 2 s, else 503 `{"status":"unavailable"}`.
    pub async fn healthz(&self) -> http::Response<Vec<u8>> {
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            oauth2_core::server::Maintenance::ping(self.server.store()),
        )
        .await;
        let (status, body) = match answered {
            Ok(Ok(())) => (StatusCode::OK, &br#"{"status":"ok"}"#[..]),
            _ => (StatusCode::SERVICE_UNAVAILABLE, &br#"{"status":"unavailable"}"#[..]),
        };
        let mut response = http::Response::new(body.to_vec());
        *response.status_mut() = status;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// Serves `GET /authorize`, `GET` and `POST /device`, `POST /login` and `POST /consent`.
    pub async fn handle(&self, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        self.handle_at(request, SystemTime::now()).await
    }

    /// [`handle`](Self::handle) at `now`.
    pub async fn handle_at(&self, request: http::Request<Vec<u8>>, now: SystemTime) -> http::Response<Vec<u8>> {
        let path = request.uri().path().to_owned();
        match (request.method().as_str(), path.as_str()) {
            ("GET", "/authorize") => self.authorize(request, now).await,
            ("GET", "/device") => self.device_page(&request),
            ("POST", "/device") => self.device_code(request, now).await,
            ("POST", "/login") => self.login(request, now).await,
            ("POST", "/consent") => self.consent(request, now).await,
            _ => html(StatusCode::NOT_FOUND, pages::message("Not found", "There is nothing at this address.")),
        }
    }

    async fn authorize(&self, request: http::Request<Vec<u8>>, now: SystemTime) -> http::Response<Vec<u8>> {
        // The client and redirect URI are checked before anything is shown (design.md §4).
        let validated = match self.server.authorization_request(request.uri().query().unwrap_or(""), now).await {
            Ok(v) => v,
            Err(e) => return e.into_response(),
        };
        // design.md §4: every authorization request shows login, then consent. Nothing is kept for it here: the
        // request goes into the login form, sealed, so any number of visits costs no memory.
        let (csrf, fresh) = self.csrf_of(&request);
        let pending = Pending::Authorize(validated);
        let sealed = self.sealer.seal(&pending, &csrf, now);
        let mut response = html(StatusCode::OK, pages::login(&pending, &sealed, &csrf, None));
        response.extensions_mut().insert(ClientId(pending.client_id().to_owned()));
        if fresh {
            set_cookie(&mut response, &self.csrf_cookie, &csrf);
        }
        response
    }

    /// The browser's CSRF cookie, or a fresh one (and whether it is fresh, to set it).
    fn csrf_of(&self, request: &http::Request<Vec<u8>>) -> (String, bool) {
        match cookie(request, &self.csrf_cookie) {
            Some(c) if c.len() == 43 => (c.to_owned(), false),
            _ => (OsTokenGenerator.generate(), true),
        }
    }

    /// `GET /device` (RFC 8628 §3.3, design.md §4): the user code form, filled in from `?user_code=` (the
    /// `verification_uri_complete`). Nothing is checked here: a code is looked up only when the form is posted,
    /// so that guessing goes through the CSRF check and the throttle, and a code from a link is seen by the user
    /// before it is used (§5.4).
    fn device_page(&self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let query = FormParams::parse(request.uri().query().unwrap_or("").as_bytes()).unwrap_or_default();
        let typed: String = query.get("user_code").unwrap_or("").chars().take(64).collect();
        let (csrf, fresh) = self.csrf_of(request);
        let mut response = html(StatusCode::OK, pages::device(&typed, &csrf, None));
        if fresh {
            set_cookie(&mut response, &self.csrf_cookie, &csrf);
        }
        response
    }

    /// `POST /device`: the code typed, checked against the browser's CSRF cookie; then the login form for the
    /// device's request, or the code form again (400 for a wrong or expired code, 429 while throttled, RFC 8628
    /// §5.1: 5 entries per browser session, 20 a minute per address).
    async fn device_code(&self, request: http::Request<Vec<u8>>, now: SystemTime) -> http::Response<Vec<u8>> {
        let csrf = cookie(&request, &self.csrf_cookie).map(str::to_owned);
        // Only a cookie of the shape this app issues: the throttle's session is not the client's to invent freely.
        let csrf = csrf.filter(|c| c.len() == 43);
        let Some(form) = self.checked_form(&request, csrf.as_deref()) else {
            return refused();
        };
        let csrf = csrf.unwrap_or_default();
        let typed: String = form.get("user_code").unwrap_or("").chars().take(64).collect();
        let address = request.extensions().get::<ClientAddress>().map(|a| a.0);
        // The browser session of the throttle is its CSRF cookie: the one thing every request of it carries.
        match self.server.device_request(&typed, &csrf, address, now).await {
            Ok(device) => {
                let pending = Pending::Device(device);
                let sealed = self.sealer.seal(&pending, &csrf, now);
                let mut response = html(StatusCode::OK, pages::login(&pending, &sealed, &csrf, None));
                response.extensions_mut().insert(ClientId(pending.client_id().to_owned()));
                response
            }
            Err(DeviceError::Throttled(wait)) => {
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let text = format!("Too many codes were entered. Wait {seconds} seconds, then try again.");
                let mut r = html(StatusCode::TOO_MANY_REQUESTS, pages::device(&typed, &csrf, Some(&text)));
                if let Ok(v) = HeaderValue::try_from(seconds.to_string()) {
                    r.headers_mut().insert(http::header::RETRY_AFTER, v);
                }
                r
            }
            Err(DeviceError::UnknownCode) => {
                let text = "That code is not right, or it has expired. Check the code your device shows.";
                html(StatusCode::BAD_REQUEST, pages::device(&typed, &csrf, Some(text)))
            }
            Err(_) => html(StatusCode::SERVICE_UNAVAILABLE, pages::message("Unavailable", "Try again later.")),
        }
    }

    /// The form of a POST from this site, if it passes the origin and CSRF checks; `csrf` is the token to compare.
    fn checked_form(&self, request: &http::Request<Vec<u8>>, csrf: Option<&str>) -> Option<FormParams> {
        let header = |name| request.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok());
        if header(http::header::ORIGIN).is_some_and(|o| o != &*self.origin) {
            return None;
        }
        // Browsers say where a request comes from; a form posted from another port of this host is same-site.
        if header(http::HeaderName::from_static("sec-fetch-site")).is_some_and(|s| s != "same-origin" && s != "none") {
            return None;
        }
        let form = FormParams::parse(request.body()).ok()?;
        let sent = form.get("csrf")?;
        let expected = csrf?;
        bool::from(sent.as_bytes().ct_eq(expected.as_bytes())).then_some(form)
    }

    async fn login(&self, request: http::Request<Vec<u8>>, now: SystemTime) -> http::Response<Vec<u8>> {
        let csrf = cookie(&request, &self.csrf_cookie).map(str::to_owned);
        let Some(form) = self.checked_form(&request, csrf.as_deref()) else {
            return refused();
        };
        let sealed = form.get("request").unwrap_or("");
        let opened = csrf.as_deref().and_then(|c| self.sealer.open(sealed, c, now));
        let Some((pending, form_id)) = opened.filter(|(_, id)| !self.logins.is_spent(id)) else {
            return expired();
        };
        let username = form.get("username").unwrap_or("");
        let password = form.get("password").unwrap_or("");
        let address = request.extensions().get::<ClientAddress>().map(|a| a.0);
        let subject = match self.server.verify_password(username, password, address, now).await {
            Ok(subject) => subject,
            Err(PasswordError::Throttled(wait)) => {
                // Rounded up, as Retry-After is: a retry after the time said is not refused again.
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let text = format!("Too many sign-in attempts. Wait {seconds} seconds, then try again.");
                let csrf = csrf.unwrap_or_default();
                let mut r = html(StatusCode::TOO_MANY_REQUESTS, pages::login(&pending, sealed, &csrf, Some(&text)));
                if let Ok(v) = HeaderValue::try_from(seconds.to_string()) {
                    r.headers_mut().insert(http::header::RETRY_AFTER, v);
                }
                return r;
            }
            Err(PasswordError::Wrong) => {
                let text = "The username or password is not right.";
                let csrf = csrf.unwrap_or_default();
                return html(StatusCode::UNAUTHORIZED, pages::login(&pending, sealed, &csrf, Some(text)));
            }
            Err(_) => {
                return html(StatusCode::SERVICE_UNAVAILABLE, pages::message("Unavailable", "Try again later."));
            }
        };
        let display_name =
            self.users.iter().find(|u| u.username == subject).map_or(subject.clone(), |u| u.name.clone());
        // The login is bound to this one request, under a new session id (a session fixed before login is worth
        // nothing after it), and its consent form gets a token of its own.
        let (csrf, rid) = (OsTokenGenerator.generate(), OsTokenGenerator.generate());
        let login = Login { username: subject, display_name, request: pending, csrf, rid, form: form_id, at: now };
        let page = pages::consent(&login.request, &login.display_name, &login.rid, &login.csrf);
        let sid = self.logins.insert(login, now);
        let mut response = html(StatusCode::OK, page);
        set_cookie(&mut response, &self.session_cookie, &sid);
        response
    }

    async fn consent(&self, request: http::Request<Vec<u8>>, now: SystemTime) -> http::Response<Vec<u8>> {
        let sid = cookie(&request, &self.session_cookie).map(str::to_owned);
        let login = sid.as_deref().and_then(|sid| self.logins.get(sid, now));
        let Some(form) = self.checked_form(&request, login.as_ref().map(|l| l.csrf.as_str())) else {
            return if login.is_none() { expired() } else { refused() };
        };
        if login.as_ref().is_none_or(|l| form.get("request") != Some(l.rid.as_str())) {
            return expired();
        }
        // Single use: the login's authority ends with this answer, allow or deny.
        let Some(login) = sid.as_deref().and_then(|sid| self.logins.remove(sid, now)) else {
            return expired();
        };
        let allow = form.get("decision") == Some("allow");
        let request = match &login.request {
            Pending::Authorize(request) if allow => {
                return match self.server.approve(request, &login.username, None, now).await {
                    Ok(r) => r,
                    Err(e) => e.into_response(),
                };
            }
            Pending::Authorize(request) => return self.server.deny(request).await,
            Pending::Device(request) => request,
        };
        let answered = if allow {
            self.server.approve_device(request, &login.username, None, login.at, now).await
        } else {
            self.server.deny_device(request, now).await
        };
        let (status, title, text) = match answered {
            Ok(()) if allow => (StatusCode::OK, "Device connected", "You may continue on your device now."),
            Ok(()) => (StatusCode::OK, "Access denied", "The device was not given access. You may close this page."),
            Err(DeviceError::UnknownCode) => (
                StatusCode::BAD_REQUEST,
                "Code expired",
                "This code has expired or was used. Start again on your device.",
            ),
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "Try again later."),
        };
        let mut response = html(status, pages::message(title, text));
        response.extensions_mut().insert(ClientId(request.client_id.clone()));
        response
    }
}

/// The value of cookie `name` in the request.
fn cookie<'r>(request: &'r http::Request<Vec<u8>>, name: &str) -> Option<&'r str> {
    request
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A form that failed the origin or CSRF check.
fn refused() -> http::Response<Vec<u8>> {
    let text = "This form expired or did not come from this site. Start again from the application.";
    html(StatusCode::BAD_REQUEST, pages::message("Request refused", text))
}

/// A form whose request or login is no longer good (expired, spent, or from before a restart).
fn expired() -> http::Response<Vec<u8>> {
    html(StatusCode::BAD_REQUEST, pages::message("Request expired", "Start again from the application."))
}

fn html(status: StatusCode, body: String) -> http::Response<Vec<u8>> {
    oauth2_core::html::response(status, body)
}

fn set_cookie(response: &mut http::Response<Vec<u8>>, name: &str, value: &str) {
    if let Ok(v) = HeaderValue::try_from(format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax")) {
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
