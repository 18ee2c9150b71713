//! The server `cargo xtask bench` measures: on one framework, a bare handler returning constant JSON (W0, the
//! baseline), the token endpoint issuing a fresh opaque token per client-credentials request with Basic auth (W1),
//! and a Bearer-protected GET (W2), all in one process with the in-memory store.
//!
//! `bench-server --framework axum|actix --listen 127.0.0.1:0 [--access-token-lifetime SECS]`; prints
//! `listening on http://ADDR`.

use clap::{Parser, ValueEnum};
use oauth2_core::grant::GrantType;
use oauth2_core::server::{AuthorizationServer, MemoryStore, OsTokenGenerator, RegisteredClient, ServerConfig};

/// The body of W0 and W2: the same shape, so the two differ only by the Bearer check and the extractor. W0's is
/// constant; W2's names the client of the validated token.
#[derive(serde::Serialize)]
struct Who<T> {
    client_id: T,
}

/// W1's shape without OAuth: a POST whose form body is read, answered by a constant token response of the same size
/// with the same headers. The floor for W1 on a framework: what the request's shape costs before any OAuth work.
const W1_SHAPE: &str = r#"{"access_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","token_type":"Bearer","expires_in":3600,"scope":"read"}"#;

#[derive(Clone, Copy, ValueEnum)]
enum Framework {
    Axum,
    Actix,
}

/// Benchmark target server (not a demo): W0 `GET /w0`, W1 `POST /token`, W2 `GET /w2`, and W1's shape without
/// OAuth at `POST /w1-shape`.
#[derive(Parser)]
struct Args {
    /// Which adapter to run.
    #[arg(long, value_enum)]
    framework: Framework,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Access token lifetime in seconds (the memory-over-time run uses short ones).
    #[arg(long, default_value_t = 3600)]
    access_token_lifetime: u64,
}

fn server(issuer: &str, access_token_lifetime: u64) -> AuthorizationServer<MemoryStore> {
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::confidential("bench", "bench-secret")
            .grant_types([GrantType::ClientCredentials])
            .scopes("read"),
    );
    let mut config = ServerConfig::new(issuer);
    config.access_token_lifetime = std::time::Duration::from_secs(access_token_lifetime);
    AuthorizationServer::new(config, store, OsTokenGenerator)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let listener = match std::net::TcpListener::bind(&args.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return std::process::ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let server = server(&format!("http://{addr}"), args.access_token_lifetime);
    println!("listening on http://{addr}");
    let result = match args.framework {
        Framework::Axum => run_axum(listener, server),
        Framework::Actix => run_actix(listener, server),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

fn run_axum(listener: std::net::TcpListener, server: AuthorizationServer<MemoryStore>) -> std::io::Result<()> {
    use axum::Router;
    use axum::routing::get;
    use oauth2_axum::{Authenticated, Provider};
    let provider = Provider::new(server);
    let app = Router::new()
        .route("/w0", get(|| async { axum::Json(Who { client_id: "bench" }) }))
        .route(
            "/w1-shape",
            axum::routing::post(|body: axum::body::Bytes| async move {
                let headers = [
                    (http::header::CONTENT_TYPE, "application/json"),
                    (http::header::CACHE_CONTROL, "no-store"),
                    (http::header::PRAGMA, "no-cache"),
                ];
                (headers, if body.is_empty() { "{}" } else { W1_SHAPE })
            }),
        )
        .merge(
            Router::new()
                .route(
                    "/w2",
                    get(|Authenticated(g): Authenticated| async move { axum::Json(Who { client_id: g.client_id }) }),
                )
                .route_layer(provider.require_scope("read")),
        )
        .merge(provider.router());
    listener.set_nonblocking(true)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move { axum::serve(tokio::net::TcpListener::from_std(listener)?, app).await })
}

fn run_actix(listener: std::net::TcpListener, server: AuthorizationServer<MemoryStore>) -> std::io::Result<()> {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use oauth2_actix::{Authenticated, Provider};
    let provider = Provider::new(server);
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .configure(provider.configure())
                .route("/w0", web::get().to(|| async { HttpResponse::Ok().json(Who { client_id: "bench" }) }))
                .route(
                    "/w1-shape",
                    web::post().to(|body: web::Bytes| async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .insert_header(("cache-control", "no-store"))
                            .insert_header(("pragma", "no-cache"))
                            .body(if body.is_empty() { "{}" } else { W1_SHAPE })
                    }),
                )
                .service(web::resource("/w2").wrap(provider.require_scope("read")).route(
                    web::get().to(|Authenticated(g): Authenticated| async move {
                        HttpResponse::Ok().json(Who { client_id: g.client_id })
                    }),
                ))
        })
        .listen(listener)?
        .run()
        .await
    })
}
