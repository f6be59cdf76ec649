//! What every request goes through besides its handler, in two places:
//!
//! - **per route** ([`RouteLayer`], applied to every route and fallback of the router): an
//!   invalid `Idempotency-Key` refused before the handler runs, the request timeout
//!   (`REQUEST_TIMEOUT_MS`: 503 saying the outcome may still complete), a panic turned into a
//!   JSON 500, and the request counted and timed by its route template (the route is only known
//!   inside the router);
//! - **per request, around the router** ([`Edge`]): the body limit (`MAX_BODY_BYTES`, which a
//!   route may raise), every error answer made JSON ([`crate::error::errors_are_json`]), and
//!   `Connection: close` on the answer to a request whose body was not read to its end.
//!
//! Both are written as plain tower services rather than `axum::middleware::from_fn`: each
//! `from_fn` layer boxes the rest of the stack and clones the application state for every
//! request, and eight of them (with the state's clones) cost a quarter of the ceiling and more
//! (issue 16; the profile and the figures are in `service/bench/README.md`). Here the layers
//! allocate nothing but the flag of a request that has a body, and arm a timer only when a
//! handler has to wait.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service, ServiceExt};

use crate::error::{ApiError, errors_are_json};
use crate::idempotency::ClientKey;
use crate::metrics::Metrics;

/// The layer every route and fallback gets: see the module documentation.
#[derive(Clone)]
pub struct RouteLayer {
    metrics: Arc<Metrics>,
    timeout: Duration,
}

impl RouteLayer {
    /// Requests time out after `timeout`, and are counted in `metrics`.
    pub fn new(metrics: Arc<Metrics>, timeout: Duration) -> RouteLayer {
        RouteLayer { metrics, timeout }
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = RouteService<S>;

    fn layer(&self, inner: S) -> RouteService<S> {
        RouteService { inner, metrics: self.metrics.clone(), timeout: self.timeout }
    }
}

/// One route with the per-route protections ([`RouteLayer`]).
#[derive(Clone)]
pub struct RouteService<S> {
    inner: S,
    metrics: Arc<Metrics>,
    timeout: Duration,
}

impl<S> Service<Request> for RouteService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> RouteFuture<S::Future> {
        let started = Instant::now();
        let method = crate::metrics::method_label(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        // Refused on every route, before any handler runs, so no route silently ignores a key
        // its client relies on.
        let (handler, refused) = match ClientKey::from_headers(request.headers()) {
            Ok(_) => (Some(tokio::time::timeout(self.timeout, self.inner.call(request))), None),
            Err(error) => (None, Some(error.into_response())),
        };
        RouteFuture {
            handler,
            refused,
            request: Some(RequestFacts { started, method, route, metrics: self.metrics.clone() }),
            timeout: self.timeout,
        }
    }
}

/// What the metrics need to know of a request once it is answered.
struct RequestFacts {
    started: Instant,
    method: &'static str,
    route: Option<MatchedPath>,
    metrics: Arc<Metrics>,
}

pin_project! {
    /// The answer of one route: the handler's, within the timeout, or the refusal.
    pub struct RouteFuture<F> {
        #[pin]
        handler: Option<tokio::time::Timeout<F>>,
        refused: Option<Response>,
        request: Option<RequestFacts>,
        timeout: Duration,
    }
}

impl<F> Future for RouteFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.handler.as_pin_mut() {
            None => this
                .refused
                .take()
                .unwrap_or_else(|| ApiError::Internal("polled after it answered".into()).into_response()),
            Some(handler) => match catch_unwind(AssertUnwindSafe(|| handler.poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Ok(Ok(response)))) => response,
                Ok(Poll::Ready(Ok(Err(never)))) => match never {},
                Ok(Poll::Ready(Err(_elapsed))) => timed_out(*this.timeout),
                // The handler is not polled again: the answer is ready.
                Err(_panic) => ApiError::Internal("a handler panicked".into()).into_response(),
            },
        };
        if let Some(facts) = this.request.take() {
            facts.metrics.http_request(facts.method, facts.route.as_ref(), response.status(), facts.started.elapsed());
        }
        Poll::Ready(Ok(response))
    }
}

fn timed_out(limit: Duration) -> Response {
    ApiError::Busy {
        message: format!(
            "the request did not finish within {} ms (REQUEST_TIMEOUT_MS); it may still complete: retry with the same Idempotency-Key to get its result safely",
            limit.as_millis()
        ),
        retry_after_secs: 1,
    }
    .into_response()
}

/// The router with what goes around it for every request: see the module documentation.
#[derive(Clone)]
pub struct Edge {
    router: <DefaultBodyLimit as Layer<Router>>::Service,
}

impl Edge {
    /// `router` (with [`RouteLayer`] on its routes), with bodies limited to `body_limit` bytes
    /// where a route does not say otherwise.
    pub fn new(router: Router, body_limit: usize) -> Edge {
        Edge { router: DefaultBodyLimit::max(body_limit).layer(router) }
    }

    /// Answers one request.
    pub async fn handle(self, request: Request) -> Response {
        let (request, body_finished) = track_body(request);
        let response = match self.router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let mut response = errors_are_json(response).await;
        if body_finished.is_some_and(|finished| !finished.load(Ordering::Relaxed)) {
            // The server cannot read the next request on this connection (the rest of this
            // body is in the way), so it closes it after the answer (lingering, see
            // `crate::http::server`). Saying so keeps the client from putting the connection back in
            // its pool and sending its next request into a closing socket.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// The request with its body tracked, and the flag that says whether it was read to its end;
/// `None` for a request without a body (a GET, `Content-Length: 0`), which has nothing to leave
/// unread.
fn track_body(request: Request) -> (Request, Option<Arc<AtomicBool>>) {
    if hyper::body::Body::is_end_stream(request.body()) {
        return (request, None);
    }
    let (parts, body) = request.into_parts();
    let finished = Arc::new(AtomicBool::new(false));
    let body = TrackedBody { inner: body, finished: finished.clone() };
    (Request::from_parts(parts, Body::new(body)), Some(finished))
}

/// A request body that records when it has been read to its end.
struct TrackedBody {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if frame.is_none() || hyper::body::Body::is_end_stream(&self.inner) {
            self.finished.store(true, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        let ended = hyper::body::Body::is_end_stream(&self.inner);
        if ended {
            self.finished.store(true, Ordering::Relaxed);
        }
        ended
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::{get, post};
    use serde_json::Value;

    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(50);

    /// A router with the per-route layer, around a few handlers that misbehave on purpose.
    fn edge(metrics: &Arc<Metrics>) -> Edge {
        let router = Router::new()
            .route("/ok/{id}", get(|| async { "ok" }))
            .route("/slow", get(std::future::pending::<&'static str>))
            .route("/panics", get(panics))
            .route("/reads", post(|body: Bytes| async move { body.len().to_string() }))
            .route("/ignores", post(|| async { "not read" }))
            .layer(RouteLayer::new(metrics.clone(), TIMEOUT));
        Edge::new(router, 1024)
    }

    async fn panics() -> &'static str {
        panic!("a handler bug")
    }

    fn request(method: &str, path: &str, body: Body) -> Request {
        Request::builder().method(method).uri(path).body(body).unwrap()
    }

    /// The answer, which must come within a few seconds (the handlers under test never answer).
    async fn answer_within_seconds(answer: impl Future<Output = Response>) -> Response {
        tokio::time::timeout(Duration::from_secs(5), answer).await.expect("no answer within 5 s")
    }

    async fn json(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap_or_else(|err| panic!("not JSON ({err}): {bytes:?}"))
    }

    /// Every request-counting series, as `/metrics` shows it.
    fn counted(metrics: &Metrics) -> Vec<String> {
        metrics
            .encode()
            .lines()
            .filter(|line| line.starts_with("billing_http_requests_total{"))
            .map(String::from)
            .collect()
    }

    #[tokio::test]
    async fn a_handler_slower_than_the_timeout_is_answered_503_and_counted_by_its_route() {
        let metrics = Arc::new(Metrics::new());
        let response = answer_within_seconds(edge(&metrics).handle(request("GET", "/slow", Body::empty()))).await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let body = json(response).await;
        assert_eq!(body["error"]["code"], "busy");
        assert!(body["error"]["message"].as_str().unwrap().contains("REQUEST_TIMEOUT_MS"), "{body}");
        assert_eq!(counted(&metrics), [r#"billing_http_requests_total{method="GET",route="/slow",status="503"} 1"#]);
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_json_500_and_the_service_goes_on() {
        let metrics = Arc::new(Metrics::new());
        let edge = edge(&metrics);
        let response = edge.clone().handle(request("GET", "/panics", Body::empty())).await;
        assert_eq!(response.status(), 500);
        assert_eq!(json(response).await["error"]["code"], "internal_error");
        let response = edge.handle(request("GET", "/ok/1", Body::empty())).await;
        assert_eq!(response.status(), 200);
        let series = counted(&metrics);
        assert!(series.contains(&r#"billing_http_requests_total{method="GET",route="/panics",status="500"} 1"#.into()));
    }

    #[tokio::test]
    async fn an_invalid_idempotency_key_is_refused_before_the_handler_runs() {
        let metrics = Arc::new(Metrics::new());
        let mut refused = request("GET", "/slow", Body::empty());
        refused.headers_mut().insert("idempotency-key", HeaderValue::from_static("has spaces in it"));
        // The handler never answers: only a refusal before it ran comes back at once.
        let response = answer_within_seconds(edge(&metrics).handle(refused)).await;
        assert_eq!(response.status(), 400);
        assert_eq!(json(response).await["error"]["code"], "invalid_idempotency_key");
        assert_eq!(counted(&metrics), [r#"billing_http_requests_total{method="GET",route="/slow",status="400"} 1"#]);
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_an_unknown_path_as_unmatched() {
        let metrics = Arc::new(Metrics::new());
        let edge = edge(&metrics);
        for path in ["/ok/1", "/ok/2", "/nowhere"] {
            edge.clone().handle(request("GET", path, Body::empty())).await;
        }
        let mut series = counted(&metrics);
        series.sort();
        assert_eq!(
            series,
            [
                r#"billing_http_requests_total{method="GET",route="/ok/{id}",status="200"} 2"#,
                r#"billing_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
            ]
        );
        let text = metrics.encode();
        assert!(text.contains(r#"billing_http_request_duration_seconds_count{route="/ok/{id}"} 2"#), "{text}");
    }

    #[tokio::test]
    async fn an_answer_before_the_body_was_read_says_connection_close() {
        let metrics = Arc::new(Metrics::new());
        let edge = edge(&metrics);
        let ignored = edge.clone().handle(request("POST", "/ignores", Body::from("a body nobody reads"))).await;
        assert_eq!(ignored.status(), 200);
        assert_eq!(ignored.headers()[header::CONNECTION], "close");
        let read = edge.clone().handle(request("POST", "/reads", Body::from("a body read to its end"))).await;
        assert_eq!(read.status(), 200);
        assert!(read.headers().get(header::CONNECTION).is_none());
        let without_body = edge.handle(request("POST", "/ignores", Body::empty())).await;
        assert!(without_body.headers().get(header::CONNECTION).is_none());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_a_json_413_and_the_connection_closes() {
        let metrics = Arc::new(Metrics::new());
        // Four chunks of 1,000 bytes: the limit (1,024) is passed at the second, with two unread.
        let chunks = (0..4).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b'x'; 1000])));
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let response = edge(&metrics).handle(request("POST", "/reads", body)).await;
        assert_eq!(response.status(), 413);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert_eq!(json(response).await["error"]["code"], "payload_too_large");
    }
}
