//! Benchmark peer: the workloads of our bench server (`examples/src/bin/bench-server.rs`) served by
//! oxide-auth 0.6 through oxide-auth-axum 0.6 on axum 0.8, for a side-by-side comparison.
//!
//! - W0 `GET /w0`: a bare axum handler returning constant JSON `{"client_id":"bench"}`.
//! - W1 `POST /token`: client credentials (RFC 6749 §4.4) by `ClientCredentialsFlow`, one confidential client
//!   `bench` / `bench-secret` (HTTP Basic), default scope `read`; each request issues a fresh random token into
//!   the in-memory `TokenMap`.
//! - W2 `GET /w2`: Bearer-protected by `ResourceFlow`, scope `read`; answers `{"client_id"}` from the grant.
//!
//! Locking: as in oxide-auth's framework examples, every handler shares one `Arc<Shared>` holding each primitive
//! behind its own `std::sync::Mutex`: `Mutex<ClientMap>` (registrar) and `Mutex<TokenMap<RandomGenerator>>`
//! (issuer). The endpoint (`Generic`) of a flow owns the guards for the flow's whole synchronous `execute`, so
//! `POST /token` holds the registrar lock and then the issuer lock for the entire request, including the secret
//! check (Argon2 with `--secrets argon2`), and `GET /w2` holds the issuer lock while it looks the token up. There
//! is no authorizer: the client-credentials grant needs none.
//!
//! `oxide-auth-bench [--listen 127.0.0.1:0] [--secrets plain|argon2]`; prints `listening on http://ADDR`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use oxide_auth::endpoint::{ClientCredentialsFlow, OwnerConsent, Solicitation};
use oxide_auth::frontends::simple::endpoint::{FnSolicitor, Generic, Vacant};
use oxide_auth::primitives::generator::RandomGenerator;
use oxide_auth::primitives::issuer::TokenMap;
use oxide_auth::primitives::registrar::{Client, ClientMap, ExactUrl, PasswordPolicy, RegisteredUrl, RegistrarError};
use oxide_auth::primitives::scope::Scope;
use oxide_auth_axum::{OAuthRequest, OAuthResource, OAuthResponse, WebError};

/// Random bytes per access token: the same entropy as our server's tokens (32 bytes).
const TOKEN_BYTES: usize = 32;

/// The body of W0 and W2, as in our bench server: W0's is constant, W2's names the token's client.
#[derive(serde::Serialize)]
struct Who<T> {
    client_id: T,
}

const USAGE: &str = "usage: oxide-auth-bench [--listen ADDR] [--secrets plain|argon2]";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Secrets {
    /// Our own `PasswordPolicy`: the secret kept as is, compared in constant time.
    Plain,
    /// oxide-auth's default `PasswordPolicy` (Argon2).
    Argon2,
}

struct Args {
    listen: String,
    secrets: Secrets,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { listen: "127.0.0.1:0".to_owned(), secrets: Secrets::Plain };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        let mut value = || inline.clone().or_else(|| it.next()).ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => args.listen = value()?,
            "--secrets" => {
                args.secrets = match value()?.as_str() {
                    "plain" => Secrets::Plain,
                    "argon2" => Secrets::Argon2,
                    other => return Err(format!("--secrets: unknown value {other:?} (plain|argon2)")),
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// Cheap password policy for `--secrets plain`: stores the secret unchanged and compares in constant time
/// (for equal lengths; the length itself is not hidden).
struct PlainSecret;

impl PasswordPolicy for PlainSecret {
    fn store(&self, _client_id: &str, passphrase: &[u8]) -> Vec<u8> {
        passphrase.to_vec()
    }

    fn check(&self, _client_id: &str, passphrase: &[u8], stored: &[u8]) -> Result<(), RegistrarError> {
        if ct_eq(passphrase, stored) {
            Ok(())
        } else {
            // `Unspecified` is what the flow turns into 401 invalid_client (`PrimitiveError` would be a 500).
            Err(RegistrarError::Unspecified)
        }
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The primitives every request shares (see the module docs for the locking).
struct Shared {
    registrar: Mutex<ClientMap>,
    issuer: Mutex<TokenMap<RandomGenerator>>,
    /// Scopes `GET /w2` requires (any one of them).
    w2_scopes: Vec<Scope>,
}

impl Shared {
    fn new(secrets: Secrets) -> Self {
        let mut registrar = ClientMap::new();
        if secrets == Secrets::Plain {
            // Must precede `register_client`, which encodes the secret with the policy in force.
            registrar.set_password_policy(PlainSecret);
        }
        // The client-credentials grant never redirects, but every oxide-auth client has a redirect URI.
        let unused_redirect: RegisteredUrl = "http://127.0.0.1/unused".parse::<ExactUrl>().expect("static URL").into();
        registrar.register_client(Client::confidential(
            "bench",
            unused_redirect,
            "read".parse().expect("static scope"),
            b"bench-secret",
        ));
        Shared {
            registrar: Mutex::new(registrar),
            issuer: Mutex::new(TokenMap::new(RandomGenerator::new(TOKEN_BYTES))),
            w2_scopes: vec!["read".parse().expect("static scope")],
        }
    }
}

/// The owner of a client-credentials grant is the client itself.
fn owner_is_client(_: &mut OAuthRequest, solicitation: Solicitation<'_>) -> OwnerConsent<OAuthResponse> {
    OwnerConsent::Authorized(solicitation.pre_grant().client_id.clone())
}

/// W1: `POST /token`.
async fn token(State(shared): State<Arc<Shared>>, request: OAuthRequest) -> Result<OAuthResponse, WebError> {
    let endpoint = Generic {
        registrar: shared.registrar.lock().unwrap_or_else(|e| e.into_inner()),
        authorizer: Vacant,
        issuer: shared.issuer.lock().unwrap_or_else(|e| e.into_inner()),
        solicitor: FnSolicitor(owner_is_client),
        scopes: Vacant,
        response: Vacant,
    };
    let mut flow = ClientCredentialsFlow::prepare(endpoint)?;
    Ok(flow.execute(request)?)
}

/// W2: `GET /w2`.
async fn w2(State(shared): State<Arc<Shared>>, request: OAuthResource) -> Response {
    let outcome = Generic {
        registrar: Vacant,
        authorizer: Vacant,
        issuer: shared.issuer.lock().unwrap_or_else(|e| e.into_inner()),
        solicitor: Vacant,
        scopes: shared.w2_scopes.as_slice(),
        response: Vacant,
    }
    .resource_flow::<OAuthRequest>()
    .execute(request.into());
    match outcome {
        Ok(grant) => Json(Who { client_id: grant.client_id }).into_response(),
        Err(Ok(denied)) => denied.into_response(),
        Err(Err(error)) => WebError::from(error).into_response(),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match std::net::TcpListener::bind(&args.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let shared = Arc::new(Shared::new(args.secrets));
    let app = Router::new()
        .route("/w0", get(|| async { Json(Who { client_id: "bench" }) }))
        .route("/token", post(token))
        .route("/w2", get(w2))
        .with_state(shared);

    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    }

    let result = (|| -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(async move { axum::serve(tokio::net::TcpListener::from_std(listener)?, app).await })
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
