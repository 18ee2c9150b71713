//! # oauth2-axum: an OAuth 2.0 provider and resource server on axum
//!
//! The protocol lives in `oauth2-core`; this crate converts between axum and `http` values and wires routes.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use oauth2_axum::{Authenticated, Provider};
//! use oauth2_core::server::{AuthorizationServer, MemoryStore, OsTokenGenerator, RegisteredClient, ServerConfig};
//!
//! # async fn run() {
//! let store = MemoryStore::new();
//! store.add_client(RegisteredClient::confidential("svc", "s3cret").scopes("read"));
//! let provider = Provider::new(AuthorizationServer::new(ServerConfig::new("https://as.example"), store, OsTokenGenerator));
//!
//! let api = Router::new()
//!     .route("/api/me", get(|Authenticated(grant): Authenticated| async move { format!("{:?}", grant.subject) }))
//!     .route_layer(provider.require_scope("read"));
//! let app: Router = Router::new().merge(provider.router()).merge(api);
//! // The app adds its own GET /authorize: provider.authorization_request(..), its login and consent pages,
//! // then provider.approve(..) or provider.deny(..).
//! # let _ = app; }
//! ```
//!
//! - [`Provider::router`]: `POST` token, revocation and introspection endpoints and
//!   `GET /.well-known/oauth-authorization-server`, at the paths of the server's configuration.
//! - [`Provider::authorization_request`], [`Provider::approve`], [`Provider::deny`]: the authorization endpoint,
//!   with login and consent left to the app.
//! - [`Provider::require_scope`]: a tower layer that checks the Bearer token (RFC 6750) and the scope;
//!   [`Authenticated`] then yields the grant in handlers.
//!
//! Request bodies are read up to the configured limit; a body that is too large, unreadable or of the wrong type is
//! an RFC 6749 `invalid_request`, never a 500.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::request::Parts;
use oauth2_core::Scope;
use oauth2_core::server::{
    AccessGrant, AuthorizationRequest, AuthorizationServer, ClientStore, GrantStore, OAuthError,
};

/// Converts a core response into an axum one.
pub fn into_response(response: http::Response<Vec<u8>>) -> Response {
    response.map(Body::from)
}

/// Reads a request's body (bounded) into the `http::Request` the core takes (the bytes are not copied).
async fn buffered(request: Request, limit: usize) -> Result<http::Request<axum::body::Bytes>, Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(http::Request::from_parts(parts, bytes)),
        Err(_) => Err(into_response(
            OAuthError::invalid_request("the request body is too large or unreadable").into_response(),
        )),
    }
}

/// An authorization server mounted on axum. Cheap to clone.
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

    /// The token, revocation, introspection and metadata routes, ready to merge into the app's router.
    pub fn router<T: Clone + Send + Sync + 'static>(&self) -> Router<T> {
        let c = self.server.config();
        let limit = c.max_body_bytes;
        let (token, revoke, introspect) = (self.clone(), self.clone(), self.clone());
        let metadata = self.clone();
        Router::new()
            .route(
                &c.token_path,
                post(move |req: Request| async move {
                    match buffered(req, limit).await {
                        Ok(req) => into_response(token.server.token(req, SystemTime::now()).await),
                        Err(resp) => resp,
                    }
                }),
            )
            .route(
                &c.revocation_path,
                post(move |req: Request| async move {
                    match buffered(req, limit).await {
                        Ok(req) => into_response(revoke.server.revoke(req).await),
                        Err(resp) => resp,
                    }
                }),
            )
            .route(
                &c.introspection_path,
                post(move |req: Request| async move {
                    match buffered(req, limit).await {
                        Ok(req) => into_response(introspect.server.introspect(req, SystemTime::now()).await),
                        Err(resp) => resp,
                    }
                }),
            )
            .route(&c.metadata_path(), get(move || async move { into_response(metadata.server.metadata_response()) }))
    }

    /// Validates an authorization request from the raw query string. `Err` is the response to send as is: an
    /// error page (no redirect) or the redirect back to the client with the error.
    pub async fn authorization_request(&self, query: Option<&str>) -> Result<AuthorizationRequest, Response> {
        self.server.authorization_request(query.unwrap_or("")).await.map_err(|e| into_response(e.into_response()))
    }

    /// The user allowed: the redirect back to the client with the code (or token).
    pub async fn approve(&self, request: &AuthorizationRequest, subject: &str, granted: Option<Scope>) -> Response {
        match self.server.approve(request, subject, granted, SystemTime::now()).await {
            Ok(r) => into_response(r),
            Err(e) => into_response(e.into_response()),
        }
    }

    /// The user denied: the redirect back with `access_denied`.
    pub async fn deny(&self, request: &AuthorizationRequest) -> Response {
        into_response(self.server.deny(request).await)
    }

    /// A layer that lets a request through only with a valid Bearer token carrying `scope` (empty for any valid
    /// token); it answers 400/401/403 with the RFC 6750 challenge otherwise.
    pub fn require_scope(&self, scope: impl Into<Scope>) -> RequireScope<S> {
        RequireScope { server: self.server.clone(), scope: Arc::new(scope.into()) }
    }
}

/// The tower layer of [`Provider::require_scope`].
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

impl<I, S> tower_layer::Layer<I> for RequireScope<S> {
    type Service = RequireScopeService<I, S>;

    fn layer(&self, inner: I) -> Self::Service {
        RequireScopeService { layer: self.clone(), inner }
    }
}

/// The service [`RequireScope`] wraps around a route.
pub struct RequireScopeService<I, S> {
    layer: RequireScope<S>,
    inner: I,
}

impl<I: Clone, S> Clone for RequireScopeService<I, S> {
    fn clone(&self) -> Self {
        Self { layer: self.layer.clone(), inner: self.inner.clone() }
    }
}

impl<I, S> std::fmt::Debug for RequireScopeService<I, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireScopeService").field("layer", &self.layer).finish_non_exhaustive()
    }
}

impl<I, S> tower_service::Service<Request> for RequireScopeService<I, S>
where
    I: tower_service::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    I::Future: Send,
    S: ClientStore + GrantStore + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let layer = self.layer.clone();
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let checked = layer.server.authenticate_bearer(request.headers(), &layer.scope, SystemTime::now()).await;
            match checked {
                Ok(grant) => {
                    request.extensions_mut().insert(grant);
                    inner.call(request).await
                }
                Err(e) => Ok(into_response(e.into_response())),
            }
        })
    }
}

/// The grant of a request that passed [`Provider::require_scope`]: subject, client and scope.
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessGrant);

impl<T: Send + Sync> FromRequestParts<T> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &T) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<AccessGrant>().cloned().map(Authenticated).ok_or_else(|| {
            // A route using the extractor without the layer is a programming error, not the client's.
            (http::StatusCode::INTERNAL_SERVER_ERROR, "this route is not protected by Provider::require_scope")
                .into_response()
        })
    }
}

/// The README's examples (client and provider), compiled and run as doc tests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
