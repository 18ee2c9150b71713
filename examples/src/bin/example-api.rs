//! A small API that trusts the demo provider's JWT access tokens and nothing else: `example-api --listen
//! 127.0.0.1:9100 --issuer http://127.0.0.1:9000`. It never calls the provider per request: tokens are checked with
//! the JWKS of the issuer's metadata (RFC 9068 §4), the answers cached. Its resource identifier (RFC 8707) is
//! `http://HOST:PORT` of --listen unless --audience says otherwise: clients ask for tokens with
//! `resource=<that URI>`.
//!
//! - `GET /whoami`: any valid token; answers what it grants (subject, client, scope, audience, and the DPoP key
//!   `jkt` a bound token is bound to: such a token is taken only under the `DPoP` scheme, with a proof).
//! - `GET /read`: needs the scope `read`.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use clap::Parser;
use oauth2_axum::serve::{Limits, serve};
use oauth2_axum::{Authenticated, RequireScope};
use oauth2_core::jose::Algorithm;
use oauth2_core::resource::ResourceServer;
use oauth2_examples::demo::{init_logging, stop_signal};
use oauth2_reqwest::resource::RemoteVerifier;

/// An API that accepts only the JWT access tokens of one issuer, for its own audience.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: String,
    /// The issuer whose JWT access tokens it trusts (its metadata gives the JWKS).
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    issuer: String,
    /// This API's resource identifier, the `aud` its tokens must name (default: http://HOST:PORT of --listen).
    #[arg(long)]
    audience: Option<String>,
    /// The signing algorithms accepted (default: RS256, ES256 and EdDSA; never none or HMAC).
    #[arg(long = "alg", value_name = "ALG")]
    algorithms: Vec<String>,
    /// The origin clients reach this API at, which DPoP proofs name (default: http://HOST:PORT of --listen).
    #[arg(long)]
    origin: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logging();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let algorithms = if args.algorithms.is_empty() {
        Algorithm::ALL.to_vec()
    } else {
        args.algorithms
            .iter()
            .map(|a| a.parse().map_err(|_| format!("--alg {a}: use RS256, ES256 or EdDSA")))
            .collect::<Result<_, _>>()?
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let audience = args.audience.unwrap_or_else(|| format!("http://{bound}"));
    let verifier = RemoteVerifier::builder(&args.issuer, &audience)
        .algorithms(&algorithms)
        .discover()
        .await
        .map_err(|e| format!("the issuer {}: {e}", args.issuer))?;
    let verifier = Arc::new(verifier);
    // DPoP-bound tokens (RFC 9449 §7) are taken with their proof; Bearer ones as before.
    let origin = args.origin.unwrap_or_else(|| format!("http://{bound}"));
    let check = ResourceServer::new("example-api").dpop(&origin);
    let app = Router::new()
        .route("/whoami", get(whoami).layer(RequireScope::<RemoteVerifier>::new(check.clone(), verifier.clone(), "")))
        .route("/read", get(whoami).layer(RequireScope::<RemoteVerifier>::new(check, verifier, "read")));
    println!("example-api listening on http://{bound} (audience {audience}, issuer {})", args.issuer);
    serve(listener, app, Limits::default(), stop_signal()).await.map_err(|e| e.to_string())
}

/// What the token grants: the subject (none for a client acting for itself), the client, the scope, the audience.
async fn whoami(Authenticated(grant): Authenticated) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "sub": grant.subject.as_deref(),
        "client_id": &*grant.client_id,
        "scope": grant.scope.to_string(),
        "aud": &*grant.audience,
        "jkt": grant.jkt.as_deref(),
    }))
}
