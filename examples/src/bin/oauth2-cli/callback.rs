//! The loopback redirect listener of `authorize` (RFC 8252 §7.3).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::any;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// What a callback handler decided, and the page to show the browser.
pub(crate) struct Outcome<T> {
    pub(crate) result: T,
    pub(crate) ok: bool,
    pub(crate) message: String,
}

/// A boxed future, so the handler can be stored.
pub(crate) type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

type Handler<T> = Arc<dyn Fn(String) -> BoxFuture<Outcome<T>> + Send + Sync>;

struct Shared<T> {
    handler: Handler<T>,
    /// Taken by the first callback: its result goes here.
    done: Mutex<Option<oneshot::Sender<T>>>,
    /// Fired when the first callback arrives, so the wait for the browser can end before the exchange does.
    arrived: Mutex<Option<oneshot::Sender<()>>>,
}

/// Why no callback result came back.
#[derive(Debug)]
pub(crate) enum WaitError {
    /// No request to `/callback` within the wait.
    Timeout,
    /// The listener stopped before a callback was handled.
    Stopped,
}

/// How long the listener may take to stop once the result is in: a browser that keeps a connection open (or a
/// client that sends half a request) must not hold up the token, which is already redeemed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serves `listener` until the first request to `/callback` (any method; only its query string is read) has been
/// handled by `handler` (given the raw query string); returns its result. Other paths get 404; later callbacks get
/// 404 too.
///
/// Every wait is bounded: `timeout` for the browser to come back; once it has, the handler runs to its end in its
/// own task (a browser that hangs up cannot cancel a code exchange half-way, and the handler's own HTTP calls have
/// timeouts), and the listener gets [`SHUTDOWN_GRACE`] to stop before it is dropped. A result that was produced is
/// always returned.
pub(crate) async fn wait_for_callback<T: Send + 'static>(
    listener: TcpListener,
    timeout: Duration,
    handler: impl Fn(String) -> BoxFuture<Outcome<T>> + Send + Sync + 'static,
) -> Result<T, WaitError> {
    let (tx, rx) = oneshot::channel();
    let (arrived_tx, arrived_rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        handler: Arc::new(handler),
        done: Mutex::new(Some(tx)),
        arrived: Mutex::new(Some(arrived_tx)),
    });
    let app = Router::new().route("/callback", any(callback::<T>)).with_state(shared);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let mut server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
    });
    let result = match tokio::time::timeout(timeout, arrived_rx).await {
        Ok(Ok(())) => rx.await.map_err(|_| WaitError::Stopped),
        Ok(Err(_)) => Err(WaitError::Stopped),
        Err(_) => Err(WaitError::Timeout),
    };
    let _ = stop_tx.send(());
    if tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await.is_err() {
        server.abort();
    }
    result
}

async fn callback<T: Send + 'static>(State(shared): State<Arc<Shared<T>>>, RawQuery(query): RawQuery) -> Response {
    let Some(tx) = shared.done.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    if let Some(arrived) = shared.arrived.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
        let _ = arrived.send(());
    }
    let handler = shared.handler.clone();
    // Its own task: if the browser hangs up, this handler's future is dropped, but the exchange goes on and its
    // result still reaches the waiting CLI.
    let exchange = tokio::spawn(async move {
        let outcome = handler(query.unwrap_or_default()).await;
        let (ok, message) = (outcome.ok, outcome.message);
        let _ = tx.send(outcome.result);
        (ok, message)
    });
    let (ok, message) = exchange.await.unwrap_or((false, "the code exchange failed".to_owned()));
    let (title, color) = if ok { ("Authorized", "#1a7f37") } else { ("Authorization failed", "#cf222e") };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto\">\
         <h1 style=\"color:{color}\">{title}</h1><p>{}</p><p>You can close this tab and return to the terminal.</p>\
         </body></html>",
        oauth2_core::html::escape(&message)
    );
    ([(header::CONNECTION, "close"), (header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}
