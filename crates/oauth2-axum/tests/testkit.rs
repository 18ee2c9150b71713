//! The provider scenario table (oauth2-testkit) against oauth2-axum on a live server.

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use oauth2_axum::{Authenticated, Provider};
use oauth2_core::server::MemoryStore;

/// The app of the testkit convention: adapter routes, an /authorize and a /device whose login and consent come
/// from headers, and two protected resources.
fn app(provider: Provider<MemoryStore>) -> Router {
    let authorize = {
        let provider = provider.clone();
        move |RawQuery(query): RawQuery, headers: HeaderMap| async move {
            let request = match provider.authorization_request(query.as_deref()).await {
                Ok(r) => r,
                Err(rejection) => return rejection.into_response(),
            };
            let Some(user) = headers.get("x-test-user").and_then(|v| v.to_str().ok()) else {
                return (StatusCode::UNAUTHORIZED, "login required").into_response();
            };
            if headers.get("x-test-decision").is_some_and(|d| d == "deny") {
                provider.deny(&request).await
            } else {
                provider.approve(&request, user, None).await
            }
        }
    };
    let show = |Authenticated(grant): Authenticated| async move {
        axum::Json(
            serde_json::json!({"sub": grant.subject, "client_id": grant.client_id, "scope": grant.scope.to_string()}),
        )
        .into_response()
    };
    let read = Router::new().route("/api/read", get(show)).route_layer(provider.require_scope("read"));
    let profile = Router::new().route("/api/profile", get(show)).route_layer(provider.require_scope("profile"));
    let device = {
        let provider = provider.clone();
        move |headers: HeaderMap, body: axum::body::Bytes| async move {
            oauth2_axum::into_response(oauth2_testkit::scenarios::device_page(provider.server(), &headers, &body).await)
        }
    };
    Router::new()
        .route("/authorize", get(authorize))
        .route("/device", axum::routing::post(device))
        .merge(provider.router())
        .merge(read)
        .merge(profile)
}

async fn serve() -> String {
    serve_with(oauth2_testkit::scenarios::fixture).await
}

async fn serve_with(fixture: fn(&str) -> oauth2_core::server::AuthorizationServer<MemoryStore>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = Provider::new(fixture(&base));
    tokio::spawn(async move { axum::serve(listener, app(provider)).await.unwrap() });
    base
}

/// The JWT table's API that stands alone: the same resources, behind the adapter's layer with a verifier that
/// knows only the issuer's JWKS.
async fn serve_api(issuer: &str) -> String {
    use oauth2_testkit::scenarios::{ApiVerifier, api_verifier};
    let verifier = std::sync::Arc::new(api_verifier(issuer).await.unwrap());
    let check = oauth2_core::resource::ResourceServer::new("api");
    let show = |Authenticated(grant): Authenticated| async move {
        axum::Json(
            serde_json::json!({"sub": grant.subject, "client_id": grant.client_id, "scope": grant.scope.to_string(), "aud": &*grant.audience}),
        )
    };
    let app = Router::new()
        .route("/api/read", get(show))
        .route_layer(oauth2_axum::RequireScope::<ApiVerifier>::new(check.clone(), verifier.clone(), "read"))
        .merge(
            Router::new()
                .route("/api/profile", get(show))
                .route_layer(oauth2_axum::RequireScope::<ApiVerifier>::new(check, verifier, "profile")),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_passes_the_jwt_scenario_table() {
    let base = serve_with(oauth2_testkit::scenarios::jwt_fixture).await;
    let api = serve_api(&base).await;
    let report = oauth2_testkit::scenarios::run_jwt("axum", &base, &api).await;
    assert_eq!(report.failed(), 0, "{:#?}", report.results.iter().filter(|(_, e)| e.is_some()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_passes_the_provider_scenario_table() {
    let base = serve().await;
    let report = oauth2_testkit::scenarios::run("axum", &base).await;
    assert_eq!(report.failed(), 0, "{:#?}", report.results.iter().filter(|(_, e)| e.is_some()).collect::<Vec<_>>());
}

#[tokio::test]
async fn extractor_without_the_layer_is_a_programming_error_not_a_client_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/x", get(|Authenticated(_): Authenticated| async { "" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    assert_eq!(status_of_get(&format!("{base}/x")).await, 500);
}

/// RFC 9449 §4.3 item 9 behind `Router::nest`: the layer sees the path without its prefix, but the proof names the
/// URL the client called, prefix and all.
#[tokio::test]
async fn rfc9449_4_3_a_nested_resource_checks_the_whole_path_of_a_proof() {
    use oauth2_core::dpop::DpopKey;
    use oauth2_core::random::OsRng;
    use std::time::SystemTime;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = Provider::new(oauth2_testkit::scenarios::fixture(&base));
    let api = Router::new().route("/x", get(|Authenticated(_): Authenticated| async { "ok" }));
    let app = Router::new().merge(provider.router()).nest("/api", api.route_layer(provider.require_scope("read")));
    let key = DpopKey::generate(oauth2_core::jose::Algorithm::Es256, &mut OsRng).unwrap();
    let now = SystemTime::now();
    let (id, secret) = oauth2_testkit::scenarios::SVC;
    let request = http::Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("dpop", key.proof("POST", &format!("{base}/token"), None, None, now, &mut OsRng).unwrap())
        .body(format!("grant_type=client_credentials&scope=read&client_id={id}&client_secret={secret}").into_bytes())
        .unwrap();
    let answer = provider.server().token(request, now).await;
    let body: serde_json::Value = serde_json::from_slice(answer.body()).unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let call = |htu: String| {
        let proof = key.proof("GET", &htu, Some(&token), None, SystemTime::now(), &mut OsRng).unwrap();
        let headers = [("authorization", format!("DPoP {token}")), ("dpop", proof)];
        let url = format!("{base}/api/x");
        async move { status_of(&url, &headers).await }
    };
    assert_eq!(call(format!("{base}/x")).await, 401, "a proof for the path without the prefix");
    assert_eq!(call(format!("{base}/api/x")).await, 200, "a proof for the URL called");
}

/// The status of a plain HTTP/1.1 GET, with tokio only.
async fn status_of_get(url: &str) -> u16 {
    status_of(url, &[]).await
}

/// The status of a plain HTTP/1.1 GET with `headers`, with tokio only.
async fn status_of(url: &str, headers: &[(&str, String)]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let u = url::Url::parse(url).unwrap();
    let mut s = tokio::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).await.unwrap();
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    s.write_all(format!("GET {} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n", u.path()).as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}
