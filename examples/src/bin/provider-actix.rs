//! The demo authorization server on actix-web: `provider-actix --listen 127.0.0.1:9000 [--config FILE.toml]
//! [--issuer URL]`.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use clap::Parser;
use oauth2_actix::{Authenticated, Provider, into_response};
use oauth2_examples::demo::{DemoApp, DemoConfig};

/// The demo OAuth 2.0 provider (actix-web): authorization, token, revocation, introspection, metadata and userinfo
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

/// The demo pages, through the framework-free app.
async fn pages(req: HttpRequest, body: web::Bytes, demo: web::Data<DemoApp>) -> HttpResponse {
    let mut request = http::Request::new(body.to_vec());
    *request.method_mut() = http::Method::from_bytes(req.method().as_str().as_bytes()).unwrap_or(http::Method::GET);
    *request.uri_mut() = req.uri().to_string().parse().unwrap_or_default();
    for (name, value) in req.headers() {
        if let (Ok(n), Ok(v)) =
            (http::HeaderName::from_bytes(name.as_str().as_bytes()), http::HeaderValue::from_bytes(value.as_bytes()))
        {
            request.headers_mut().append(n, v);
        }
    }
    into_response(demo.handle(request).await)
}

async fn userinfo(Authenticated(grant): Authenticated, demo: web::Data<DemoApp>) -> HttpResponse {
    into_response(demo.userinfo(&grant))
}

fn main() -> std::process::ExitCode {
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
    let listener = match std::net::TcpListener::bind(&args.listen) {
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
    let demo = web::Data::new(DemoApp::new(server, &config));

    println!("provider-actix listening on http://{addr} (issuer {issuer})");
    if args.config.is_none() {
        println!("Built-in demo data:\n{}", config.describe());
    }
    let result = actix_web::rt::System::new().block_on(async move {
        let http = HttpServer::new(move || {
            App::new()
                .app_data(demo.clone())
                .app_data(web::PayloadConfig::new(16 * 1024))
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
