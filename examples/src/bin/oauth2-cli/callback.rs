//! The loopback redirect listener of `authorize` (RFC 8252 §7.3).

use std::sync::{Arc, Mutex};

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
    done: Mutex<Option<oneshot::Sender<T>>>,
}

/// Serves `listener` until the first request to `/callback` (any method; only its query string is read) has been handled by `handler` (given the raw query
/// string); returns its result. Other paths get 404; later callbacks get 404 too.
pub(crate) async fn wait_for_callback<T: Send + 'static>(
    listener: TcpListener,
    handler: impl Fn(String) -> BoxFuture<Outcome<T>> + Send + Sync + 'static,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    let shared = Arc::new(Shared { handler: Arc::new(handler), done: Mutex::new(Some(tx)) });
    let app = Router::new().route("/callback", any(callback::<T>)).with_state(shared);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
    });
    let result = rx.await.ok();
    let _ = stop_tx.send(());
    let _ = server.await;
    result
}

async fn callback<T: Send + 'static>(State(shared): State<Arc<Shared<T>>>, RawQuery(query): RawQuery) -> Response {
    let Some(tx) = shared.done.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    let outcome = (shared.handler)(query.unwrap_or_default()).await;
    let (title, color) = if outcome.ok { ("Authorized", "#1a7f37") } else { ("Authorization failed", "#cf222e") };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto\">\
         <h1 style=\"color:{color}\">{title}</h1><p>{}</p><p>You can close this tab and return to the terminal.</p>\
         </body></html>",
        html_escape(&outcome.message)
    );
    let _ = tx.send(outcome.result);
    ([(header::CONNECTION, "close"), (header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
