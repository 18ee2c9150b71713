//! # oauth2-actix: an OAuth 2.0 provider and resource server on actix-web
//!
//! The protocol lives in `oauth2-core`; this crate converts between actix-web and `http` values and wires services.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use oauth2_actix::{Authenticated, Provider};
//! use oauth2_core::server::{AuthorizationServer, MemoryStore, OsTokenGenerator, RegisteredClient, ServerConfig};
//!
//! # async fn run() -> std::io::Result<()> {
//! let store = MemoryStore::new();
//! store.add_client(RegisteredClient::confidential("svc", "s3cret").scopes("read"));
//! let provider = Provider::new(AuthorizationServer::new(ServerConfig::new("https://as.example"), store, OsTokenGenerator));
//!
//! HttpServer::new(move || {
//!     App::new().configure(provider.configure()).service(
//!         web::resource("/api/me")
//!             .wrap(provider.require_scope("read"))
//!             .route(web::get().to(|Authenticated(grant): Authenticated| async move { format!("{:?}", grant.subject) })),
//!     )
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await
//! # }
//! ```
//!
//! - [`Provider::configure`]: `POST` token, revocation and introspection services and
//!   `GET /.well-known/oauth-authorization-server`, at the paths of the server's configuration.
//! - [`Provider::authorization_request`], [`Provider::approve`], [`Provider::deny`]: the authorization endpoint,
//!   with login and consent left to the app.
//! - [`Provider::require_scope`]: middleware that checks the Bearer token (RFC 6750) and the scope;
//!   [`Authenticated`] then yields the grant in handlers.
//!
//! Bodies are read up to the configured limit; too large, unreadable or mistyped bodies are RFC 6749
//! `invalid_request`, never a 500.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use oauth2_core::Scope;
use oauth2_core::server::{
    AccessGrant, AuthorizationRequest, AuthorizationServer, ClientStore, GrantStore, OAuthError,
};

/// Converts a core response into an actix one (actix-web 4 has its own `http` 0.2 types, so by name and bytes).
pub fn into_response(response: http::Response<Vec<u8>>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let status = actix_web::http::StatusCode::from_u16(parts.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        builder.append_header((name.as_str(), value.as_bytes()));
    }
    builder.body(body)
}

/// The request's headers as an `http::HeaderMap`.
fn headers_of(request: &HttpRequest) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in request.headers() {
        if let (Ok(n), Ok(v)) =
            (http::HeaderName::from_bytes(name.as_str().as_bytes()), http::HeaderValue::from_bytes(value.as_bytes()))
        {
            map.append(n, v);
        }
    }
    map
}

/// Reads the body (bounded) and rebuilds the request as the `http::Request<Vec<u8>>` the core takes.
async fn buffered(
    request: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<http::Request<Vec<u8>>, HttpResponse> {
    let too_large =
        || into_response(OAuthError::invalid_request("the request body is too large or unreadable").into_response());
    let body = match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => bytes.to_vec(),
        _ => return Err(too_large()),
    };
    let mut out = http::Request::new(body);
    *out.method_mut() = http::Method::from_bytes(request.method().as_str().as_bytes()).map_err(|_| too_large())?;
    *out.uri_mut() = request.uri().to_string().parse().map_err(|_| too_large())?;
    *out.headers_mut() = headers_of(request);
    Ok(out)
}

/// An authorization server mounted on actix-web. Cheap to clone.
pub struct Provider<S> {
    server: Arc<AuthorizationServer<S>>,
}

impl<S> Clone for Provider<S> {
    fn clone(&self) -> Self {
        Self { server: self.server.clone() }
    }
}

impl<S: ClientStore + GrantStore + 'static> Provider<S> {
    /// Wraps a configured server.
    pub fn new(server: AuthorizationServer<S>) -> Self {
        Self { server: Arc::new(server) }
    }

    /// Wraps a server that the app shares (for its own pages, say).
    pub fn from_shared(server: Arc<AuthorizationServer<S>>) -> Self {
        Self { server }
    }

    /// The server (for the store, the configuration, or calls this crate does not wrap).
    pub fn server(&self) -> &Arc<AuthorizationServer<S>> {
        &self.server
    }

    /// Mounts the token, revocation, introspection and metadata services: `App::new().configure(p.configure())`.
    pub fn configure(&self) -> impl FnOnce(&mut web::ServiceConfig) + Clone + 'static {
        let provider = self.clone();
        move |cfg: &mut web::ServiceConfig| {
            let c = provider.server.config().clone();
            let limit = c.max_body_bytes;
            let (token, revoke, introspect, metadata) =
                (provider.clone(), provider.clone(), provider.clone(), provider.clone());
            cfg.route(
                &c.token_path,
                web::post().to(move |req: HttpRequest, body: web::Payload| {
                    let p = token.clone();
                    async move {
                        match buffered(&req, body, limit).await {
                            Ok(r) => into_response(p.server.token(r, SystemTime::now()).await),
                            Err(resp) => resp,
                        }
                    }
                }),
            )
            .route(
                &c.revocation_path,
                web::post().to(move |req: HttpRequest, body: web::Payload| {
                    let p = revoke.clone();
                    async move {
                        match buffered(&req, body, limit).await {
                            Ok(r) => into_response(p.server.revoke(r).await),
                            Err(resp) => resp,
                        }
                    }
                }),
            )
            .route(
                &c.introspection_path,
                web::post().to(move |req: HttpRequest, body: web::Payload| {
                    let p = introspect.clone();
                    async move {
                        match buffered(&req, body, limit).await {
                            Ok(r) => into_response(p.server.introspect(r, SystemTime::now()).await),
                            Err(resp) => resp,
                        }
                    }
                }),
            )
            .route(
                &c.metadata_path(),
                web::get().to(move || {
                    let p = metadata.clone();
                    async move { into_response(p.server.metadata_response()) }
                }),
            );
        }
    }

    /// Validates the authorization request of `request` (its query string). `Err` is the response to send as is.
    pub async fn authorization_request(&self, request: &HttpRequest) -> Result<AuthorizationRequest, HttpResponse> {
        self.server.authorization_request(request.query_string()).await.map_err(|e| into_response(e.into_response()))
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

    /// Middleware that lets a request through only with a valid Bearer token carrying `scope` (empty for any
    /// valid token); it answers 400/401/403 with the RFC 6750 challenge otherwise.
    pub fn require_scope(&self, scope: impl Into<Scope>) -> RequireScope<S> {
        RequireScope { server: self.server.clone(), scope: Arc::new(scope.into()) }
    }
}

/// The middleware of [`Provider::require_scope`].
pub struct RequireScope<S> {
    server: Arc<AuthorizationServer<S>>,
    scope: Arc<Scope>,
}

impl<S> Clone for RequireScope<S> {
    fn clone(&self) -> Self {
        Self { server: self.server.clone(), scope: self.scope.clone() }
    }
}

impl<S> std::fmt::Debug for RequireScope<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireScope").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl<I, B, S> Transform<I, ServiceRequest> for RequireScope<S>
where
    I: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: ClientStore + GrantStore + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Transform = RequireScopeService<I, S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, inner: I) -> Self::Future {
        ready(Ok(RequireScopeService { layer: self.clone(), inner: Rc::new(inner) }))
    }
}

/// The service [`RequireScope`] wraps around a route.
pub struct RequireScopeService<I, S> {
    layer: RequireScope<S>,
    inner: Rc<I>,
}

impl<I, B, S> Service<ServiceRequest> for RequireScopeService<I, S>
where
    I: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: ClientStore + GrantStore + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(inner);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let layer = self.layer.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            // Only the Authorization values go to the core: nothing else of the request is converted.
            let values = request.headers().get_all(actix_web::http::header::AUTHORIZATION).map(|v| v.as_bytes());
            match layer.server.authenticate_authorization(values, &layer.scope, SystemTime::now()).await {
                Ok(grant) => {
                    request.extensions_mut().insert(grant);
                    Ok(inner.call(request).await?.map_into_boxed_body())
                }
                Err(e) => {
                    let (req, _) = request.into_parts();
                    Ok(ServiceResponse::new(req, into_response(e.into_response())))
                }
            }
        })
    }
}

/// The grant of a request that passed [`Provider::require_scope`]: subject, client and scope.
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessGrant);

impl FromRequest for Authenticated {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<AccessGrant>().cloned().map(Authenticated).ok_or_else(|| {
            // A route using the extractor without the middleware is a programming error, not the client's.
            actix_web::error::ErrorInternalServerError("this route is not protected by Provider::require_scope")
        }))
    }
}
