//! One request's way through the fake, as a pipeline of named steps (the order Stripe applies):
//!
//! 1. [`read_request`]: the body (at most 1 MB) and the headers that matter;
//! 2. control routing: `/_fake/*` goes to the control API, never to Stripe's;
//! 3. [`take_strike`] / [`strike_before`]: an injected fault that stands for the network or Stripe
//!    failing answers now, before authentication (unless it strikes after success);
//! 4. under the store lock ([`answer_locked`]): [`authenticate`] → [`negotiate_version`] →
//!    [`parse_params`] → [`replay`] (idempotency) → [`dispatch_and_render`] → [`remember`] →
//!    [`record`] (request log);
//! 5. [`hand_off`]: the events emitted go to the webhook worker, clock advances to the runner;
//! 6. [`respond`], then [`strike_after`]: a "succeed, then fail" fault replaces the answer.
//!
//! The transport (`server`) only moves requests here and responses back.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::auth::authenticate;
use super::clock_runner;
use super::context::{Ctx, Followup};
use super::control;
use super::error::ApiError;
use super::fault::{FaultEffect, Strike, take_matching};
use super::idempotency::{StoredResponse, check_key};
use super::ids::new_id;
use super::params::Params;
use super::request_log::LoggedRequest;
use super::response::{HttpResponse, Reply, json_response, to_bytes};
use super::routes::dispatch;
use super::shared::Shared;
use super::store::Store;
use super::versions::{ApiVersion, SHAPES_HEADER, render};
use super::webhook_routes::Outgoing;
use crate::form;

/// Largest request body accepted; Stripe's own limit is of the same order.
const MAX_BODY: usize = 1 << 20;

/// The error that tells hyper to close the connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
pub struct DroppedConnection;

/// A request as the pipeline needs it.
pub struct ApiRequest {
    method: String,
    path: String,
    query: Bytes,
    body: Bytes,
    authorization: Option<String>,
    idempotency_key: Option<Arc<str>>,
    stripe_version: Option<String>,
    request_id: Arc<str>,
}

impl ApiRequest {
    /// The form the parameters came in: the body of a POST, else the query string.
    fn raw_params(&self) -> &[u8] {
        if self.method == "POST" && !self.body.is_empty() { &self.body } else { &self.query }
    }

    /// The idempotency key, on the requests Stripe honours it for (POST).
    fn key(&self) -> Option<&Arc<str>> {
        self.idempotency_key.as_ref().filter(|_| self.method == "POST")
    }
}

/// What answering under the lock produced.
struct Answer {
    status: u16,
    reply: Reply,
    version: ApiVersion,
    replayed: bool,
    events: Vec<Outgoing>,
    followups: Vec<Followup>,
}

/// Runs one request through every step.
pub async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<HttpResponse, DroppedConnection> {
    let request = match read_request(request).await {
        Ok(request) => request,
        Err(unreadable) => return Ok(unreadable),
    };
    if request.path == "/_fake" || request.path.starts_with("/_fake/") {
        return Ok(control::handle(&shared, &request.method, &request.path, &request.body).await);
    }
    let strike = take_strike(&shared, &request);
    if let Some(early) = strike_before(&shared, &request, strike.as_ref()).await {
        return early;
    }
    let answer = answer_locked(&mut shared.lock(), &request, strike.as_ref());
    let status = answer.status;
    let response = respond(&shared, &request, answer);
    strike_after(&request, strike, status, response).await
}

/// Step 1: reads the body and the headers the later steps use.
async fn read_request(request: Request<Incoming>) -> Result<ApiRequest, HttpResponse> {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(|q| Bytes::copy_from_slice(q.as_bytes())).unwrap_or_default();
    let (parts, body) = request.into_parts();
    let header = |name: &str| header(&parts.headers, name);
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let error = ApiError::InvalidRequest("The request body could not be read or is larger than 1 MB.".into());
            return Err(json_response(400, to_bytes(&error.body("")), "", &ApiVersion::LATEST));
        }
    };
    Ok(ApiRequest {
        idempotency_key: header("idempotency-key").filter(|k| !k.is_empty()).map(Arc::from),
        authorization: header("authorization"),
        // Lossy, so a Stripe-Version that is not text is refused as malformed instead of ignored.
        stripe_version: parts
            .headers
            .get("stripe-version")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .filter(|v| !v.trim().is_empty()),
        request_id: new_id("req").into(),
        method,
        path,
        query,
        body,
    })
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Step 3: takes one use of the first armed fault matching the request.
fn take_strike(shared: &Shared, request: &ApiRequest) -> Option<Strike> {
    if !shared.has_faults() {
        return None;
    }
    take_matching(&mut shared.lock().faults, &request.method, &request.path)
}

/// Step 3: a fault that strikes instead of the request. Latency delays and lets it through;
/// an error or a dropped connection is the whole answer (nothing is carried out).
async fn strike_before(
    shared: &Shared,
    request: &ApiRequest,
    strike: Option<&Strike>,
) -> Option<Result<HttpResponse, DroppedConnection>> {
    let strike = strike.filter(|s| !s.after_success)?;
    let log = |store: &mut Store, status: u16| {
        store.requests.push(log_entry(request, status, None, Some(strike)));
    };
    match &strike.effect {
        FaultEffect::Latency { millis } => {
            tokio::time::sleep(Duration::from_millis(*millis)).await;
            None
        }
        FaultEffect::DropConnection => {
            log(&mut shared.lock(), 0);
            Some(Err(DroppedConnection))
        }
        effect @ FaultEffect::Error { .. } => {
            let error = effect.to_error()?;
            let status = error.status();
            let version = {
                let mut store = shared.lock();
                log(&mut store, status);
                store.account_version.clone()
            };
            let body = to_bytes(&error.body(&request.request_id));
            Some(Ok(json_response(status, body, &request.request_id, &version)))
        }
    }
}

/// Step 4: everything that needs the store, under one lock.
fn answer_locked(store: &mut Store, request: &ApiRequest, strike: Option<&Strike>) -> Answer {
    let mut answer = Answer {
        status: 200,
        reply: Reply::Text(Bytes::new()),
        version: store.account_version.clone(),
        replayed: false,
        events: Vec::new(),
        followups: Vec::new(),
    };
    if let Err(error) = serve_api(store, request, &mut answer) {
        answer.status = error.status();
        answer.reply = Reply::Json(error.body(&request.request_id));
        answer.replayed = false;
    }
    let client_status = match strike.filter(|s| s.after_success).map(|s| &s.effect) {
        Some(FaultEffect::Error { status, .. }) => *status,
        Some(FaultEffect::DropConnection) => 0,
        _ => answer.status,
    };
    store.requests.push(log_entry(request, client_status, Some(answer.status), strike));
    answer.events = std::mem::take(&mut store.outbox);
    answer
}

fn serve_api(store: &mut Store, request: &ApiRequest, answer: &mut Answer) -> Result<(), ApiError> {
    authenticate(request.authorization.as_deref())?;
    answer.version = negotiate_version(store, request)?;
    if let Some(key) = request.key() {
        check_key(key)?;
    }
    let params = parse_params(request)?;
    if let Some((status, body)) = replay(store, request)? {
        (answer.status, answer.reply, answer.replayed) = (status, Reply::Text(body), true);
        return Ok(());
    }
    let (status, reply) = dispatch_and_render(store, request, params, answer);
    answer.status = status;
    answer.reply = match request.key() {
        Some(key) => Reply::Text(remember(store, request, key, status, reply)),
        None => reply,
    };
    Ok(())
}

/// The request's `Stripe-Version` (any well-formed one unless the fake is strict), or the
/// account's default.
fn negotiate_version(store: &mut Store, request: &ApiRequest) -> Result<ApiVersion, ApiError> {
    match &request.stripe_version {
        Some(name) => store.versions.resolve(name),
        None => Ok(store.account_version.clone()),
    }
}

/// The form body (POST) or query string (others) as a tree; a malformed one names the parameter.
fn parse_params(request: &ApiRequest) -> Result<Value, ApiError> {
    form::parse(request.raw_params()).map_err(|e| ApiError::param(e.param, e.message))
}

/// The remembered answer for a retry with the same `Idempotency-Key`.
fn replay(store: &Store, request: &ApiRequest) -> Result<Option<(u16, Bytes)>, ApiError> {
    let Some(key) = request.key() else { return Ok(None) };
    let Some(stored) = store.idempotency.get(key) else { return Ok(None) };
    let route = format!("{} {}", request.method, request.path);
    stored.replay_for(key, &route, request.raw_params()).map(Some)
}

/// Runs the handler and renders its answer for the request's API version.
fn dispatch_and_render(store: &mut Store, request: &ApiRequest, params: Value, answer: &mut Answer) -> (u16, Reply) {
    let mut ctx = Ctx {
        store,
        request_id: Some(request.request_id.clone()),
        idempotency_key: request.idempotency_key.clone(),
        followups: Vec::new(),
    };
    let result = guarded_dispatch(&mut ctx, &request.method, &request.path, Params::new(params));
    answer.followups = std::mem::take(&mut ctx.followups);
    match result {
        Ok(reply) if answer.version.needs_rendering() => {
            let mut value = match reply {
                Reply::Json(value) => value,
                Reply::Text(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            };
            render(&mut value, &answer.version, &|id| store.price(id));
            (200, Reply::Json(value))
        }
        Ok(reply) => (200, reply),
        Err(error) => (error.status(), Reply::Json(error.body(&request.request_id))),
    }
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

/// Stores the answer under the request's key when Stripe would (the endpoint ran: a success or a
/// card decline), while still under the lock, so a concurrent retry sees it. Returns the bytes.
fn remember(store: &mut Store, request: &ApiRequest, key: &Arc<str>, status: u16, reply: Reply) -> Bytes {
    let body = match reply {
        Reply::Json(value) => to_bytes(&value),
        Reply::Text(bytes) => bytes,
    };
    if status == 200 || status == 402 {
        let stored = StoredResponse {
            route: format!("{} {}", request.method, request.path).into(),
            params: request.raw_params().into(),
            status,
            body: body.clone(),
        };
        store.idempotency.insert(key.clone(), stored);
    }
    body
}

/// Step 4, last: the request log entry.
fn log_entry(request: &ApiRequest, status: u16, handled: Option<u16>, strike: Option<&Strike>) -> LoggedRequest {
    LoggedRequest {
        request_id: request.request_id.clone(),
        method: match request.method.as_str() {
            "GET" => Cow::Borrowed("GET"),
            "POST" => Cow::Borrowed("POST"),
            "DELETE" => Cow::Borrowed("DELETE"),
            other => Cow::Owned(other.to_string()),
        },
        path: request.path.as_str().into(),
        raw_params: request.raw_params().into(),
        idempotency_key: request.idempotency_key.clone(),
        status,
        handled_status: handled,
        fault: strike.map(|s| s.describe().into()),
    }
}

/// Step 5: events to the webhook worker, clock advances to the runner (after the lock is released).
fn hand_off(shared: &Arc<Shared>, events: Vec<Outgoing>, followups: Vec<Followup>) {
    if !events.is_empty() {
        shared.webhooks.enqueue(events);
    }
    for followup in followups {
        clock_runner::spawn(shared.clone(), followup);
    }
}

/// Step 6: the HTTP response (serialized outside the lock, which keeps the critical section short).
fn respond(shared: &Arc<Shared>, request: &ApiRequest, answer: Answer) -> HttpResponse {
    if shared.log_requests() {
        tracing::info!(method = %request.method, path = %request.path, status = answer.status, "stripe-fake request");
    }
    hand_off(shared, answer.events, answer.followups);
    let body = match answer.reply {
        Reply::Text(bytes) => bytes,
        Reply::Json(value) => to_bytes(&value),
    };
    let mut response = json_response(answer.status, body, &request.request_id, &answer.version);
    if let Some(key) = request.key() {
        if let Ok(value) = HeaderValue::from_str(key) {
            response.headers_mut().insert("idempotency-key", value);
        }
        if answer.replayed {
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
    }
    response
}

/// Step 6, last: a fault that strikes after success replaces (or delays) the answer; the
/// request was carried out and its idempotency result remembered.
async fn strike_after(
    request: &ApiRequest,
    strike: Option<Strike>,
    handled: u16,
    response: HttpResponse,
) -> Result<HttpResponse, DroppedConnection> {
    let Some(strike) = strike.filter(|s| s.after_success) else { return Ok(response) };
    match strike.effect {
        FaultEffect::DropConnection => Err(DroppedConnection),
        FaultEffect::Latency { millis } => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            Ok(response)
        }
        effect @ FaultEffect::Error { .. } => {
            let Some(error) = effect.to_error() else { return Ok(response) };
            tracing::debug!(handled, path = %request.path, "an after-success fault replaces the answer");
            let body = to_bytes(&error.body(&request.request_id));
            let mut replaced = json_response(error.status(), body, &request.request_id, &ApiVersion::LATEST);
            for name in ["stripe-version", SHAPES_HEADER] {
                if let Some(value) = response.headers().get(name) {
                    replaced.headers_mut().insert(name, value.clone());
                }
            }
            Ok(replaced)
        }
    }
}
