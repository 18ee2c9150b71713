//! The provider scenario table (oauth2-testkit) against oauth2-actix on a live server.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use oauth2_actix::{Authenticated, Provider};
use oauth2_core::server::MemoryStore;

/// The testkit convention's /authorize: login and consent come from headers.
async fn authorize(req: HttpRequest, provider: web::Data<Provider<MemoryStore>>) -> HttpResponse {
    let request = match provider.authorization_request(&req).await {
        Ok(r) => r,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(user) = req.headers().get("x-test-user").and_then(|v| v.to_str().ok()) else {
        return HttpResponse::Unauthorized().body("login required");
    };
    if req.headers().get("x-test-decision").is_some_and(|d| d == "deny") {
        provider.deny(&request).await
    } else {
        provider.approve(&request, user, None).await
    }
}

/// The testkit convention's /device (RFC 8628 §3.3): the user code, login and consent from the form and headers.
async fn device(req: HttpRequest, body: web::Bytes, provider: web::Data<Provider<MemoryStore>>) -> HttpResponse {
    let Some(request) = oauth2_actix::to_http_request(&req, body.to_vec()) else {
        return HttpResponse::BadRequest().finish();
    };
    let answer = oauth2_testkit::scenarios::device_page(provider.server(), request.headers(), request.body()).await;
    oauth2_actix::into_response(answer)
}

async fn show(Authenticated(grant): Authenticated) -> HttpResponse {
    HttpResponse::Ok()
        .json(serde_json::json!({"sub": grant.subject, "client_id": grant.client_id, "scope": grant.scope.to_string()}))
}

/// Starts the app on its own actix system thread; returns the base URL.
fn serve() -> String {
    serve_with(oauth2_testkit::scenarios::fixture)
}

fn serve_with(fixture: fn(&str) -> oauth2_core::server::AuthorizationServer<MemoryStore>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = Provider::new(fixture(&base));
    spawn(listener, move |cfg| {
        cfg.app_data(web::Data::new(provider.clone()))
            .configure(provider.configure())
            .route("/authorize", web::get().to(authorize))
            .route("/device", web::post().to(device))
            .service(web::resource("/api/read").wrap(provider.require_scope("read")).route(web::get().to(show)))
            .service(web::resource("/api/profile").wrap(provider.require_scope("profile")).route(web::get().to(show)));
    });
    base
}

/// Serves the routes `configure` sets up on `listener`, on an actix system thread of its own.
fn spawn(listener: std::net::TcpListener, configure: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static) {
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || App::new().configure(configure.clone()))
                .workers(2)
                .listen(listener)
                .unwrap()
                .run()
                .await
                .unwrap();
        });
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_passes_the_provider_scenario_table() {
    let base = serve();
    let report = oauth2_testkit::scenarios::run("actix", &base).await;
    assert_eq!(report.failed(), 0, "{:#?}", report.results.iter().filter(|(_, e)| e.is_some()).collect::<Vec<_>>());
}

/// The JWT table's API that stands alone: the same resources, behind the adapter's middleware with a verifier that
/// knows only the issuer's JWKS.
async fn serve_api(issuer: &str) -> String {
    use oauth2_actix::RequireScope;
    use oauth2_testkit::scenarios::{ApiVerifier, api_verifier};
    let verifier = std::sync::Arc::new(api_verifier(issuer).await.unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    spawn(listener, move |cfg| {
        let check = oauth2_core::resource::ResourceServer::new("api");
        let guard = |scope| RequireScope::<ApiVerifier>::new(check.clone(), verifier.clone(), scope);
        cfg.service(web::resource("/api/read").wrap(guard("read")).route(web::get().to(show)))
            .service(web::resource("/api/profile").wrap(guard("profile")).route(web::get().to(show)));
    });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_passes_the_jwt_scenario_table() {
    let base = serve_with(oauth2_testkit::scenarios::jwt_fixture);
    let api = serve_api(&base).await;
    let report = oauth2_testkit::scenarios::run_jwt("actix", &base, &api).await;
    assert_eq!(report.failed(), 0, "{:#?}", report.results.iter().filter(|(_, e)| e.is_some()).collect::<Vec<_>>());
}
