//! `oauth2-cli`: a "curl for OAuth 2.0" built on oauth2-core and oauth2-reqwest. Run with `--help`.

mod args;
mod callback;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Parser;
use oauth2_core::dpop::DpopKey;
use oauth2_core::introspection::TokenTypeHint;
use oauth2_core::jose::Algorithm;
use oauth2_core::metadata::AuthorizationServerMetadata;
use oauth2_core::random::OsRng;
use oauth2_core::{Client, ClientAuthMethod, Password, RefreshToken, Scope};
use oauth2_reqwest::{DpopSigner, Error, execute, fetch_metadata, http_client};

use args::{AuthMethod, Cli, Command, Hint};
use callback::{Outcome, WaitError, wait_for_callback};

/// A failure: `Usage` exits 2, `Failed` exits 1. Both end with `error: <code>: <description>` on stderr.
enum CliError {
    Usage(String),
    Failed { code: String, description: String },
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        CliError::Failed { code: e.code().to_owned(), description: e.description() }
    }
}

fn failed(code: &str, description: impl Into<String>) -> CliError {
    CliError::Failed { code: code.to_owned(), description: description.into() }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message, but ending on our one-line `error: usage: ...` so scripts can read the last line.
            let text = e.render().to_string();
            let mut first = None;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match line.strip_prefix("error: ") {
                    Some(msg) if first.is_none() => first = Some(msg.to_owned()),
                    _ => eprintln!("{line}"),
                }
            }
            eprintln!("error: usage: {}", first.unwrap_or_else(|| "invalid arguments".into()));
            return ExitCode::from(2);
        }
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(message)) => {
            eprintln!("error: usage: {message} (see oauth2-cli --help)");
            ExitCode::from(2)
        }
        Err(CliError::Failed { code, description }) => {
            let description = description.replace(['\n', '\r'], " ");
            eprintln!("error: {code}: {description}");
            ExitCode::from(1)
        }
    }
}

/// Prints a JSON body as the server sent it; a form-encoded body (lenient providers) is shown as JSON.
fn print_body(body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
        println!("{}", text.trim());
    } else {
        let form = oauth2_core::form::FormParams::parse(body).unwrap_or_default();
        println!("{}", serde_json::Value::Object(form.to_json()));
    }
}

struct Setup {
    http: reqwest::Client,
    metadata: Option<(AuthorizationServerMetadata, Vec<u8>)>,
    /// What sends the token requests: with `--dpop` or `--dpop-key`, a DPoP proof goes with each.
    sender: Sender,
}

/// Sends the requests that get tokens: with a DPoP key, each with a fresh proof (RFC 9449 §5), once more when the
/// server asks for its nonce (§8).
#[derive(Clone)]
struct Sender {
    http: reqwest::Client,
    dpop: Option<Arc<DpopSigner>>,
}

impl Sender {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Error> {
        match &self.dpop {
            Some(dpop) => dpop.execute(&self.http, request, None).await,
            None => execute(&self.http, request).await,
        }
    }
}

async fn setup(cli: &Cli) -> Result<Setup, CliError> {
    let http = http_client()?;
    let metadata = match &cli.server.issuer {
        Some(issuer) => {
            let discovered = fetch_metadata(&http, issuer, cli.server.allow_insecure_http).await?;
            Some((discovered.metadata, discovered.response.into_body()))
        }
        None => None,
    };
    let dpop = dpop_key(cli)?.map(|key| Arc::new(DpopSigner::new(key)));
    Ok(Setup { sender: Sender { http: http.clone(), dpop }, http, metadata })
}

/// The DPoP key of `--dpop` (fresh) or `--dpop-key FILE` (read, or made and written with mode 0600).
fn dpop_key(cli: &Cli) -> Result<Option<DpopKey>, CliError> {
    let invalid = |path: &std::path::Path, e: &dyn std::fmt::Display| {
        failed("invalid_dpop_key", format!("{}: {e}", path.display()))
    };
    let fresh = || DpopKey::generate(Algorithm::Es256, &mut OsRng).map_err(|e| failed("dpop", e.to_string()));
    let Some(path) = &cli.server.dpop_key else {
        return if cli.server.dpop { fresh().map(Some) } else { Ok(None) };
    };
    match std::fs::File::open(path) {
        Ok(mut file) => {
            // The mode of the file read, not of whatever the path names a moment later.
            warn_if_others_can_use(path, &file);
            let mut json = String::new();
            std::io::Read::read_to_string(&mut file, &mut json).map_err(|e| invalid(path, &e))?;
            DpopKey::from_private_jwk(&json).map(Some).map_err(|e| invalid(path, &e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = fresh()?;
            let jwk = key.to_private_jwk().map_err(|e| invalid(path, &e))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| invalid(path, &e))?;
            std::io::Write::write_all(&mut file, jwk.secret().as_bytes()).map_err(|e| invalid(path, &e))?;
            Ok(Some(key))
        }
        Err(e) => Err(invalid(path, &e)),
    }
}

/// A key file that others may read or write is no longer the user's alone: said on stderr. The key is used all the
/// same, since an existing file is reused as it is (design.md §4); the user decides whether to `chmod 600` it or
/// make a new key.
fn warn_if_others_can_use(path: &std::path::Path, file: &std::fs::File) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match file.metadata() {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => eprintln!(
                "warning: {} holds a private key and others may read or write it (mode {:o}); chmod 600 it",
                path.display(),
                m.permissions().mode() & 0o777
            ),
            Ok(_) => {}
            Err(e) => eprintln!("warning: {}: cannot tell who may read it: {e}", path.display()),
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file);
}

fn build_client(cli: &Cli, setup: &Setup, redirect_uri: Option<&str>) -> Result<Client, CliError> {
    let Some(client_id) = &cli.client.client_id else {
        return Err(CliError::Usage("--client-id is required".into()));
    };
    let mut b =
        Client::builder(client_id).allow_insecure_http(cli.server.allow_insecure_http).lenient(cli.server.lenient);
    if let Some((metadata, _)) = &setup.metadata {
        b = b.metadata(metadata);
    }
    let s = &cli.server;
    if let Some(u) = &s.auth_url {
        b = b.authorization_endpoint(u);
    }
    if let Some(u) = &s.token_url {
        b = b.token_endpoint(u);
    }
    if let Some(u) = &s.revocation_url {
        b = b.revocation_endpoint(u);
    }
    if let Some(u) = &s.introspection_url {
        b = b.introspection_endpoint(u);
    }
    if let Some(secret) = &cli.client.client_secret {
        b = b.secret(secret).auth_method(match cli.client.auth {
            Some(AuthMethod::Post) => ClientAuthMethod::ClientSecretPost,
            _ => ClientAuthMethod::ClientSecretBasic,
        });
    } else if cli.client.auth.is_some() {
        return Err(CliError::Usage("--auth needs --client-secret".into()));
    }
    if let Some(r) = redirect_uri {
        b = b.redirect_uri(r);
    }
    let flags = [&s.auth_url, &s.token_url, &s.revocation_url, &s.introspection_url];
    b.build().map_err(|e| match e {
        oauth2_core::client::ConfigError::Insecure { .. } => {
            failed("insecure_endpoint", format!("{e} (pass --allow-insecure-http to allow it)"))
        }
        // A bad URL the user typed is a usage error; one from the server's metadata is the server's fault.
        oauth2_core::client::ConfigError::InvalidUrl { ref value, .. }
            if !flags.iter().any(|f| f.as_deref() == Some(value.as_str())) =>
        {
            failed("invalid_metadata", e.to_string())
        }
        other => CliError::Usage(other.to_string()),
    })
}

fn scope(cli: &Cli) -> Scope {
    cli.client.scope.as_deref().map(Scope::parse).unwrap_or_default()
}

/// Maps "the endpoint isn't configured" to a usage error naming the flag to pass.
fn request_error(e: oauth2_core::client::RequestError) -> CliError {
    use oauth2_core::client::RequestError;
    match e {
        RequestError::MissingEndpoint(which) => {
            let flag = match which {
                "authorization_endpoint" => "--auth-url",
                "token_endpoint" => "--token-url",
                "revocation_endpoint" => "--revocation-url",
                "device_authorization_endpoint" | "pushed_authorization_request_endpoint" => {
                    return CliError::Usage(format!("no {which}: pass an --issuer whose metadata has it"));
                }
                _ => "--introspection-url",
            };
            CliError::Usage(format!("no {which}: pass {flag} or an --issuer whose metadata has it"))
        }
        other => failed("invalid_request", other.to_string()),
    }
}

async fn token_call(client: &Client, sender: &Sender, request: http::Request<Vec<u8>>) -> Result<(), CliError> {
    let response = sender.send(request).await?;
    let body = response.body().clone();
    client.parse_token_response(response, SystemTime::now()).map_err(Error::from)?;
    print_body(&body);
    Ok(())
}

fn hint(h: Option<Hint>) -> Option<TokenTypeHint> {
    h.map(|h| match h {
        Hint::AccessToken => TokenTypeHint::AccessToken,
        Hint::RefreshToken => TokenTypeHint::RefreshToken,
    })
}

async fn run(cli: Cli) -> Result<(), CliError> {
    if matches!(cli.command, Command::Discover) {
        if cli.server.issuer.is_none() {
            return Err(CliError::Usage("discover needs --issuer".into()));
        }
        let setup = setup(&cli).await?;
        if let Some((_, body)) = &setup.metadata {
            print_body(body);
        }
        return Ok(());
    }
    if let Command::Userinfo { token } = &cli.command {
        if cli.server.issuer.is_none() {
            return Err(CliError::Usage("userinfo needs --issuer".into()));
        }
        return userinfo(&setup(&cli).await?, token, cli.server.allow_insecure_http).await;
    }
    // Usage first: a mistake on the command line is exit 2 whatever the network would have said.
    if cli.client.client_id.is_none() {
        return Err(CliError::Usage("--client-id is required".into()));
    }
    if cli.client.client_secret.is_none() && cli.client.auth.is_some() {
        return Err(CliError::Usage("--auth needs --client-secret".into()));
    }
    if matches!(cli.command, Command::Device { .. }) && cli.server.issuer.is_none() {
        return Err(CliError::Usage("device needs --issuer".into()));
    }
    if matches!(cli.command, Command::Authorize { par: true, .. }) && cli.server.issuer.is_none() {
        return Err(CliError::Usage("authorize --par needs --issuer".into()));
    }
    let setup = setup(&cli).await?;
    match &cli.command {
        Command::Discover => Ok(()),
        Command::Device { no_browser } => device(&cli, &setup, *no_browser).await,
        Command::Authorize { redirect_port, no_browser, timeout, par } => {
            let options = AuthorizeOptions {
                port: *redirect_port,
                no_browser: *no_browser,
                timeout: Duration::from_secs(*timeout),
                par: *par,
            };
            authorize(&cli, setup, options).await
        }
        Command::ClientCredentials => {
            let client = build_client(&cli, &setup, None)?;
            let request = client.client_credentials_request(scope(&cli)).map_err(request_error)?;
            token_call(&client, &setup.sender, request).await
        }
        Command::Password { username, password } => {
            let client = build_client(&cli, &setup, None)?;
            let request =
                client.password_request(username, &Password::new(password), scope(&cli)).map_err(request_error)?;
            token_call(&client, &setup.sender, request).await
        }
        Command::Refresh { refresh_token } => {
            let client = build_client(&cli, &setup, None)?;
            let request =
                client.refresh_request(&RefreshToken::new(refresh_token), scope(&cli)).map_err(request_error)?;
            token_call(&client, &setup.sender, request).await
        }
        Command::Revoke { token } => {
            let client = build_client(&cli, &setup, None)?;
            let request =
                client.revocation_request(&token.token, hint(token.token_type_hint)).map_err(request_error)?;
            let response = execute(&setup.http, request).await?;
            client.parse_revocation_response(response).map_err(Error::from)?;
            Ok(())
        }
        Command::Introspect { token } => {
            let client = build_client(&cli, &setup, None)?;
            let request =
                client.introspection_request(&token.token, hint(token.token_type_hint)).map_err(request_error)?;
            let response = execute(&setup.http, request).await?;
            let body = response.body().clone();
            client.parse_introspection_response(response).map_err(Error::from)?;
            print_body(&body);
            Ok(())
        }
        Command::Userinfo { token } => userinfo(&setup, token, cli.server.allow_insecure_http).await,
    }
}

/// `device` (RFC 8628, design.md §4): the codes on stderr, then polls at the server's interval (obeying
/// `slow_down`, backing off while the server cannot be reached) until the token response, printed as it came.
async fn device(cli: &Cli, setup: &Setup, no_browser: bool) -> Result<(), CliError> {
    use oauth2_core::client::{DevicePoll, DeviceStep};
    let client = build_client(cli, setup, None)?;
    let request = client.device_authorization_request(scope(cli)).map_err(request_error)?;
    let response = execute(&setup.http, request).await?;
    let codes = client.parse_device_authorization_response(response, SystemTime::now()).map_err(Error::from)?;
    // What the server sent goes to a terminal: no control characters (escape sequences) pass.
    let shown = |text: &str| text.chars().filter(|c| !c.is_control()).collect::<String>();
    eprintln!("To sign in, open {} and enter the code {}", shown(&codes.verification_uri), shown(&codes.user_code));
    if let Some(complete) = &codes.verification_uri_complete {
        eprintln!("or open {}", shown(complete));
    }
    let expires_in = codes.expires_at.duration_since(SystemTime::now()).unwrap_or_default().as_secs();
    eprintln!("Waiting for the sign-in (the code expires in {expires_in} s)...");
    if !no_browser {
        let url = codes.verification_uri_complete.as_deref().unwrap_or(&codes.verification_uri);
        // Only a web page is opened (https, or http as the --allow-insecure-http rule allows): never another scheme.
        let web = url::Url::parse(url)
            .ok()
            .filter(|u| oauth2_core::security::check_endpoint(u, cli.server.allow_insecure_http).is_ok());
        match web {
            Some(web) => {
                if let Err(e) = open::that_detached(web.as_str()) {
                    eprintln!("(could not open a browser: {e}; open the URL yourself)");
                }
            }
            None => eprintln!("(the verification URI is not an https URL; it was not opened)"),
        }
    }
    let mut poll = DevicePoll::new(&codes, SystemTime::now());
    loop {
        tokio::time::sleep(poll.next_poll_at().duration_since(SystemTime::now()).unwrap_or_default()).await;
        let request = client.device_token_request(&codes).map_err(request_error)?;
        let step = match setup.sender.send(request).await {
            Ok(response) => {
                let body = response.body().clone();
                match poll.on_response(&client, response, SystemTime::now()) {
                    DeviceStep::Token(_) => {
                        print_body(&body);
                        return Ok(());
                    }
                    step => step,
                }
            }
            Err(Error::Http(_)) => poll.on_unreachable(SystemTime::now()),
            Err(e) => return Err(e.into()),
        };
        if let DeviceStep::Failed(e) = step {
            return Err(Error::from(e).into());
        }
    }
}

/// `userinfo --token T`: the UserInfo endpoint's JSON (OIDC Core §5.3.2), from the issuer's metadata.
async fn userinfo(setup: &Setup, token: &str, allow_insecure_http: bool) -> Result<(), CliError> {
    let endpoint = setup
        .metadata
        .as_ref()
        .and_then(|(m, _)| m.userinfo_endpoint.clone())
        .ok_or_else(|| failed("invalid_configuration", "the issuer's metadata lists no userinfo_endpoint"))?;
    let endpoint = url::Url::parse(&endpoint).map_err(|e| failed("invalid_configuration", e.to_string()))?;
    oauth2_core::security::check_endpoint(&endpoint, allow_insecure_http)
        .map_err(|e| failed("insecure_endpoint", e.to_string()))?;
    let mut request =
        http::Request::get(endpoint.as_str()).body(Vec::new()).map_err(|e| failed("invalid_request", e.to_string()))?;
    // RFC 9449 §7.1: with a DPoP key, the token goes under the DPoP scheme with a proof carrying its hash.
    let scheme = if setup.sender.dpop.is_some() { "DPoP" } else { "Bearer" };
    let value = http::HeaderValue::from_str(&format!("{scheme} {token}"))
        .map_err(|_| CliError::Usage("the token cannot be sent in a header".into()))?;
    request.headers_mut().insert(http::header::AUTHORIZATION, value);
    let response = match &setup.sender.dpop {
        Some(dpop) => dpop.execute(&setup.http, request, Some(token)).await?,
        None => execute(&setup.http, request).await?,
    };
    if response.status() != http::StatusCode::OK {
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
        // RFC 6750 §3: the error may be only in the challenge.
        let challenge =
            response.headers().get(http::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let code = body["error"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| challenge.split("error=\"").nth(1).and_then(|r| r.split('"').next()).map(str::to_owned));
        let code = code.unwrap_or_else(|| "invalid_token".to_owned());
        let description = body["error_description"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the UserInfo endpoint answered {}", response.status()));
        return Err(failed(&code, description));
    }
    print_body(response.body());
    Ok(())
}

/// OpenID Connect (design.md §4): an id_token in the token response is checked against the issuer's JWKS before
/// anything is printed; a bad one is `invalid_id_token`.
async fn check_id_token(
    client: &Client,
    http: &reqwest::Client,
    pending: &oauth2_core::PendingAuthorization,
    token: &oauth2_core::Token,
) -> Result<(), CliError> {
    let Some(id_token) = token.extra.get("id_token").and_then(|v| v.as_str()) else {
        // RFC 6749 §5.1: a response without `scope` granted what was asked.
        let granted = token.scope.as_ref().unwrap_or(&pending.scope);
        if pending.nonce.is_some() && granted.contains("openid") {
            return Err(failed("invalid_id_token", "openid was granted but no id_token came"));
        }
        return Ok(());
    };
    let invalid = |d: String| failed("invalid_id_token", d);
    let jwks_uri = client.jwks_uri().ok_or_else(|| invalid("the issuer's metadata lists no jwks_uri".into()))?;
    let request = http::Request::get(jwks_uri.as_str()).body(Vec::new()).map_err(|e| invalid(e.to_string()))?;
    let response = execute(http, request).await?;
    let keys: oauth2_core::jose::JwkSet =
        serde_json::from_slice(response.body()).map_err(|e| invalid(format!("the JWK Set is malformed: {e}")))?;
    client
        .validate_id_token(id_token, pending, Some(token.access_token.secret()), &keys, SystemTime::now())
        .map_err(|e| invalid(e.to_string()))?;
    Ok(())
}

/// How `authorize` runs.
struct AuthorizeOptions {
    port: Option<u16>,
    no_browser: bool,
    timeout: Duration,
    /// Push the request first (RFC 9126); also done when the metadata requires it.
    par: bool,
}

async fn authorize(cli: &Cli, setup: Setup, options: AuthorizeOptions) -> Result<(), CliError> {
    let AuthorizeOptions { port, no_browser, timeout, par } = options;
    // Bind first, so the URL we print points at a listener that is already there.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
        .await
        .map_err(|e| failed("listen_failed", format!("cannot listen on 127.0.0.1:{}: {e}", port.unwrap_or(0))))?;
    let port = listener.local_addr().map_err(|e| failed("listen_failed", e.to_string()))?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let client = build_client(cli, &setup, Some(&redirect_uri))?;
    let request = client.authorization_request(&mut OsRng).scope(scope(cli));
    // RFC 9449 §10: with a DPoP key, the code is bound to it.
    let request = match &setup.sender.dpop {
        Some(dpop) => request.param("dpop_jkt", dpop.key().thumbprint()),
        None => request,
    };
    let (url, pending) = if par || client.requires_pushed_authorization_requests() {
        // RFC 9126: the request goes to the server, client-authenticated; the browser carries its request_uri.
        let (push, pending) = request.build_pushed().map_err(request_error)?;
        let response = setup.sender.send(push).await?;
        let pushed = client.parse_pushed_authorization_response(response, SystemTime::now()).map_err(Error::from)?;
        (client.pushed_authorization_url(&pushed).map_err(request_error)?, pending)
    } else {
        request.build().map_err(request_error)?
    };

    eprintln!("Open this URL in a browser to authorize (listening on {redirect_uri}):");
    eprintln!("{url}");
    if !no_browser && let Err(e) = open::that_detached(url.as_str()) {
        eprintln!("(could not open a browser: {e}; open the URL yourself)");
    }

    let sender = setup.sender.clone();
    let handler = move |query: String| -> callback::BoxFuture<Outcome<Result<Vec<u8>, CliError>>> {
        let client = client.clone();
        let pending = pending.clone();
        let sender = sender.clone();
        let redirect_uri = redirect_uri.clone();
        Box::pin(async move {
            let result = exchange(&client, &sender, &pending, &format!("{redirect_uri}?{query}")).await;
            let (ok, message) = match &result {
                Ok(_) => (true, "The token was received.".to_owned()),
                Err(CliError::Failed { code, description }) => (false, format!("{code}: {description}")),
                Err(CliError::Usage(m)) => (false, m.clone()),
            };
            Outcome { result, ok, message }
        })
    };
    // Once the callback has come, its token is printed whatever the listener does next (callback.rs).
    let outcome = wait_for_callback(listener, timeout, handler).await.map_err(|e| match e {
        WaitError::Timeout => failed("timeout", format!("no callback within {} s", timeout.as_secs())),
        WaitError::Stopped => failed("callback_failed", "the callback listener stopped"),
    })?;
    print_body(&outcome?);
    Ok(())
}

async fn exchange(
    client: &Client,
    sender: &Sender,
    pending: &oauth2_core::PendingAuthorization,
    callback_url: &str,
) -> Result<Vec<u8>, CliError> {
    let request = client.finish_authorization(pending, callback_url).map_err(Error::from)?;
    let response = sender.send(request).await?;
    let body = response.body().clone();
    let token = client.parse_token_response(response, SystemTime::now()).map_err(Error::from)?;
    check_id_token(client, &sender.http, pending, &token).await?;
    Ok(body)
}
