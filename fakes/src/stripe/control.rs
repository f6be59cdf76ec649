//! The control API under `/_fake/...`: the Rust methods of `StripeFake`, over HTTP, for the
//! standalone binary (e2e runs against a deployed service, other languages). Real Stripe never
//! serves these paths, so no client can hit them by accident. No authentication.
//!
//! | request | effect |
//! | --- | --- |
//! | `POST /_fake/reset` | forget everything (settings stay) |
//! | `POST /_fake/faults` | inject a fault (JSON, see [`FaultRequest`]) |
//! | `GET /_fake/requests` | request log |
//! | `GET /_fake/events` | every event retained |
//! | `GET /_fake/deliveries` | webhook delivery attempts |
//! | `GET /_fake/stats` | objects per kind; retained and dropped events, requests, keys, deliveries |
//! | `POST /_fake/settings` | delivery switches, retry policy, request logging, `retain`, invoice retries |
//! | `POST /_fake/webhook_endpoints` | `{"url", "secret"?}` → `{id, secret, url}` |
//! | `GET /_fake/objects/{id}` | any stored object |
//! | `POST /_fake/wait_for_deliveries` | `{"timeout_ms"}`: 200 once no delivery is pending, else 504 |

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::domain::webhook_endpoints::{NewEndpoint, register};
use super::fault::{Fault, FaultEffect};
use super::invoice_retries::{AfterFinalRetry, InvoiceRetries};
use super::response::{HttpResponse, json_response, to_bytes};
use super::shared::Shared;
use super::stats::stats;
use super::versions::ApiVersion;
use super::webhooks::RetryPolicy;

/// A fault as JSON: `{"method": "POST", "path": "/v1/customers", "times": 1, "status": 500}`;
/// or with `"error_type"`/`"code"`, `"latency_ms"`, or `"drop_connection": true`; with
/// `"after_success": true` the request is carried out first and only its answer fails.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    method: String,
    path: String,
    times: Option<u32>,
    status: Option<u16>,
    error_type: Option<String>,
    code: Option<String>,
    latency_ms: Option<u64>,
    #[serde(default)]
    drop_connection: bool,
    #[serde(default)]
    after_success: bool,
}

impl FaultRequest {
    fn into_fault(self) -> Fault {
        let mut fault = Fault::on(&self.method, &self.path).times(self.times.unwrap_or(1));
        if self.after_success {
            fault = fault.after_success();
        }
        if self.drop_connection {
            return fault.drop_connection();
        }
        if let Some(millis) = self.latency_ms {
            return fault.latency(Duration::from_millis(millis));
        }
        fault.effect = FaultEffect::Error {
            status: self.status.unwrap_or(500),
            error_type: self.error_type.unwrap_or_else(|| "api_error".into()),
            code: self.code,
        };
        fault
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsRequest {
    duplicate_deliveries: Option<bool>,
    shuffle_deliveries: Option<bool>,
    retry_backoff_ms: Option<u64>,
    max_attempts: Option<u32>,
    delivery_timeout_ms: Option<u64>,
    log_requests: Option<bool>,
    /// Refuse `Stripe-Version`s the fake does not know instead of answering them.
    strict_api_versions: Option<bool>,
    /// Keep at most this many events, requests, idempotency results and deliveries; `0` keeps all.
    retain: Option<usize>,
    /// Days after the previous attempt at which a failed subscription invoice is tried again.
    invoice_retry_days: Option<Vec<u32>>,
    /// `unpaid`, `canceled` or `past_due`: the subscription after the last try failed.
    after_final_retry: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitRequest {
    timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointRequest {
    url: String,
    secret: Option<String>,
    api_version: Option<String>,
}

fn answer(status: u16, value: Value) -> HttpResponse {
    json_response(status, to_bytes(&value), "", &ApiVersion::LATEST)
}

fn bad_request(message: String) -> HttpResponse {
    answer(400, json!({ "error": { "type": "invalid_request_error", "message": message } }))
}

/// Parses a JSON body (empty counts as `{}`) and answers with `then`, or says what is wrong with it.
fn with_json<'a, T: Deserialize<'a>>(body: &'a [u8], then: impl FnOnce(T) -> HttpResponse) -> HttpResponse {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    match serde_json::from_slice(body) {
        Ok(request) => then(request),
        Err(error) => bad_request(format!("Invalid JSON body: {error}")),
    }
}

/// Answers one control request.
pub async fn handle(shared: &Shared, method: &str, path: &str, body: &[u8]) -> HttpResponse {
    match (method, path.trim_end_matches('/')) {
        ("POST", "/_fake/reset") => {
            shared.reset();
            answer(200, json!({ "reset": true }))
        }
        ("POST", "/_fake/faults") => with_json(body, |request: FaultRequest| {
            let fault = request.into_fault();
            let echo = serde_json::to_value(&fault).unwrap_or_default();
            shared.lock().faults.push(fault);
            shared.arm_faults(true);
            answer(200, echo)
        }),
        ("GET", "/_fake/requests") => answer(200, json!(shared.lock().requests.to_vec())),
        ("GET", "/_fake/events") => {
            let store = shared.lock();
            let events: Vec<Value> = store.events.iter().map(|(_, e)| e.value(&|id| store.price(id))).collect();
            answer(200, json!(events))
        }
        ("GET", "/_fake/deliveries") => answer(200, json!(shared.webhooks.deliveries())),
        ("GET", "/_fake/stats") => answer(200, json!(stats(shared))),
        ("POST", "/_fake/settings") => with_json(body, |settings| apply_settings(shared, settings)),
        ("POST", "/_fake/webhook_endpoints") => with_json(body, |request| add_endpoint(shared, request)),
        ("POST", "/_fake/wait_for_deliveries") => {
            let timeout = serde_json::from_slice::<WaitRequest>(if body.is_empty() { b"{}" } else { body });
            match timeout {
                Ok(request) => wait_for_deliveries(shared, request).await,
                Err(error) => bad_request(format!("Invalid JSON body: {error}")),
            }
        }
        ("GET", other) if other.starts_with("/_fake/objects/") => {
            let id = &other["/_fake/objects/".len()..];
            match shared.lock().get(id) {
                Some(object) => answer(200, object),
                None => answer(
                    404,
                    json!({ "error": { "type": "invalid_request_error", "message": format!("No such object: '{id}'") } }),
                ),
            }
        }
        _ => answer(
            404,
            json!({ "error": { "type": "invalid_request_error", "message": format!(
                "Unrecognized control request ({method}: {path}). The control API serves /_fake/reset, faults, \
                 requests, events, deliveries, stats, settings, webhook_endpoints, wait_for_deliveries and objects/{{id}}."
            ) } }),
        ),
    }
}

fn add_endpoint(shared: &Shared, request: EndpointRequest) -> HttpResponse {
    let api_version = match request.api_version.as_deref().map(|name| shared.lock().versions.resolve(name)) {
        None => None,
        Some(Ok(version)) => Some(version),
        Some(Err(error)) => return bad_request(error.to_string()),
    };
    let endpoint = register(
        &mut shared.lock(),
        NewEndpoint {
            url: &request.url,
            enabled_events: vec!["*".into()],
            description: None,
            secret: request.secret.as_deref(),
            api_version,
        },
    );
    answer(200, json!({ "id": endpoint["id"], "secret": endpoint["secret"], "url": request.url }))
}

fn apply_settings(shared: &Shared, settings: SettingsRequest) -> HttpResponse {
    // Checked first: a bad schedule is refused and changes nothing else either.
    let retries = match invoice_retries(shared, settings.invoice_retry_days, settings.after_final_retry) {
        Ok(retries) => retries,
        Err(message) => return bad_request(format!("Invalid invoice retries: {message}.")),
    };
    shared.lock().invoice_retries = retries;
    if let Some(on) = settings.duplicate_deliveries {
        shared.webhooks.set_duplicate(on);
    }
    if let Some(on) = settings.shuffle_deliveries {
        shared.webhooks.set_shuffle(on);
    }
    if let Some(on) = settings.log_requests {
        shared.set_log_requests(on);
    }
    if let Some(strict) = settings.strict_api_versions {
        shared.lock().versions.strict = strict;
    }
    if let Some(retain) = settings.retain {
        shared.set_retention(Some(retain).filter(|n| *n > 0));
    }
    let mut policy: RetryPolicy = shared.webhooks.policy();
    if let Some(ms) = settings.retry_backoff_ms {
        policy.first_backoff = Duration::from_millis(ms);
    }
    if let Some(n) = settings.max_attempts {
        policy.max_attempts = n.max(1);
    }
    if let Some(ms) = settings.delivery_timeout_ms {
        policy.timeout = Duration::from_millis(ms.max(1));
    }
    shared.webhooks.set_policy(policy);
    answer(
        200,
        json!({
            "duplicate_deliveries": shared.webhooks.duplicate(),
            "shuffle_deliveries": shared.webhooks.shuffle(),
            "retry_backoff_ms": policy.first_backoff.as_millis() as u64,
            "max_attempts": policy.max_attempts,
            "delivery_timeout_ms": policy.timeout.as_millis() as u64,
            "log_requests": shared.log_requests(),
            "strict_api_versions": shared.lock().versions.strict,
            "retain": shared.lock().retention(),
            "invoice_retry_days": shared.lock().invoice_retries.days,
            "after_final_retry": shared.lock().invoice_retries.after_final_retry.as_str(),
        }),
    )
}

/// The invoice retry settings a request asks for (what it leaves out stays as it is).
fn invoice_retries(shared: &Shared, days: Option<Vec<u32>>, after: Option<String>) -> Result<InvoiceRetries, String> {
    let current = shared.lock().invoice_retries.clone();
    let after = match after {
        Some(text) => AfterFinalRetry::parse(&text)?,
        None => current.after_final_retry,
    };
    InvoiceRetries::new(days.unwrap_or(current.days), after)
}

async fn wait_for_deliveries(shared: &Shared, request: WaitRequest) -> HttpResponse {
    let until = tokio::time::Instant::now() + Duration::from_millis(request.timeout_ms.unwrap_or(5_000));
    loop {
        let pending = shared.webhooks.in_flight();
        if pending == 0 {
            return answer(200, json!({ "pending": 0 }));
        }
        if tokio::time::Instant::now() >= until {
            return answer(504, json!({ "pending": pending }));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
