//! # oauth2-axum: an OAuth 2.0 provider and resource server on axum
//!
//! The protocol lives in `oauth2-core`; this crate converts between axum and `http` values and wires routes.
//!
//! ```no_run
//! use axum::{Json, Router, routing::get};
//! use oauth2_axum::{Authenticated, Provider};
//! use oauth2_core::grant::GrantType;
//! use oauth2_core::server::{AuthorizationServer, MemoryStore, OsTokenGenerator, RegisteredClient, ServerConfig};
//!
//! # async fn run() -> std::io::Result<()> {
//! let store = MemoryStore::new();
//! // A backend service that gets tokens with client credentials and calls the API with them.
//! store.add_client(RegisteredClient::confidential("svc", "s3cret").grant_types([GrantType::ClientCredentials]).scopes("read"));
//! let provider = Provider::new(AuthorizationServer::new(ServerConfig::new("http://127.0.0.1:8080"), store, OsTokenGenerator));
//!
//! let api = Router::new()
//!     .route("/api/me", get(|Authenticated(grant): Authenticated| async move { Json(grant) }))
//!     .route_layer(provider.require_scope("read"));
//! let app: Router = Router::new().merge(provider.router()).merge(api);
//! // The app adds its own GET /authorize: provider.authorization_request(..), its login and consent pages,
//! // then provider.approve(..) or provider.deny(..).
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! oauth2_axum::serve::serve(listener, app, oauth2_axum::serve::Limits::default(), shutdown).await
//! # }
//! ```
//!
//! - [`Provider::router`]: every [`Endpoint`] of the server (token, revocation, introspection, metadata) at its
//!   configured path and method, all through one handler.
//! - [`Provider::authorization_request`], [`Provider::approve`], [`Provider::deny`]: the authorization endpoint,
//!   with login and consent left to the app. A refused request is an [`AuthorizeRejection`]: loggable, and a
//!   response.
//! - [`RequireScope`]: a tower layer that checks the Bearer token (RFC 6750) and the scope, with the provider
//!   ([`Provider::require_scope`]) or with any [`AccessTokenVerifier`] (an API that only validates tokens);
//!   [`Authenticated`] then yields the grant in handlers.
//!
//! The throttles of the token endpoint count per client address, which [`serve::serve`] provides (as
//! [`ConnectInfo`]). Behind a reverse proxy every request comes from the proxy: put the client's address, as your
//! proxy reports it, into the request's extensions as a [`ClientAddress`] in a layer of your own.
//!
//! Request bodies are read up to the configured limit; a body that is too large, unreadable or of the wrong type is
//! an RFC 6749 `invalid_request`, never a 500. The rest of a body over the limit is read and dropped (up to
//! [`DRAIN_BYTES`], within the body's time limit) before the answer, so that the client, still sending, can read it:
//! hyper closes a connection whose body was left unread, and a close with unread bytes resets the connection and
//! destroys the answer in flight (RFC 9112 §9.6). actix-web drains by itself.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod serve;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use oauth2_core::resource::{AccessGrant, AccessTokenVerifier, Guard, Presented, ResourceServer};
use oauth2_core::server::{AuthorizationRequest, AuthorizationServer, AuthorizeError, ClientAddress, Endpoint, Store};
use oauth2_core::{OAuthError, Scope};

/// Converts a core response into an axum one.
pub fn into_response(response: http::Response<Vec<u8>>) -> Response {
    response.map(Body::from)
}

/// How much of a body over the limit is read and dropped, so that the answer reaches the client (see the crate
/// docs); a larger one is answered at once and its connection closed. Bytes only: nothing is kept.
pub const DRAIN_BYTES: usize = 4 << 20;

/// Reads a request's body, at most `limit` bytes within `timeout`, into the `http::Request` the core takes (a body
/// that arrives in one piece is not copied), with the peer's address (from [`ConnectInfo`]) as a [`ClientAddress`].
/// A body over `limit` is refused with `invalid_request` once it is drained (see [`DRAIN_BYTES`]).
pub async fn buffered(
    request: Request,
    limit: usize,
    timeout: Duration,
) -> Result<http::Request<axum::body::Bytes>, Response> {
    let (mut parts, body) = request.into_parts();
    if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied() {
        parts.extensions.insert(ClientAddress(peer.ip()));
    }
    let declared = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let hopeless = declared.is_some_and(|n| n > (limit + DRAIN_BYTES) as u64);
    let read = async {
        if hopeless {
            return Err(ReadError);
        }
        read_bounded(body, limit).await
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(bytes)) => Ok(http::Request::from_parts(parts, bytes)),
        _ => Err(into_response(
            OAuthError::invalid_request("the request body is too large, slow or unreadable").into_response(),
        )),
    }
}

/// A body that is over its limit or unreadable.
struct ReadError;

/// The body if it has at most `limit` bytes; past `limit`, reads on and drops up to [`DRAIN_BYTES`] more.
async fn read_bounded(body: Body, limit: usize) -> Result<axum::body::Bytes, ReadError> {
    use http_body_util::BodyExt;
    let mut body = std::pin::pin!(body);
    let mut pieces: Vec<axum::body::Bytes> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| ReadError)?.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            pieces.push(data);
        } else if seen > limit + DRAIN_BYTES {
            return Err(ReadError);
        } else {
            pieces.clear();
        }
    }
    match pieces.len() {
        _ if seen > limit => Err(ReadError),
        0 => Ok(axum::body::Bytes::new()),
        1 => Ok(pieces.swap_remove(0)),
        _ => Ok(pieces.concat().into()),
    }
}

/// An authorization server mounted on axum. Cheap to clone.
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

    /// Every endpoint the server serves by itself, at its path and method, ready to merge into the app's router.
    pub fn router<T: Clone + Send + Sync + 'static>(&self) -> Router<T> {
        self.server.endpoints().fold(Router::new(), |router, (endpoint, method, path)| {
            let provider = self.clone();
            let handler = move |request: Request| async move { provider.serve(endpoint, request).await };
            let filter = axum::routing::MethodFilter::try_from(method).unwrap_or(axum::routing::MethodFilter::POST);
            router.route(&path, axum::routing::on(filter, handler))
        })
    }

    async fn serve(&self, endpoint: Endpoint, request: Request) -> Response {
        let config = self.server.config();
        match buffered(request, config.max_body_bytes, config.body_timeout).await {
            Ok(request) => into_response(self.server.serve(endpoint, request, SystemTime::now()).await),
            Err(response) => response,
        }
    }

    /// Validates an authorization request from the raw query string; a refusal is an [`AuthorizeRejection`] to
    /// log and send as is.
    pub async fn authorization_request(&self, query: Option<&str>) -> Result<AuthorizationRequest, AuthorizeRejection> {
        self.server.authorization_request(query.unwrap_or(""), SystemTime::now()).await.map_err(AuthorizeRejection)
    }

    /// The user allowed: the redirect back to the client with the code (or token).
    pub async fn approve(&self, request: &AuthorizationRequest, subject: &str, granted: Option<Scope>) -> Response {
        match self.server.approve(request, subject, granted, SystemTime::now()).await {
            Ok(r) => into_response(r),
            Err(e) => AuthorizeRejection(e).into_response(),
        }
    }

    /// The user denied: the redirect back with `access_denied`.
    pub async fn deny(&self, request: &AuthorizationRequest) -> Response {
        into_response(self.server.deny(request).await)
    }

    /// Purges what expired from the store every `every`, forever: `tokio::spawn(provider.purge_every(..))`, or
    /// drive the store's [`Maintenance::purge`](oauth2_core::server::Maintenance::purge) yourself.
    pub fn purge_every(&self, every: Duration) -> impl Future<Output = ()> + Send + use<S> {
        let server = self.server.clone();
        async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = server.store().purge(SystemTime::now()).await {
                    tracing::warn!(error = %e, "purging expired codes and tokens failed");
                }
            }
        }
    }

    /// A layer that lets a request through only with a valid Bearer token of this server carrying `scope` (empty for
    /// any valid token).
    pub fn require_scope(&self, scope: impl Into<Scope>) -> RequireScope<AuthorizationServer<S>> {
        RequireScope::new(self.server.resource_server(), self.server.clone(), scope)
    }
}

/// A refused authorization request: the core's [`AuthorizeError`] (its `Display` says why, for the app's log) and
/// the response to send (an error page, or the redirect back to the client).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct AuthorizeRejection(pub AuthorizeError);

impl IntoResponse for AuthorizeRejection {
    fn into_response(self) -> Response {
        into_response(self.0.into_response())
    }
}

/// A tower layer that checks the access token of every request with a verifier `V` and requires a scope: a Bearer
/// token (RFC 6750), or a DPoP-bound one with its proof (RFC 9449 §7) when the [`ResourceServer`] takes DPoP. It
/// answers 400/401/403 with the RFC 6750 or RFC 9449 challenge otherwise, and 503 when the verifier fails.
#[derive(Debug)]
pub struct RequireScope<V>(Guard<V>);

impl<V> Clone for RequireScope<V> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<V: AccessTokenVerifier> RequireScope<V> {
    /// Requires `scope` of tokens that `verifier` knows, with `check`'s realm in the challenges.
    pub fn new(check: ResourceServer, verifier: impl Into<Arc<V>>, scope: impl Into<Scope>) -> Self {
        Self(Guard::new(check, verifier, scope))
    }
}

impl<I, V> tower_layer::Layer<I> for RequireScope<V> {
    type Service = RequireScopeService<I, V>;

    fn layer(&self, inner: I) -> Self::Service {
        RequireScopeService { guard: self.0.clone(), inner }
    }
}

/// The service [`RequireScope`] wraps around a route.
#[derive(Debug)]
pub struct RequireScopeService<I, V> {
    guard: Guard<V>,
    inner: I,
}

impl<I: Clone, V> Clone for RequireScopeService<I, V> {
    fn clone(&self) -> Self {
        Self { guard: self.guard.clone(), inner: self.inner.clone() }
    }
}

impl<I, V> tower_service::Service<Request> for RequireScopeService<I, V>
where
    I: tower_service::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    I::Future: Send,
    V: AccessTokenVerifier + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let (guard, clone) = (self.guard.clone(), self.inner.clone());
        // The clone that was polled ready is the one to call.
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let checked = {
                // Inside `Router::nest` the URI has lost its prefix; proofs name the whole path (RFC 9449 §4.3).
                let uri = match request.extensions().get::<axum::extract::OriginalUri>() {
                    Some(original) => &original.0,
                    None => request.uri(),
                };
                let presented = Presented::from_http(request.method(), uri, request.headers());
                guard.check_presented(&presented, SystemTime::now()).await
            };
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

/// The grant of a request that passed a [`RequireScope`] layer: subject, client and scope.
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessGrant);

impl<T: Send + Sync> FromRequestParts<T> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &T) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<AccessGrant>().cloned().map(Authenticated).ok_or_else(|| {
            // A route using the extractor without the layer is a programming error, not the client's.
            (http::StatusCode::INTERNAL_SERVER_ERROR, "this route is not protected by RequireScope").into_response()
        })
    }
}

/// The README's examples (client and provider), compiled and run as doc tests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
