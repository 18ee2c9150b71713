//! The demo authorization server on axum: `provider-axum --listen 127.0.0.1:9000 [--config FILE.toml] [--issuer URL]
//! [--db URL]`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::routing::{get, post};
use clap::Parser;
use oauth2_axum::serve::{Limits, serve};
use oauth2_axum::{Provider, into_response};
use oauth2_core::server::ClientId;
use oauth2_examples::demo::{ProviderArgs, Started, init_logging, log_request, stop_signal};

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
    init_logging();
    let args = Args::parse();
    if let Some(command) = &args.provider.command {
        return oauth2_examples::demo::run_command(command).await;
    }
    let Started { listener, server, demo, header_timeout, max_connections } =
        match oauth2_examples::demo::start("provider-axum", &args.provider).await {
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
    let (body_limit, body_timeout) = (server.config().max_body_bytes, server.config().body_timeout);
    let provider = Provider::new(server);
    tokio::spawn(provider.purge_every(Duration::from_secs(60)));

    let pages = {
        let demo = demo.clone();
        move |request: Request| async move {
            match oauth2_axum::buffered(request, body_limit, body_timeout).await {
                Ok(request) => into_response(demo.handle(request.map(|body| body.to_vec())).await),
                Err(refused) => refused,
            }
        }
    };
    let healthz = move || async move { into_response(demo.healthz().await) };
    let app = Router::new()
        .route("/authorize", get(pages.clone()))
        .route("/device", get(pages.clone()).post(pages.clone()))
        .route("/login", post(pages.clone()))
        .route("/consent", post(pages))
        .route("/healthz", get(healthz))
        .merge(provider.router())
        .layer(axum::middleware::from_fn(access_log));

    let limits = Limits::default().header_timeout(header_timeout).max_connections(max_connections);
    if let Err(e) = serve(listener, app, limits, stop_signal()).await {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}

/// One line per request: method, path (never the query), status, latency, and the client where the endpoint knew
/// it.
async fn access_log(request: Request, next: axum::middleware::Next) -> axum::response::Response {
    let (method, path, started) = (request.method().clone(), request.uri().path().to_owned(), Instant::now());
    let response = next.run(request).await;
    let client = response.extensions().get::<ClientId>();
    log_request(method.as_str(), &path, response.status().as_u16(), started.elapsed(), client);
    response
}
