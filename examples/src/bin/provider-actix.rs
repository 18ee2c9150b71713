//! The demo authorization server on actix-web: `provider-actix --listen 127.0.0.1:9000 [--config FILE.toml]
//! [--issuer URL] [--db URL]`.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::KeepAlive;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use clap::Parser;
use oauth2_actix::{Provider, into_response};
use oauth2_core::server::ClientId;
use oauth2_examples::demo::{DemoApp, ProviderArgs, Started, init_logging, log_request, stop_signal};

/// The demo OAuth 2.0 provider (actix-web): authorization, token, revocation, introspection, metadata and userinfo
/// endpoints, with HTML login and consent. Without --config it uses built-in demo data and prints it.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    provider: ProviderArgs,
}

/// The demo pages, through the framework-free app; the body is bounded in size and time as the endpoints' are.
async fn pages(req: HttpRequest, body: web::Payload, demo: web::Data<DemoApp>) -> HttpResponse {
    let config = demo.server().config();
    let read = actix_web::rt::time::timeout(config.body_timeout, body.to_bytes_limited(config.max_body_bytes));
    let request = match read.await {
        Ok(Ok(Ok(bytes))) => oauth2_actix::to_http_request(&req, bytes.to_vec()),
        _ => None,
    };
    match request {
        Some(request) => into_response(demo.handle(request).await),
        None => HttpResponse::BadRequest().body("the request body is too large, slow or unreadable"),
    }
}

async fn healthz(demo: web::Data<DemoApp>) -> HttpResponse {
    into_response(demo.healthz().await)
}

/// One line per request: method, path (never the query), status, latency, and the client where the endpoint knew
/// it.
async fn access_log(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (method, path, started) = (request.method().to_string(), request.path().to_owned(), Instant::now());
    let response = next.call(request).await?;
    let client = response.response().extensions().get::<ClientId>().cloned();
    log_request(&method, &path, response.status().as_u16(), started.elapsed(), client.as_ref());
    Ok(response)
}

fn main() -> std::process::ExitCode {
    init_logging();
    let args = Args::parse();
    if let Some(command) = &args.provider.command {
        return actix_web::rt::System::new().block_on(oauth2_examples::demo::run_command(command));
    }
    let result = actix_web::rt::System::new().block_on(async move {
        let Started { listener, server, demo, header_timeout, max_connections } =
            match oauth2_examples::demo::start("provider-actix", &args.provider).await {
                Ok(started) => started,
                Err((message, code)) => return Err((message, code)),
            };
        let provider = Provider::new(server);
        actix_web::rt::spawn(provider.purge_every(Duration::from_secs(60)));
        let demo = web::Data::new(demo);
        const WORKERS: usize = 2;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(access_log))
                .app_data(demo.clone())
                .configure(provider.configure())
                .route("/authorize", web::get().to(pages))
                .route("/device", web::get().to(pages))
                .route("/device", web::post().to(pages))
                .route("/login", web::post().to(pages))
                .route("/consent", web::post().to(pages))
                .route("/healthz", web::get().to(healthz))
        })
        .workers(WORKERS)
        // A request whose head is not in by then is dropped; so is a keep-alive connection idle that long.
        .client_request_timeout(header_timeout)
        .keep_alive(KeepAlive::Timeout(header_timeout))
        // The cap is per worker.
        .max_connections(max_connections.div_ceil(WORKERS).max(1))
        .shutdown_timeout(30)
        // Ctrl-C and SIGTERM both stop gracefully: requests in flight finish (actix's own handler would force
        // the stop on Ctrl-C).
        .disable_signals()
        .listen(listener)
        .map_err(|e| (e.to_string(), 1))?
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            stop_signal().await;
            handle.stop(true).await;
        });
        server.await.map_err(|e| (e.to_string(), 1))
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err((message, code)) => {
            eprintln!("error: {message}");
            std::process::ExitCode::from(code)
        }
    }
}
