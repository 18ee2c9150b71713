//! The server `cargo xtask bench` measures: on one framework, a bare handler returning constant JSON (W0, the
//! baseline), the token endpoint issuing a fresh opaque token per client-credentials request with Basic auth (W1),
//! and a Bearer-protected GET (W2), all in one process, on the in-memory store or a database.
//!
//! `bench-server --framework axum|actix --listen 127.0.0.1:0 [--access-token-lifetime SECS]
//! [--store memory|sqlite:PATH|postgres://...] [--db-max-connections N]`; prints `listening on http://ADDR`.

use clap::{Parser, ValueEnum};
use oauth2_core::grant::GrantType;
use oauth2_core::server::{AuthorizationServer, MemoryStore, OsTokenGenerator, RegisteredClient, ServerConfig, Store};
use oauth2_examples::demo::DemoStore;

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
    /// Where tokens live: memory, sqlite:PATH or postgres://... (durable stores as the demo providers open them).
    #[arg(long, default_value = "memory")]
    store: String,
    /// The database pool's size.
    #[arg(long, default_value_t = 10)]
    db_max_connections: u32,
}

fn bench_client() -> RegisteredClient {
    RegisteredClient::confidential("bench", "bench-secret").grant_types([GrantType::ClientCredentials]).scopes("read")
}

fn config(issuer: &str, access_token_lifetime: u64) -> ServerConfig {
    ServerConfig::new(issuer).access_token_lifetime(std::time::Duration::from_secs(access_token_lifetime))
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
    let result = match args.framework {
        // The store is opened on the runtime that serves: a pool's sockets belong to the runtime that made them.
        Framework::Axum => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .and_then(|rt| rt.block_on(serve(&args, listener, Framework::Axum))),
        Framework::Actix => actix_web::rt::System::new().block_on(serve(&args, listener, Framework::Actix)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// Opens the store `--store` names and serves on `framework` until the process is killed.
async fn serve(args: &Args, listener: std::net::TcpListener, framework: Framework) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let config = config(&format!("http://{addr}"), args.access_token_lifetime);
    if args.store == "memory" {
        // The in-memory store itself, not behind DemoStore's dispatch: the figures of earlier runs stay comparable.
        let store = MemoryStore::new();
        store.add_client(bench_client());
        println!("listening on http://{addr}");
        return on(framework, listener, AuthorizationServer::new(config, store, OsTokenGenerator)).await;
    }
    let store = DemoStore::open(&args.store, args.db_max_connections).await.map_err(std::io::Error::other)?;
    store.sync_clients(&[bench_client()]).await.map_err(std::io::Error::other)?;
    println!("listening on http://{addr}");
    on(framework, listener, AuthorizationServer::new(config, store, OsTokenGenerator)).await
}

async fn on<S: Store + 'static>(
    framework: Framework,
    listener: std::net::TcpListener,
    server: AuthorizationServer<S>,
) -> std::io::Result<()> {
    match framework {
        Framework::Axum => run_axum(listener, server).await,
        Framework::Actix => run_actix(listener, server).await,
    }
}

async fn run_axum<S: Store + 'static>(
    listener: std::net::TcpListener,
    server: AuthorizationServer<S>,
) -> std::io::Result<()> {
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
    axum::serve(tokio::net::TcpListener::from_std(listener)?, app).await
}

async fn run_actix<S: Store + 'static>(
    listener: std::net::TcpListener,
    server: AuthorizationServer<S>,
) -> std::io::Result<()> {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use oauth2_actix::{Authenticated, Provider};
    let provider = Provider::new(server);
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
}
