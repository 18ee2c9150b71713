//! Serving an app with the limits an internet-facing server needs, which `axum::serve` does not set: a time limit
//! on request headers (slow senders are dropped, idle keep-alive connections closed) and on stalled writes (a
//! client that stops reading), 32 KiB of headers at most, a cap on open connections in all and per client address
//! (so a flood of sockets cannot use up the process's file descriptors), the client's address for the
//! throttles, and a graceful shutdown that lets requests in flight finish. HTTP/1.1 (no upgrades) through hyper's
//! own server settings.
//!
//! ```no_run
//! # async fn run(app: axum::Router) -> std::io::Result<()> {
//! use oauth2_axum::serve::{Limits, serve};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! serve(listener, app, Limits::default(), shutdown).await
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The most header bytes a connection buffers.
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// Open connections per client address.
#[derive(Clone, Default)]
struct Seats(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One open connection of an address; dropping it frees the seat.
struct Seat(Seats, IpAddr);

impl Seats {
    fn take(&self, address: IpAddr, max: usize) -> Option<Seat> {
        let mut open = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(address).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Seat(self.clone(), address))
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut open = self.0.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// How long a client has to send a request's headers, from the moment the server waits for them: a request
    /// whose headers are not complete by then is dropped, and so is a keep-alive connection idle that long.
    /// Default 10 s.
    pub header_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog until one closes. Default 1024; keep it under
    /// the process's file descriptor limit.
    pub max_connections: usize,
    /// Connections one client address may have open at once (default 256): one host cannot take every slot.
    pub max_connections_per_address: usize,
    /// How long a write may stall (the client stopped reading) before the connection is dropped. Default 10 s.
    pub write_timeout: Duration,
    /// How long a graceful shutdown waits for requests in flight before it drops them. Default 30 s.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_address: 256,
            write_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Sets the header timeout.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Sets the connection cap.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets the cap on connections from one client address.
    pub fn max_connections_per_address(mut self, n: usize) -> Self {
        self.max_connections_per_address = n.max(1);
        self
    }
}

/// Serves `app` on `listener` with `limits` until `shutdown` completes, then stops accepting, lets the requests in
/// flight finish (at most [`Limits::drain_timeout`]), and returns. Handlers see the peer's address as
/// [`ConnectInfo<SocketAddr>`], which the provider's endpoints use for their throttles.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let seats = Seats::default();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a little instead of spinning; the slot is given back.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(seat) = seats.take(peer.ip(), limits.max_connections_per_address) else {
            tracing::debug!(peer = %peer.ip(), "too many connections from one address");
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            tower_service::Service::call(&mut app.clone(), request)
        });
        // A client that stops reading its answers must not hold the connection either.
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.write_timeout));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true)
            // Requests are small here: 32 KiB of headers at most, not hyper's 400 KiB.
            .max_buf_size(MAX_HEAD_BYTES)
            .max_headers(64);
        let connection = graceful.watch(http.serve_connection(TokioIo::new(Box::pin(stream)), service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop((permit, seat));
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after the drain timeout were dropped");
    }
    Ok(())
}
