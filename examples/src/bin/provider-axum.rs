//! The demo authorization server on axum: `provider-axum --listen 127.0.0.1:9000 [--config FILE.toml] [--issuer URL]`.

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use clap::Parser;
use oauth2_axum::{Authenticated, Provider, into_response};
use oauth2_examples::demo::{DemoApp, DemoConfig};

/// The demo OAuth 2.0 provider (axum): authorization, token, revocation, introspection, metadata and userinfo
/// endpoints, with HTML login and consent. Without --config it uses built-in demo data and prints it.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: String,
    /// A TOML file of clients and users.
    #[arg(long)]
    config: Option<String>,
    /// The issuer identifier (default: http://HOST:PORT of --listen, with the port actually bound).
    #[arg(long)]
    issuer: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let config = match &args.config {
        Some(path) => match DemoConfig::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::from(2);
            }
        },
        None => DemoConfig::builtin(),
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return std::process::ExitCode::from(1);
        }
    };
    let bound = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: cannot read the listening address: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let addr = bound.to_string();
    let issuer = args.issuer.clone().unwrap_or_else(|| oauth2_examples::demo::default_issuer(&args.listen, bound));
    let server = match config.server(&issuer) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let provider = Provider::from_shared(server.clone());
    let demo = DemoApp::new(server, &config);

    let pages = {
        let demo = demo.clone();
        move |request: Request| async move {
            let (parts, body) = request.into_parts();
            match axum::body::to_bytes(body, 16 * 1024).await {
                Ok(bytes) => into_response(demo.handle(http::Request::from_parts(parts, bytes.to_vec())).await),
                Err(_) => (http::StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response(),
            }
        }
    };
    let userinfo = {
        let demo = demo.clone();
        move |Authenticated(grant): Authenticated| async move { into_response(demo.userinfo(&grant)) }
    };
    let app = Router::new()
        .route("/authorize", get(pages.clone()))
        .route("/login", post(pages.clone()))
        .route("/consent", post(pages))
        .merge(Router::new().route("/userinfo", get(userinfo)).route_layer(provider.require_scope("")))
        .merge(provider.router());

    println!("provider-axum listening on http://{addr} (issuer {issuer})");
    if args.config.is_none() {
        println!("Built-in demo data:\n{}", config.describe());
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}
