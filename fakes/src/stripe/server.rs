//! The HTTP front of the Stripe fake: accepts connections (hyper, HTTP/1.1), and runs each
//! request through the same pipeline Stripe applies: injected faults, authentication, the
//! form parser, idempotency, the route table, the request log, then webhook hand-off.
//!
//! hyper is used directly (rather than through axum) because one fault must close the socket
//! without any response, which only a connection-level service can do: returning `Err` from the
//! service makes hyper drop the connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::auth::authenticate;
use super::context::{API_VERSION, Ctx};
use super::error::ApiError;
use super::fault::{FaultEffect, take_matching};
use super::idempotency::StoredResponse;
use super::ids::new_id;
use super::params::Params;
use super::reply::Reply;
use super::request_log::RecordedRequest;
use super::routes::dispatch;
use super::shared::Shared;
use super::{clock_runner, control};
use crate::form;

/// Largest request body accepted; Stripe's own limit is of the same order.
const MAX_BODY: usize = 1 << 20;

/// The error that tells hyper to close the connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
pub struct DroppedConnection;

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

/// A response with a body and Stripe's usual headers.
pub fn json_response(status: u16, body: Bytes, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("stripe-version", HeaderValue::from_static(API_VERSION));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("request-id", value);
    }
    response
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Like real Stripe, a request whose client gave up (a timeout during an injected latency) is
/// still carried out: while faults are armed, each request runs in a task of its own, which
/// the connection closing does not cancel. Without faults (the benchmark path) it runs inline.
async fn handle_to_the_end(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DroppedConnection> {
    if !shared.has_faults() {
        return handle(shared, request).await;
    }
    match tokio::spawn(handle(shared, request)).await {
        Ok(answer) => answer,
        // The task panicked or the runtime is shutting down: close without an answer.
        Err(_) => Err(DroppedConnection),
    }
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, DroppedConnection> {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(|q| Bytes::copy_from_slice(q.as_bytes())).unwrap_or_default();
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let error = ApiError::InvalidRequest("The request body could not be read or is larger than 1 MB.".into());
            return Ok(json_response(400, to_bytes(&error.body("")), ""));
        }
    };

    if path.starts_with("/_fake/") || path == "/_fake" {
        return Ok(control::handle(&shared, &method, &path, &query, &body).await);
    }

    let request_id = new_id("req");
    let idempotency_key = header(&parts.headers, "idempotency-key").filter(|k| !k.is_empty());
    let raw = if method == "POST" && !body.is_empty() { &body } else { &query };
    let parsed = form::parse(raw);
    let logged_params = parsed.clone().unwrap_or(Value::Null);

    let fault = if shared.has_faults() { take_matching(&mut shared.lock().faults, &method, &path) } else { None };
    match fault {
        Some(FaultEffect::Latency { millis }) => tokio::time::sleep(Duration::from_millis(millis)).await,
        Some(FaultEffect::DropConnection) => {
            shared.record(RecordedRequest { method, path, params: logged_params, idempotency_key, status: 0 });
            return Err(DroppedConnection);
        }
        Some(effect) => {
            if let Some(error) = effect.to_error() {
                let status = error.status();
                shared.record(RecordedRequest { method, path, params: logged_params, idempotency_key, status });
                return Ok(json_response(status, to_bytes(&error.body(&request_id)), &request_id));
            }
        }
        None => {}
    }

    let authorization = header(&parts.headers, "authorization");
    let (status, reply, replayed, events, followups) = {
        let mut store = shared.lock();
        let mut replayed = false;
        let mut followups = Vec::new();
        let outcome: Result<(u16, Reply), ApiError> = authenticate(authorization.as_deref())
            .and_then(|()| parsed.map_err(|e| ApiError::param(e.param, e.message)))
            .and_then(|params| {
                let key = idempotency_key.as_ref().filter(|_| method == "POST");
                let route = key.map(|_| format!("{method} {path}")).unwrap_or_default();
                if let Some(key) = key
                    && let Some(stored) = store.idempotency.get(key)
                {
                    replayed = true;
                    return stored.replay_for(key, &route, &params).map(|(s, b)| (s, Reply::Text(b)));
                }
                let mut ctx = Ctx {
                    store: &mut store,
                    request_id: request_id.clone(),
                    idempotency_key: idempotency_key.clone(),
                    followups: Vec::new(),
                };
                let (result, params) = match key {
                    Some(_) => (guarded_dispatch(&mut ctx, &method, &path, Params::new(params.clone())), params),
                    None => (guarded_dispatch(&mut ctx, &method, &path, Params::new(params)), Value::Null),
                };
                followups = std::mem::take(&mut ctx.followups);
                let (status, reply) = match result {
                    Ok(reply) => (200, reply),
                    Err(error) => (error.status(), Reply::Json(error.body(&request_id))),
                };
                match key {
                    // Stripe saves a result only once the endpoint ran: successes and card
                    // declines, not validation errors. Stored under the lock, so a concurrent
                    // retry with the same key sees it.
                    Some(key) if status == 200 || status == 402 => {
                        let body = match reply {
                            Reply::Json(value) => to_bytes(&value),
                            Reply::Text(bytes) => bytes,
                        };
                        store
                            .idempotency
                            .insert(key.clone(), StoredResponse { route, params, status, body: body.clone() });
                        Ok((status, Reply::Text(body)))
                    }
                    _ => Ok((status, reply)),
                }
            });
        let (status, reply) = match outcome {
            Ok(answer) => answer,
            Err(error) => {
                replayed = false;
                (error.status(), Reply::Json(error.body(&request_id)))
            }
        };
        store.requests.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            params: logged_params,
            idempotency_key: idempotency_key.clone(),
            status,
        });
        let events = std::mem::take(&mut store.outbox);
        (status, reply, replayed, events, followups)
    };
    // Serializing outside the lock keeps the critical section short.
    let bytes = match reply {
        Reply::Text(bytes) => bytes,
        Reply::Json(value) => to_bytes(&value),
    };

    if shared.log_requests() {
        tracing::info!(%method, %path, status, "stripe-fake request");
    }
    if !events.is_empty() {
        shared.webhooks.enqueue(events);
    }
    for followup in followups {
        clock_runner::spawn(shared.clone(), followup);
    }

    let mut response = json_response(status, bytes, &request_id);
    if let Some(key) = &idempotency_key {
        if let Ok(value) = HeaderValue::from_str(key) {
            response.headers_mut().insert("idempotency-key", value);
        }
        if replayed {
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
    }
    Ok(response)
}

/// Runs the handler; a bug that panics becomes a Stripe-shaped 500 naming the request instead of
/// a dropped connection (handlers are written not to panic; this is the net under them).
fn guarded_dispatch(ctx: &mut Ctx<'_>, method: &str, path: &str, params: Params) -> Result<Reply, ApiError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(ctx, method, path, params))).unwrap_or_else(
        |_| {
            Err(ApiError::Injected {
                status: 500,
                kind: "api_error".into(),
                code: None,
                message: format!("The Stripe fake hit a bug answering {method} {path}; please report it."),
            })
        },
    )
}

/// Serializes a JSON value; serde_json cannot fail on `Value`.
pub fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
