//! The event log. An event embeds a snapshot of its object, and under load the log holds millions
//! of them, so an event keeps the object's JSON text as the store produced it (an `Arc<str>`
//! shared with the stored object and the response, never a copy) and is rendered to Stripe's wire
//! JSON only when it is read or delivered.
//!
//! The log is a [`Ring`]: with a retention limit the oldest events are forgotten (and counted),
//! together with their entry in the id index that serves `GET /v1/events/{id}`.

use std::sync::Arc;

use serde_json::Value;

use super::ring::Ring;
use super::sharded::Sharded;
use super::versions::{ApiVersion, render};

/// One emitted event.
#[derive(Debug)]
pub struct StoredEvent {
    /// `evt_...`
    pub id: Arc<str>,
    /// `invoice.paid`, …
    pub kind: &'static str,
    /// Unix seconds (clock time for objects on a test clock).
    pub created: i64,
    /// The object's JSON text after the change.
    pub object: Arc<str>,
    /// The changed fields' old values, as JSON text (updates only).
    pub previous_attributes: Option<Box<str>>,
    /// `req_...` of the API request that caused it; none for background work (test clocks).
    pub request_id: Option<Arc<str>>,
    /// The request's `Idempotency-Key`.
    pub idempotency_key: Option<Arc<str>>,
    /// How many endpoints it is delivered to.
    pub pending_webhooks: u32,
    /// The account's API version when it was created.
    pub api_version: ApiVersion,
}

fn quoted(text: Option<&str>) -> String {
    text.map(|t| Value::from(t).to_string()).unwrap_or_else(|| "null".into())
}

impl StoredEvent {
    /// The event as Stripe sends it, in its own API version. Objects are stored in the newest
    /// shape, so for it this is pure splicing; an older version goes through [`render`].
    pub fn json(&self, price: &dyn Fn(&str) -> Option<Value>) -> String {
        self.json_in(&self.api_version, price)
    }

    /// The event rendered for `version` (a webhook endpoint pinned to another version).
    pub fn json_in(&self, version: &ApiVersion, price: &dyn Fn(&str) -> Option<Value>) -> String {
        let previous = self.previous_attributes.as_deref().map(|p| format!(",\"previous_attributes\":{p}"));
        let text = format!(
            "{{\"id\":\"{}\",\"object\":\"event\",\"api_version\":\"{}\",\"created\":{},\
             \"data\":{{\"object\":{}{}}},\"livemode\":false,\"pending_webhooks\":{},\
             \"request\":{{\"id\":{},\"idempotency_key\":{}}},\"type\":\"{}\"}}",
            self.id,
            version.name(),
            self.created,
            self.object,
            previous.unwrap_or_default(),
            self.pending_webhooks,
            quoted(self.request_id.as_deref()),
            quoted(self.idempotency_key.as_deref()),
            self.kind,
        );
        if !version.needs_rendering() {
            return text;
        }
        let mut value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        render(&mut value, version, price);
        value.to_string()
    }

    /// The event as a JSON value, in its own API version.
    pub fn value(&self, price: &dyn Fn(&str) -> Option<Value>) -> Value {
        serde_json::from_str(&self.json(price)).unwrap_or(Value::Null)
    }
}

/// Every event retained, oldest first, with an index by id.
#[derive(Default)]
pub struct EventLog {
    events: Ring<Arc<StoredEvent>>,
    by_id: Sharded<Arc<str>, u64>,
}

impl EventLog {
    /// Appends an event (forgetting the oldest if over the retention limit).
    pub fn push(&mut self, event: Arc<StoredEvent>) {
        let id = event.id.clone();
        let (position, evicted) = self.events.push_and_evict(event);
        self.by_id.insert(id, position);
        if let Some(old) = evicted {
            self.by_id.remove(&old.id);
        }
    }

    /// Oldest first, with positions (reverse for newest first).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &Arc<StoredEvent>)> {
        self.events.iter()
    }

    /// Events in `from..to`, with positions.
    pub fn range(&self, from: u64, to: u64) -> impl DoubleEndedIterator<Item = (u64, &Arc<StoredEvent>)> {
        self.events.range(from, to)
    }

    /// The position of the event with this id, if retained.
    pub fn position(&self, id: &str) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    /// The event with this id, if retained.
    pub fn get(&self, id: &str) -> Option<&Arc<StoredEvent>> {
        self.events.get(self.position(id)?)
    }

    /// Keeps at most `limit` events from now on.
    pub fn set_limit(&mut self, limit: Option<usize>) {
        for old in self.events.set_limit(limit) {
            self.by_id.remove(&old.id);
        }
    }

    /// Events retained.
    pub fn retained(&self) -> usize {
        self.by_id.count()
    }

    /// Events forgotten because of the retention limit.
    pub fn dropped(&self) -> u64 {
        self.events.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> Arc<StoredEvent> {
        Arc::new(StoredEvent {
            id: format!("evt_{n}").into(),
            kind: "customer.created",
            created: 7,
            object: r#"{"id":"cus_1","object":"customer","description":"a \"quoted\" text"}"#.into(),
            previous_attributes: None,
            request_id: Some("req_1".into()),
            idempotency_key: Some("key \"1\"".into()),
            pending_webhooks: 0,
            api_version: ApiVersion::LATEST,
        })
    }

    #[test]
    fn an_event_renders_as_stripe_sends_it() {
        let value = event(1).value(&|_| None);
        assert_eq!(value["id"], "evt_1");
        assert_eq!(value["object"], "event");
        assert_eq!(value["api_version"], ApiVersion::LATEST.name());
        assert_eq!(value["data"]["object"]["description"], "a \"quoted\" text");
        assert_eq!(value["request"]["idempotency_key"], "key \"1\"");
        assert!(value["data"].get("previous_attributes").is_none());
    }

    #[test]
    fn a_bounded_log_forgets_the_oldest_events_and_their_ids() {
        let mut log = EventLog::default();
        log.set_limit(Some(2));
        for n in 0..5 {
            log.push(event(n));
        }
        assert!(log.get("evt_2").is_none());
        assert_eq!(log.get("evt_4").map(|e| &*e.id), Some("evt_4"));
        assert_eq!((log.retained(), log.dropped()), (2, 3));
    }
}
