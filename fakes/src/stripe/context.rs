//! What a handler works with while answering one request: the locked store, the request's id and
//! idempotency key (both copied into the events it emits), the time on the relevant clock, event
//! emission, and work to start once the lock is released (a test clock advancing in the background).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

use super::event_log::StoredEvent;
use super::ids::new_id;
use super::kinds::Kind;
use super::store::Store;
use super::webhook_routes::{Outgoing, Target};

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
    /// `req_...`, echoed in the `Request-Id` header and in events; none for background work.
    pub request_id: Option<Arc<str>>,
    /// The request's `Idempotency-Key`, copied into events.
    pub idempotency_key: Option<Arc<str>>,
    /// Background work to start after the response is built.
    pub followups: Vec<Followup>,
}

/// Wall-clock unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

#[derive(Deserialize)]
struct OnClock {
    test_clock: Option<String>,
}

#[derive(Deserialize)]
struct ClockTime {
    frozen_time: i64,
}

impl<'a> Ctx<'a> {
    /// A context for work not caused by an API request (clock advances, Rust helpers).
    pub fn background(store: &'a mut Store) -> Ctx<'a> {
        Ctx { store, request_id: None, idempotency_key: None, followups: Vec::new() }
    }

    /// The time as seen by a customer: its test clock's `frozen_time`, or now.
    pub fn time_for_customer(&self, customer_id: Option<&str>) -> i64 {
        let clock =
            customer_id.and_then(|id| self.store.read::<OnClock>(Kind::Customer, id)).and_then(|c| c.test_clock);
        self.time_on_clock(clock.as_deref())
    }

    /// The time on a test clock (`None`: wall-clock time).
    pub fn time_on_clock(&self, clock: Option<&str>) -> i64 {
        clock
            .and_then(|clock| self.store.read::<ClockTime>(Kind::TestClock, clock))
            .map(|clock| clock.frozen_time)
            .unwrap_or_else(unix_now)
    }

    /// Records an event of `kind` about an object's JSON text (the stored text: no second copy)
    /// and routes it to the endpoints that want it.
    pub fn emit_text(&mut self, kind: &'static str, object: Arc<str>, previous: Option<Value>, created: i64) {
        let endpoints: Vec<_> = self.store.endpoints.wanting(kind).cloned().collect();
        let event = Arc::new(StoredEvent {
            id: new_id("evt").into(),
            kind,
            created,
            object,
            previous_attributes: previous.map(|p| p.to_string().into_boxed_str()),
            request_id: self.request_id.clone(),
            idempotency_key: self.idempotency_key.clone(),
            pending_webhooks: endpoints.len() as u32,
            api_version: self.store.account_version.clone(),
        });
        // Nothing to deliver without a subscribed endpoint: the worker never sees it.
        if !endpoints.is_empty() {
            let store = &*self.store;
            let targets = endpoints
                .into_iter()
                .map(|endpoint| {
                    let version = endpoint.api_version.as_ref().unwrap_or(&event.api_version);
                    // Reshaping needs the store (prices), which the worker does not have.
                    let rendered =
                        version.needs_rendering().then(|| event.json_in(version, &|id| store.price(id)).into());
                    Target { endpoint, rendered }
                })
                .collect();
            self.store.outbox.push(Outgoing { event: event.clone(), targets });
        }
        self.store.events.push(event);
    }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::stripe::versions::ApiVersion;
    use crate::stripe::webhook_routes::EndpointRoute;

    #[test]
    fn an_event_shares_the_objects_text_and_is_routed_to_endpoints_that_want_it() {
        let mut store = Store::default();
        store.endpoints.upsert(EndpointRoute {
            id: "we_1".into(),
            url: "http://127.0.0.1:9/hook".into(),
            secret: "whsec_1".into(),
            enabled_events: vec!["customer.created".into()],
            enabled: true,
            api_version: Some(ApiVersion::parse("2024-06-20").unwrap()),
        });
        let text: Arc<str> = r#"{"id":"cus_1","object":"customer"}"#.into();
        let mut ctx = Ctx::background(&mut store);
        ctx.emit_text("customer.created", text.clone(), None, 7);
        ctx.emit_text("customer.updated", r#"{"id":"cus_1"}"#.into(), Some(json!({"email": null})), 8);
        let (_, created) = store.events.iter().next().unwrap();
        assert!(Arc::ptr_eq(&created.object, &text));
        assert_eq!(created.pending_webhooks, 1);
        assert_eq!(store.outbox.len(), 1, "customer.updated has no endpoint");
        let rendered = store.outbox[0].targets[0].rendered.as_deref().unwrap();
        assert!(rendered.contains("\"api_version\":\"2024-06-20\""), "{rendered}");
    }
}
