//! The demo authorization server on axum: `provider-axum --listen 127.0.0.1:9000 [--config FILE.toml] [--issuer URL]`.

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use clap::Parser;
use oauth2_axum::{Authenticated, Provider, into_response};
use oauth2_examples::demo::{ProviderArgs, Started};

/// The demo OAuth 2.0 provider (axum): authorization, token, revocation, introspection, metadata and userinfo
/// endpoints, with HTML login and consent. Without --config it uses built-in demo data and prints it.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    provider: ProviderArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let Started { listener, server, demo } =
        match oauth2_examples::demo::start("provider-axum", &Args::parse().provider) {
            Ok(started) => started,
            Err((message, code)) => {
                eprintln!("error: {message}");
                return std::process::ExitCode::from(code);
            }
        };
    let listener = match listener.set_nonblocking(true).and_then(|()| tokio::net::TcpListener::from_std(listener)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let body_limit = server.config().max_body_bytes;
    let provider = Provider::new(server);

    let pages = {
        let demo = demo.clone();
        move |request: Request| async move {
            let (parts, body) = request.into_parts();
            match axum::body::to_bytes(body, body_limit).await {
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

    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}
