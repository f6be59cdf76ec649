//! The event log. Each event is kept as the exact JSON Stripe would send (compact), not as a
//! `serde_json::Value`: an event embeds a full snapshot of its object, and under load the log
//! holds hundreds of thousands of them, so the serialized form is several times smaller and
//! cheaper to make than a cloned tree. Reads (rare: tests, `/v1/events`) parse it back.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::chunked::Chunked;

/// One emitted event.
#[derive(Debug)]
pub struct StoredEvent {
    /// `evt_...`
    pub id: String,
    /// `invoice.paid`, …
    pub kind: String,
    /// The event object as JSON, exactly as listed and delivered.
    pub json: String,
}

impl StoredEvent {
    /// The event as a JSON value.
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }
}

/// The wire shape of an event, serialized straight from borrowed parts (no copy of the object).
#[derive(Serialize)]
pub struct EventOut<'a> {
    /// `evt_...`
    pub id: &'a str,
    /// Always `event`.
    pub object: &'static str,
    /// The fake's API version.
    pub api_version: &'static str,
    /// Unix seconds (clock time for objects on a test clock).
    pub created: i64,
    /// The object and what changed.
    pub data: EventData<'a>,
    /// Always false.
    pub livemode: bool,
    /// Endpoints that will receive it.
    pub pending_webhooks: usize,
    /// The API request that caused it.
    pub request: EventRequest<'a>,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: &'a str,
}

/// `data` of an event.
#[derive(Serialize)]
pub struct EventData<'a> {
    /// Snapshot of the object after the change.
    pub object: &'a Value,
    /// The changed fields' old values (updates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<&'a Value>,
}

/// `request` of an event.
#[derive(Serialize)]
pub struct EventRequest<'a> {
    /// `req_...`, or null for background work (test clocks).
    pub id: Option<&'a str>,
    /// The request's idempotency key.
    pub idempotency_key: Option<&'a str>,
}

/// Every event, oldest first.
#[derive(Default)]
pub struct EventLog {
    events: Chunked<Arc<StoredEvent>>,
}

impl EventLog {
    /// Appends an event.
    pub fn push(&mut self, event: Arc<StoredEvent>) {
        self.events.push(event);
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<StoredEvent>> {
        self.events.iter()
    }

    /// The event with this id (recent events are found first).
    pub fn get(&self, id: &str) -> Option<&Arc<StoredEvent>> {
        self.events.iter().rev().find(|event| event.id == id)
    }
}
