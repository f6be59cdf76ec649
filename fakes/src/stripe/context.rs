//! What a handler works with while answering one request: the locked store, the request's id and
//! idempotency key (both copied into the events it emits), the time on the relevant clock, and
//! work to start once the lock is released (a test clock advancing in the background).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::event_log::{EventData, EventOut, EventRequest, StoredEvent};
use super::ids::new_id;
use super::store::Store;

/// The API version the fake reports in events and headers.
pub const API_VERSION: &str = "2026-10-28.endive";

/// Work a handler asks for that must run after the store lock is released.
#[derive(Debug, Clone, PartialEq)]
pub enum Followup {
    /// Move a test clock to `to` and run what falls due on the way.
    AdvanceClock { clock_id: String, to: i64 },
}

/// One request's view of the fake.
pub struct Ctx<'a> {
    /// The whole state, locked for the duration of the handler.
    pub store: &'a mut Store,
    /// `req_...`, echoed in the `Request-Id` header and in events.
    pub request_id: String,
    /// The request's `Idempotency-Key`, copied into events.
    pub idempotency_key: Option<String>,
    /// Background work to start after the response is built.
    pub followups: Vec<Followup>,
}

/// Wall-clock unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

impl<'a> Ctx<'a> {
    /// A context for work not caused by an API request (clock advances, Rust helpers).
    pub fn background(store: &'a mut Store) -> Ctx<'a> {
        Ctx { store, request_id: String::new(), idempotency_key: None, followups: Vec::new() }
    }

    /// The time as seen by a customer: its test clock's `frozen_time`, or now.
    pub fn time_for_customer(&self, customer_id: Option<&str>) -> i64 {
        customer_id
            .and_then(|id| self.store.get(id))
            .and_then(|customer| customer["test_clock"].as_str())
            .and_then(|clock_id| self.store.get(clock_id))
            .and_then(|clock| clock["frozen_time"].as_i64())
            .unwrap_or_else(unix_now)
    }

    /// Records an event of `kind` about `object` and queues it for webhook delivery.
    pub fn emit(&mut self, kind: &str, object: &Value, previous_attributes: Option<Value>, created: i64) {
        let pending_webhooks = self.store.count("webhook_endpoint", |endpoint| endpoint_wants(endpoint, kind));
        let id = new_id("evt");
        let event = EventOut {
            id: &id,
            object: "event",
            api_version: API_VERSION,
            created,
            data: EventData { object, previous_attributes: previous_attributes.as_ref() },
            livemode: false,
            pending_webhooks,
            request: EventRequest {
                id: Some(self.request_id.as_str()).filter(|r| !r.is_empty()),
                idempotency_key: self.idempotency_key.as_deref(),
            },
            kind,
        };
        let json = serde_json::to_string(&event).unwrap_or_default();
        let stored = Arc::new(StoredEvent { id, kind: kind.to_string(), json });
        // Nothing to deliver without a subscribed endpoint: the worker never sees it.
        if pending_webhooks > 0 {
            self.store.outbox.push(stored.clone());
        }
        self.store.events.push(stored);
    }
}

/// Whether an enabled endpoint subscribes to events of this type.
pub fn endpoint_wants(endpoint: &Value, kind: &str) -> bool {
    endpoint["status"] == "enabled"
        && endpoint["enabled_events"].as_array().is_some_and(|events| events.iter().any(|e| e == "*" || e == kind))
}

/// The fields of `before` whose values differ in `after` (Stripe's `previous_attributes`).
pub fn previous_attributes(before: &Value, after: &Value) -> Option<Value> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else { return None };
    let changed: serde_json::Map<String, Value> = before
        .iter()
        .filter(|(key, value)| after.get(*key) != Some(*value))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if changed.is_empty() { None } else { Some(Value::Object(changed)) }
}

/// Replaces ids with the objects they name along each `expand[]` path (`latest_invoice.payment_intent`).
/// For lists, paths start with `data.`. Unknown ids are left as they are.
pub fn expand(store: &Store, value: &mut Value, paths: &[String]) {
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        expand_path(store, value, &segments);
    }
}

fn expand_path(store: &Store, value: &mut Value, segments: &[&str]) {
    let Some((first, rest)) = segments.split_first() else { return };
    if *first == "data"
        && let Some(items) = value.get_mut("data").and_then(Value::as_array_mut)
    {
        for item in items {
            expand_path(store, item, rest);
        }
        return;
    }
    let Some(field) = value.get_mut(*first) else { return };
    if let Some(id) = field.as_str()
        && let Some(object) = store.get(id)
    {
        *field = object.clone();
    }
    if field.is_object() {
        expand_path(store, field, rest);
    }
}
