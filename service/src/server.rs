//! The HTTP server: accepts connections on the listener and serves the router on each, with
//! the limits a public service needs against slow or hostile clients.
//!
//! - **Header read timeout** (`HEADER_READ_TIMEOUT_MS`): a client that trickles its request
//!   headers, or keeps an idle connection open without sending the next request, is cut off.
//! - **Body read timeout** (`BODY_READ_TIMEOUT_MS`): applied where a body is read
//!   ([`crate::request::read_body`]): 408.
//! - **Request timeout** (`REQUEST_TIMEOUT_MS`): a request that takes longer is answered 503,
//!   saying the outcome may still complete (work that moves money runs on tasks of its own and
//!   is not cut short; see [`crate::billing::charges`]).
//! - The client's address is put into each request ([`axum::extract::ConnectInfo`]) for the
//!   per-IP signup limit.
//!
//! axum's own `serve` sets none of the timeouts, hence this loop (hyper's HTTP/1 connection
//! builder with tokio's timer, and hyper-util's graceful shutdown).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::app::AppState;
use crate::error::ApiError;

/// Timeouts of the connections a server accepts.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    /// How long a graceful shutdown waits for requests in flight before closing anyway.
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and lets the
/// requests in flight finish (within the grace period).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = tower::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or breaks the protocol is its own problem.
            let _ = connection.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?limits.shutdown_grace, "requests still in flight at the end of the shutdown grace period: closing");
    }
    Ok(())
}

/// Middleware: a request that takes longer than `REQUEST_TIMEOUT_MS` is answered 503.
pub async fn request_timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = Duration::from_millis(state.config.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Busy {
            message: format!(
                "the request did not finish within {} ms (REQUEST_TIMEOUT_MS); it may still complete: retry with the same Idempotency-Key to get its result safely",
                limit.as_millis()
            ),
            retry_after_secs: 1,
        }
        .into_response(),
    }
}

/// The peer address of a request, when it came through [`serve`].
pub fn peer_of(request_extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    request_extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| *addr)
}
