//! The HTTP server: accepts connections on the listener and serves [`Edge`] (the router with
//! what goes around it) on each, with the limits a public service needs against slow or hostile
//! clients.
//!
//! - **Header read timeout** (`HEADER_READ_TIMEOUT_MS`): a client that trickles its request
//!   headers, or keeps an idle connection open without sending the next request, is cut off.
//! - **Body read timeout** (`BODY_READ_TIMEOUT_MS`): applied where a body is read
//!   ([`crate::http::request::read_body`]): 408.
//! - **Request timeout** (`REQUEST_TIMEOUT_MS`): a request that takes longer is answered 503,
//!   saying the outcome may still complete (work that moves money runs on tasks of its own and
//!   is not cut short; see [`crate::billing::charges`]); [`crate::http::edge::RouteLayer`].
//! - The client's address is put into each request ([`axum::extract::ConnectInfo`]) for the
//!   per-IP signup limit.
//! - **Lingering close** ([`LingeringClose`]): a request refused before its body was read (over
//!   the size limit, without a valid key) gets its answer with `Connection: close`
//!   ([`crate::http::edge::Edge`]), not a reset connection.
//!
//! axum's own `serve` sets none of the timeouts, hence this loop (hyper's HTTP/1 connection
//! builder with tokio's timer, and hyper-util's graceful shutdown).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::http::edge::Edge;

/// Timeouts of the connections a server accepts.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    /// How long a graceful shutdown waits for requests in flight before closing anyway.
    pub shutdown_grace: Duration,
}

/// Serves `edge` on `listener` until `shutdown` completes, then stops accepting and lets the
/// requests in flight finish (within the grace period).
pub async fn serve(
    listener: TcpListener,
    edge: Edge,
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
        let edge = edge.clone();
        let service = tower::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let answer = edge.clone().handle(request.map(axum::body::Body::new));
            async move { Ok::<_, Infallible>(answer.await) }
        });
        let connection =
            builder.serve_connection(TokioIo::new(LingeringClose::new(stream)), TowerToHyperService::new(service));
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

/// How long a closing connection keeps reading what the client is still sending.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much a closing connection reads and discards at the most.
const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// A connection that, when the server closes it, first sends its FIN, then reads and discards
/// what the client is still sending — until the client closes too, [`LINGER_BYTES`] were
/// discarded or [`LINGER_TIME`] passed — and only then lets go of the socket ("lingering
/// close", as nginx does it).
///
/// Without it, a request refused before its body was read (413 over the size limit, 401
/// without a key) is answered and the connection closed with the rest of the body unread in
/// the socket; the kernel then resets the connection, and the client, still writing its body,
/// sees "broken pipe" or "connection reset" instead of the answer. Both bounds keep an
/// unending sender from holding a closing connection.
struct LingeringClose {
    stream: TcpStream,
    linger: Option<Linger>,
    /// An answer hyper wrote itself, being sent in its JSON form (see `poll_write_json`).
    rewritten: Option<Rewritten>,
}

/// What hyper asked to write, and the bytes sent instead.
struct Rewritten {
    bytes: Vec<u8>,
    sent: usize,
    /// How many bytes hyper is told were written, once all of `bytes` are.
    asked: usize,
}

impl LingeringClose {
    /// The answers hyper writes itself for requests it cannot parse (400, 414, 431) are bare
    /// heads with an empty body; [`crate::error::json_for_unparsed_request`] gives them the JSON
    /// error shape every other answer has. Only a write that is exactly such a head is touched
    /// (any other write costs a check of its first bytes).
    fn poll_write_json(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.rewritten.is_none()
            && buf.starts_with(b"HTTP/1.1 4")
            && let Some(bytes) = crate::error::json_for_unparsed_request(buf)
        {
            this.rewritten = Some(Rewritten { bytes, sent: 0, asked: buf.len() });
        }
        let Some(rewritten) = this.rewritten.as_mut() else {
            return Pin::new(&mut this.stream).poll_write(cx, buf);
        };
        while rewritten.sent < rewritten.bytes.len() {
            let sent = ready!(Pin::new(&mut this.stream).poll_write(cx, &rewritten.bytes[rewritten.sent..]))?;
            if sent == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            rewritten.sent += sent;
        }
        let asked = rewritten.asked;
        this.rewritten = None;
        Poll::Ready(Ok(asked))
    }
}

struct Linger {
    deadline: Pin<Box<tokio::time::Sleep>>,
    write_closed: bool,
    discarded: usize,
}

impl LingeringClose {
    fn new(stream: TcpStream) -> LingeringClose {
        LingeringClose { stream, linger: None, rewritten: None }
    }
}

impl AsyncRead for LingeringClose {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LingeringClose {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_json(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // A bare head is one buffer; an answer with a body is never rewritten.
        let mut written = bufs.iter().filter(|buf| !buf.is_empty());
        if let (Some(only), None) = (written.next(), written.next())
            && only.starts_with(b"HTTP/1.1 4")
        {
            return self.poll_write_json(cx, only);
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let LingeringClose { stream, linger, .. } = self.get_mut();
        let linger = linger.get_or_insert_with(|| Linger {
            deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
            write_closed: false,
            discarded: 0,
        });
        if !linger.write_closed {
            // The answer is out; the client reads it, then the end of the stream.
            if ready!(Pin::new(&mut *stream).poll_shutdown(cx)).is_err() {
                return Poll::Ready(Ok(()));
            }
            linger.write_closed = true;
        }
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if linger.discarded >= LINGER_BYTES || linger.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut *stream).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => linger.discarded += buf.filled().len(),
                // The client closed its side too, or went away: done.
                _ => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// The peer address of a request, when it came through [`serve`].
pub fn peer_of(request_extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    request_extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| *addr)
}
