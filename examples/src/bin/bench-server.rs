//! The server `cargo xtask bench` measures: on one framework, a bare handler returning constant JSON (W0, the
//! baseline), the token endpoint issuing a fresh opaque token per client-credentials request with Basic auth (W1),
//! and a Bearer-protected GET (W2), all in one process, on the in-memory store or a database.
//!
//! With `--access-tokens jwt --access-token-alg ALG`, `/token` issues RFC 9068 JWTs, and the process also stands in
//! for an API that checks them alone (the JWKS, no store): `GET /w2-jwt` with a cache of verified tokens in front
//! (W2-jwt), `GET /w2-jwt-raw` verifying the signature on every request.
//!
//! `bench-server --framework axum|actix --listen 127.0.0.1:0 [--access-token-lifetime SECS]
//! [--store memory|sqlite:PATH|postgres://...] [--db-max-connections N] [--access-tokens opaque|jwt]
//! [--access-token-alg RS256|ES256|EdDSA]`; prints `listening on http://ADDR`.

use clap::{Parser, ValueEnum};
use oauth2_core::grant::GrantType;
use oauth2_core::jose::Algorithm;
use oauth2_core::resource::{Cached, JwksVerifier, JwtCheck, ResourceServer};
use oauth2_core::server::{AuthorizationServer, MemoryStore, OsTokenGenerator, RegisteredClient, ServerConfig, Store};
use oauth2_examples::demo::DemoStore;
use std::sync::Arc;

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
    /// `opaque` or `jwt` (RFC 9068).
    #[arg(long, default_value = "opaque")]
    access_tokens: String,
    /// How JWT access tokens are signed.
    #[arg(long, default_value = "RS256")]
    access_token_alg: String,
}

fn bench_client() -> RegisteredClient {
    RegisteredClient::confidential("bench", "bench-secret").grant_types([GrantType::ClientCredentials]).scopes("read")
}

fn config(issuer: &str, args: &Args) -> std::io::Result<ServerConfig> {
    let lifetime = std::time::Duration::from_secs(args.access_token_lifetime);
    let config = ServerConfig::new(issuer).access_token_lifetime(lifetime).jwt_access_token_lifetime(lifetime);
    match args.access_tokens.as_str() {
        "opaque" => Ok(config),
        "jwt" => Ok(config.jwt_access_tokens(algorithm(args)?)),
        other => Err(std::io::Error::other(format!("--access-tokens {other}: use opaque or jwt"))),
    }
}

fn algorithm(args: &Args) -> std::io::Result<Algorithm> {
    args.access_token_alg.parse().map_err(|_| std::io::Error::other("--access-token-alg: RS256, ES256 or EdDSA"))
}

/// The API's verifiers over `server`'s public keys: cached (W2-jwt) and not (W2-jwt-raw). The API's audience is
/// the issuer, so the tokens of a plain client-credentials request are for it.
async fn api_verifiers<S: Store>(
    server: &AuthorizationServer<S>,
    args: &Args,
) -> std::io::Result<(Arc<Cached<JwksVerifier>>, Arc<JwksVerifier>)> {
    let algorithm = algorithm(args)?;
    let now = std::time::SystemTime::now();
    let generate = || oauth2_core::jose::SigningKey::generate(algorithm, &mut oauth2_core::random::OsRng);
    let keys = server.ensure_signing_key(algorithm, now, generate).await.map_err(std::io::Error::other)?;
    let issuer = server.config().issuer.clone();
    let verifier = || JwksVerifier::new(JwtCheck::new(&issuer, &issuer, &[algorithm]), keys.jwks().clone());
    Ok((Arc::new(Cached::new(verifier(), 100_000, std::time::Duration::from_secs(60))), Arc::new(verifier())))
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
    let config = config(&format!("http://{addr}"), args)?;
    if args.store == "memory" {
        // The in-memory store itself, not behind DemoStore's dispatch: the figures of earlier runs stay comparable.
        let store = MemoryStore::new();
        store.add_client(bench_client());
        return on(framework, listener, AuthorizationServer::new(config, store, OsTokenGenerator), args).await;
    }
    let store = DemoStore::open(&args.store, args.db_max_connections).await.map_err(std::io::Error::other)?;
    store.sync_clients(&[bench_client()]).await.map_err(std::io::Error::other)?;
    on(framework, listener, AuthorizationServer::new(config, store, OsTokenGenerator), args).await
}

async fn on<S: Store + 'static>(
    framework: Framework,
    listener: std::net::TcpListener,
    server: AuthorizationServer<S>,
    args: &Args,
) -> std::io::Result<()> {
    let api = api_verifiers(&server, args).await?;
    println!("listening on http://{}", listener.local_addr()?);
    match framework {
        Framework::Axum => run_axum(listener, server, api).await,
        Framework::Actix => run_actix(listener, server, api).await,
    }
}

/// The verifiers of the API routes.
type Api = (Arc<Cached<JwksVerifier>>, Arc<JwksVerifier>);

async fn run_axum<S: Store + 'static>(
    listener: std::net::TcpListener,
    server: AuthorizationServer<S>,
    (cached, raw): Api,
) -> std::io::Result<()> {
    use axum::Router;
    use axum::routing::get;
    use oauth2_axum::{Authenticated, Provider, RequireScope};
    let who = |Authenticated(g): Authenticated| async move { axum::Json(Who { client_id: g.client_id }) };
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
        .merge(Router::new().route("/w2-jwt", get(who)).route_layer(RequireScope::<Cached<JwksVerifier>>::new(
            ResourceServer::new("api"),
            cached,
            "read",
        )))
        .merge(Router::new().route("/w2-jwt-raw", get(who)).route_layer(RequireScope::<JwksVerifier>::new(
            ResourceServer::new("api"),
            raw,
            "read",
        )))
        .merge(provider.router());
    listener.set_nonblocking(true)?;
    axum::serve(tokio::net::TcpListener::from_std(listener)?, app).await
}

async fn run_actix<S: Store + 'static>(
    listener: std::net::TcpListener,
    server: AuthorizationServer<S>,
    (cached, raw): Api,
) -> std::io::Result<()> {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use oauth2_actix::{Authenticated, Provider, RequireScope};
    let provider = Provider::new(server);
    HttpServer::new(move || {
        let who =
            |Authenticated(g): Authenticated| async move { HttpResponse::Ok().json(Who { client_id: g.client_id }) };
        let rs = ResourceServer::new("api");
        App::new()
            .service(
                web::resource("/w2-jwt")
                    .wrap(RequireScope::<Cached<JwksVerifier>>::new(rs.clone(), cached.clone(), "read"))
                    .route(web::get().to(who)),
            )
            .service(
                web::resource("/w2-jwt-raw")
                    .wrap(RequireScope::<JwksVerifier>::new(rs, raw.clone(), "read"))
                    .route(web::get().to(who)),
            )
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
