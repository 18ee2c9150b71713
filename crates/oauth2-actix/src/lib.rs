//! # oauth2-actix: an OAuth 2.0 provider and resource server on actix-web
//!
//! The protocol lives in `oauth2-core`; this crate converts between actix-web and `http` values and wires services.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use oauth2_actix::{Authenticated, Provider};
//! use oauth2_core::grant::GrantType;
//! use oauth2_core::server::{AuthorizationServer, MemoryStore, OsTokenGenerator, RegisteredClient, ServerConfig};
//!
//! # async fn run() -> std::io::Result<()> {
//! let store = MemoryStore::new();
//! // A backend service that gets tokens with client credentials and calls the API with them.
//! store.add_client(RegisteredClient::confidential("svc", "s3cret").grant_types([GrantType::ClientCredentials]).scopes("read"));
//! let provider = Provider::new(AuthorizationServer::new(ServerConfig::new("http://127.0.0.1:8080"), store, OsTokenGenerator));
//!
//! HttpServer::new(move || {
//!     App::new().configure(provider.configure()).service(
//!         web::resource("/api/me")
//!             .wrap(provider.require_scope("read"))
//!             .route(web::get().to(|Authenticated(grant): Authenticated| async move { web::Json(grant) })),
//!     )
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await
//! # }
//! ```
//!
//! - [`Provider::configure`]: every [`Endpoint`] of the server (token, revocation, introspection, metadata) at its
//!   configured path and method, all through one handler.
//! - [`Provider::authorization_request`], [`Provider::approve`], [`Provider::deny`]: the authorization endpoint,
//!   with login and consent left to the app. A refused request is an [`AuthorizeRejection`]: loggable, and a
//!   response.
//! - [`RequireScope`]: middleware that checks the Bearer token (RFC 6750) and the scope, with the provider
//!   ([`Provider::require_scope`]) or with any [`AccessTokenVerifier`]; [`Authenticated`] then yields the grant.
//! - [`to_http_request`] and [`into_response`]: the conversions, for an app's own pages.
//!
//! Bodies are read up to the configured limit; too large, unreadable or mistyped bodies are RFC 6749
//! `invalid_request`, never a 500.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use oauth2_core::resource::{AccessGrant, AccessTokenVerifier, Guard, Presented, ResourceServer};
use oauth2_core::server::{
    AuthorizationRequest, AuthorizationServer, AuthorizeError, ClientAddress, ClientId, Endpoint, Store,
};
use oauth2_core::{OAuthError, Scope};

/// Converts a core response into an actix one (actix-web 4 has its own `http` 0.2 types, so by name and bytes).
pub fn into_response(response: http::Response<Vec<u8>>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let status = actix_web::http::StatusCode::from_u16(parts.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        builder.append_header((name.as_str(), value.as_bytes()));
    }
    if let Some(client) = parts.extensions.get::<ClientId>() {
        builder.extensions_mut().insert(client.clone());
    }
    builder.body(body)
}

/// The `http::Request` the core takes, from an actix request and its body (method, URI and headers by name and
/// bytes, and the peer's address as a [`ClientAddress`]); `None` for a method or URI `http` cannot represent.
pub fn to_http_request<B>(request: &HttpRequest, body: B) -> Option<http::Request<B>> {
    let mut out = http::Request::new(body);
    if let Some(peer) = request.peer_addr() {
        out.extensions_mut().insert(ClientAddress(peer.ip()));
    }
    *out.method_mut() = http::Method::from_bytes(request.method().as_str().as_bytes()).ok()?;
    *out.uri_mut() = request.uri().to_string().parse().ok()?;
    for (name, value) in request.headers() {
        if let (Ok(n), Ok(v)) =
            (http::HeaderName::from_bytes(name.as_str().as_bytes()), http::HeaderValue::from_bytes(value.as_bytes()))
        {
            out.headers_mut().append(n, v);
        }
    }
    Some(out)
}

/// An authorization server mounted on actix-web. Cheap to clone.
#[derive(Debug)]
pub struct Provider<S> {
    server: Arc<AuthorizationServer<S>>,
}

impl<S> Clone for Provider<S> {
    fn clone(&self) -> Self {
        Self { server: self.server.clone() }
    }
}

impl<S: Store + 'static> Provider<S> {
    /// Wraps a configured server, owned or shared with the app (for its own pages, say).
    pub fn new(server: impl Into<Arc<AuthorizationServer<S>>>) -> Self {
        Self { server: server.into() }
    }

    /// The server (for the store, the configuration, or calls this crate does not wrap).
    pub fn server(&self) -> &Arc<AuthorizationServer<S>> {
        &self.server
    }

    /// Mounts every endpoint the server serves by itself: `App::new().configure(p.configure())`.
    pub fn configure(&self) -> impl FnOnce(&mut web::ServiceConfig) + Clone + 'static {
        let provider = self.clone();
        move |cfg: &mut web::ServiceConfig| {
            for (endpoint, method, path) in provider.server.endpoints() {
                let p = provider.clone();
                let method = actix_web::http::Method::from_bytes(method.as_str().as_bytes()).unwrap_or_default();
                cfg.route(
                    &path,
                    web::method(method).to(move |req: HttpRequest, body: web::Payload| {
                        let p = p.clone();
                        async move { p.serve(endpoint, req, body).await }
                    }),
                );
            }
        }
    }

    /// Reads the body (bounded in size and time by the configuration) and answers it as `endpoint`.
    async fn serve(&self, endpoint: Endpoint, request: HttpRequest, body: web::Payload) -> HttpResponse {
        let c = self.server.config();
        // A body declared over the limit is refused before any of it is waited for.
        let declared = request.headers().get(http::header::CONTENT_LENGTH.as_str()).and_then(|v| v.to_str().ok());
        let too_large = declared.and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > c.max_body_bytes as u64);
        let read = body.to_bytes_limited(c.max_body_bytes);
        let request = match too_large {
            true => None,
            false => match actix_web::rt::time::timeout(c.body_timeout, read).await {
                Ok(Ok(Ok(bytes))) => to_http_request(&request, bytes),
                _ => None,
            },
        };
        let Some(request) = request else {
            let refused = OAuthError::invalid_request("the request body is too large, slow or unreadable");
            return into_response(refused.into_response());
        };
        into_response(self.server.serve(endpoint, request, SystemTime::now()).await)
    }

    /// Validates the authorization request of `request` (its query string); a refusal is an
    /// [`AuthorizeRejection`] to log and send as is.
    pub async fn authorization_request(
        &self,
        request: &HttpRequest,
    ) -> Result<AuthorizationRequest, AuthorizeRejection> {
        self.server.authorization_request(request.query_string(), SystemTime::now()).await.map_err(AuthorizeRejection)
    }

    /// The user allowed: the redirect back to the client with the code (or token).
    pub async fn approve(&self, request: &AuthorizationRequest, subject: &str, granted: Option<Scope>) -> HttpResponse {
        match self.server.approve(request, subject, granted, SystemTime::now()).await {
            Ok(r) => into_response(r),
            Err(e) => into_response(e.into_response()),
        }
    }

    /// The user denied: the redirect back with `access_denied`.
    pub async fn deny(&self, request: &AuthorizationRequest) -> HttpResponse {
        into_response(self.server.deny(request).await)
    }

    /// Purges what expired from the store every `every`, forever: spawn it on the app's runtime
    /// (`actix_web::rt::spawn(provider.purge_every(..))`), or drive the store's [`Maintenance::purge`](oauth2_core::server::Maintenance::purge) yourself.
    pub fn purge_every(&self, every: Duration) -> impl Future<Output = ()> + use<S> {
        let server = self.server.clone();
        async move {
            loop {
                actix_web::rt::time::sleep(every).await;
                if let Err(e) = server.store().purge(SystemTime::now()).await {
                    tracing::warn!(error = %e, "purging expired codes and tokens failed");
                }
            }
        }
    }

    /// Middleware that lets a request through only with a valid Bearer token of this server carrying `scope`
    /// (empty for any valid token).
    pub fn require_scope(&self, scope: impl Into<Scope>) -> RequireScope<AuthorizationServer<S>> {
        RequireScope::new(self.server.resource_server(), self.server.clone(), scope)
    }
}

/// A refused authorization request: the core's [`AuthorizeError`] (its `Display` says why, for the app's log) and
/// the response to send (an error page, or the redirect back to the client).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct AuthorizeRejection(pub AuthorizeError);

impl AuthorizeRejection {
    /// The response to send.
    pub fn into_response(self) -> HttpResponse {
        into_response(self.0.into_response())
    }
}

/// So a handler can return `Result<_, actix_web::Error>` and use `?` on a refusal.
impl actix_web::ResponseError for AuthorizeRejection {
    fn error_response(&self) -> HttpResponse {
        into_response(self.0.clone().into_response())
    }
}

/// Middleware that checks the access token of every request with a verifier `V` and requires a scope: a Bearer
/// token (RFC 6750), or a DPoP-bound one with its proof (RFC 9449 §7) when the [`ResourceServer`] takes DPoP. It
/// answers 400/401/403 with the RFC 6750 or RFC 9449 challenge otherwise, and 503 when the verifier fails.
#[derive(Debug)]
pub struct RequireScope<V>(Guard<V>);

impl<V: AccessTokenVerifier> RequireScope<V> {
    /// Requires `scope` of tokens that `verifier` knows, with `check`'s realm in the challenges.
    pub fn new(check: ResourceServer, verifier: impl Into<Arc<V>>, scope: impl Into<Scope>) -> Self {
        Self(Guard::new(check, verifier, scope))
    }
}

impl<I, B, V> Transform<I, ServiceRequest> for RequireScope<V>
where
    I: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    V: AccessTokenVerifier + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Transform = RequireScopeService<I, V>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, inner: I) -> Self::Future {
        ready(Ok(RequireScopeService { guard: self.0.clone(), inner: Rc::new(inner) }))
    }
}

/// The service [`RequireScope`] wraps around a route.
#[derive(Debug)]
pub struct RequireScopeService<I, V> {
    guard: Guard<V>,
    inner: Rc<I>,
}

impl<I, B, V> Service<ServiceRequest> for RequireScopeService<I, V>
where
    I: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    V: AccessTokenVerifier + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(inner);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let (guard, inner) = (self.guard.clone(), self.inner.clone());
        Box::pin(async move {
            // Only the Authorization values go to the core: nothing else of the request is converted.
            let checked = {
                let headers = request.headers();
                let presented = Presented::new(
                    request.method().as_str(),
                    request.path(),
                    headers.get_all(actix_web::http::header::AUTHORIZATION).map(|v| v.as_bytes()),
                    headers.get_all("dpop").map(|v| v.as_bytes()),
                );
                guard.check_presented(&presented, SystemTime::now()).await
            };
            match checked {
                Ok(grant) => {
                    request.extensions_mut().insert(grant);
                    Ok(inner.call(request).await?.map_into_boxed_body())
                }
                Err(e) => Ok(ServiceResponse::new(request.into_parts().0, into_response(e.into_response()))),
            }
        })
    }
}

/// The grant of a request that passed a [`RequireScope`] middleware: subject, client and scope.
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessGrant);

impl FromRequest for Authenticated {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<AccessGrant>().cloned().map(Authenticated).ok_or_else(|| {
            // A route using the extractor without the middleware is a programming error, not the client's.
            actix_web::error::ErrorInternalServerError("this route is not protected by RequireScope")
        }))
    }
}
