//! The transport of the Stripe fake: accepts connections (hyper, HTTP/1.1) and moves each request
//! to the `pipeline`, and its response back. Nothing here knows about Stripe.
//!
//! hyper is used directly (rather than through axum) because one fault must close the socket
//! without any response, which only a connection-level service can do: returning `Err` from the
//! service makes hyper drop the connection.

use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::pipeline::{DroppedConnection, handle};
use super::response::HttpResponse;
use super::shared::Shared;

/// Serves until the task is aborted; aborting also ends every open connection.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| handle_to_the_end(shared.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Like real Stripe, a request whose client gave up (a timeout during an injected latency, or an
/// answer held back after success) is still carried out: while faults are armed, each request
/// runs in a task of its own, which the connection closing does not cancel. Without faults (the
/// benchmark path) it runs inline.
async fn handle_to_the_end(shared: Arc<Shared>, request: Request<Incoming>) -> Result<HttpResponse, DroppedConnection> {
    if !shared.has_faults() {
        return handle(shared, request).await;
    }
    match tokio::spawn(handle(shared, request)).await {
        Ok(answer) => answer,
        // The task panicked or the runtime is shutting down: close without an answer.
        Err(_) => Err(DroppedConnection),
    }
}
