//! The demo authorization server on actix-web: `provider-actix --listen 127.0.0.1:9000 [--config FILE.toml]
//! [--issuer URL]`.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use clap::Parser;
use oauth2_actix::{Authenticated, Provider, into_response};
use oauth2_examples::demo::{DemoApp, ProviderArgs, Started};

/// The demo OAuth 2.0 provider (actix-web): authorization, token, revocation, introspection, metadata and userinfo
/// endpoints, with HTML login and consent. Without --config it uses built-in demo data and prints it.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    provider: ProviderArgs,
}

/// The demo pages, through the framework-free app.
async fn pages(req: HttpRequest, body: web::Bytes, demo: web::Data<DemoApp>) -> HttpResponse {
    match oauth2_actix::to_http_request(&req, body.to_vec()) {
        Some(request) => into_response(demo.handle(request).await),
        None => HttpResponse::BadRequest().finish(),
    }
}

async fn userinfo(Authenticated(grant): Authenticated, demo: web::Data<DemoApp>) -> HttpResponse {
    into_response(demo.userinfo(&grant))
}

fn main() -> std::process::ExitCode {
    let Started { listener, server, demo } =
        match oauth2_examples::demo::start("provider-actix", &Args::parse().provider) {
            Ok(started) => started,
            Err((message, code)) => {
                eprintln!("error: {message}");
                return std::process::ExitCode::from(code);
            }
        };
    let body_limit = server.config().max_body_bytes;
    let provider = Provider::new(server);
    let demo = web::Data::new(demo);
    let result = actix_web::rt::System::new().block_on(async move {
        let http = HttpServer::new(move || {
            App::new()
                .app_data(demo.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .configure(provider.configure())
                .route("/authorize", web::get().to(pages))
                .route("/login", web::post().to(pages))
                .route("/consent", web::post().to(pages))
                .service(web::resource("/userinfo").wrap(provider.require_scope("")).route(web::get().to(userinfo)))
        })
        .workers(2)
        .listen(listener)?;
        http.run().await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
