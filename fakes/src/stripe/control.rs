//! The control API under `/_fake/...`: the Rust methods of `StripeFake`, over HTTP, for the
//! standalone binary (e2e runs against a deployed service, other languages). Real Stripe never
//! serves these paths, so no client can hit them by accident. No authentication.
//!
//! | request | effect |
//! | --- | --- |
//! | `POST /_fake/reset` | forget everything |
//! | `POST /_fake/faults` | inject a fault (JSON, see [`FaultRequest`]) |
//! | `GET /_fake/requests` | request log |
//! | `GET /_fake/events` | every event |
//! | `GET /_fake/deliveries` | webhook delivery attempts |
//! | `POST /_fake/settings` | `{"duplicate_deliveries", "shuffle_deliveries", "retry_backoff_ms", "max_attempts"}` |
//! | `POST /_fake/webhook_endpoints` | `{"url", "secret"?}` → `{id, secret, url}` |
//! | `GET /_fake/objects/{id}` | any stored object |

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fault::{Fault, FaultEffect};
use super::resources::webhook_endpoints;
use super::server::{json_response, to_bytes};
use super::shared::Shared;
use super::webhooks::RetryPolicy;

/// A fault as JSON: `{"method": "POST", "path": "/v1/customers", "times": 1, "status": 500}`;
/// or with `"error_type"`/`"code"`, `"latency_ms"`, or `"drop_connection": true`.
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
}

impl FaultRequest {
    fn into_fault(self) -> Fault {
        let mut fault = Fault::on(&self.method, &self.path).times(self.times.unwrap_or(1));
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointRequest {
    url: String,
    secret: Option<String>,
}

fn answer(status: u16, value: Value) -> Response<Full<Bytes>> {
    json_response(status, to_bytes(&value), "")
}

fn bad_json(error: serde_json::Error) -> Response<Full<Bytes>> {
    answer(
        400,
        json!({ "error": { "type": "invalid_request_error", "message": format!("Invalid JSON body: {error}") } }),
    )
}

/// Answers one control request.
pub async fn handle(shared: &Shared, method: &str, path: &str, _query: &[u8], body: &[u8]) -> Response<Full<Bytes>> {
    match (method, path.trim_end_matches('/')) {
        ("POST", "/_fake/reset") => {
            shared.lock().reset();
            shared.arm_faults(false);
            shared.webhooks.reset();
            answer(200, json!({ "reset": true }))
        }
        ("POST", "/_fake/faults") => match serde_json::from_slice::<FaultRequest>(body) {
            Ok(request) => {
                let fault = request.into_fault();
                let echo = serde_json::to_value(&fault).unwrap_or_default();
                shared.lock().faults.push(fault);
                shared.arm_faults(true);
                answer(200, echo)
            }
            Err(error) => bad_json(error),
        },
        ("GET", "/_fake/requests") => answer(200, json!(shared.lock().requests.to_vec())),
        ("GET", "/_fake/events") => {
            let events: Vec<Value> = shared.lock().events.iter().map(|e| e.value()).collect();
            answer(200, json!(events))
        }
        ("GET", "/_fake/deliveries") => answer(200, json!(shared.webhooks.deliveries())),
        ("POST", "/_fake/settings") => match serde_json::from_slice::<SettingsRequest>(body) {
            Ok(settings) => {
                if let Some(on) = settings.duplicate_deliveries {
                    shared.webhooks.set_duplicate(on);
                }
                if let Some(on) = settings.shuffle_deliveries {
                    shared.webhooks.set_shuffle(on);
                }
                if let Some(on) = settings.log_requests {
                    shared.set_log_requests(on);
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
                    }),
                )
            }
            Err(error) => bad_json(error),
        },
        ("POST", "/_fake/webhook_endpoints") => match serde_json::from_slice::<EndpointRequest>(body) {
            Ok(request) => {
                let mut store = shared.lock();
                let endpoint = webhook_endpoints::insert(
                    &mut store,
                    &request.url,
                    vec!["*".into()],
                    None,
                    request.secret.as_deref(),
                );
                answer(200, json!({ "id": endpoint["id"], "secret": endpoint["secret"], "url": request.url }))
            }
            Err(error) => bad_json(error),
        },
        ("GET", other) if other.starts_with("/_fake/objects/") => {
            let id = &other["/_fake/objects/".len()..];
            match shared.lock().get(id) {
                Some(object) => answer(200, object.clone()),
                None => answer(
                    404,
                    json!({ "error": { "type": "invalid_request_error", "message": format!("No such object: '{id}'") } }),
                ),
            }
        }
        _ => answer(
            404,
            json!({ "error": { "type": "invalid_request_error", "message": format!("Unrecognized control request ({method}: {path}).") } }),
        ),
    }
}
