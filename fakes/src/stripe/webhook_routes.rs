//! Where events go: the webhook endpoints as the router and the delivery worker need them (URL,
//! signing secret, subscribed types, status, pinned API version), kept beside their JSON objects so
//! that routing an event never parses a stored endpoint. Stripe shows an endpoint's secret only
//! when it is created; here it lives only in this table.

use std::sync::Arc;

use super::event_log::StoredEvent;
use super::versions::ApiVersion;

/// One endpoint, as events are routed to it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointRoute {
    /// `we_...`
    pub id: Arc<str>,
    /// Where events are POSTed.
    pub url: Arc<str>,
    /// `whsec_...`, the HMAC key of `Stripe-Signature`.
    pub secret: Arc<str>,
    /// Event types it subscribes to (`*` for all).
    pub enabled_events: Vec<String>,
    /// `false` once disabled: it receives nothing.
    pub enabled: bool,
    /// Events are rendered in this version for it (else the account's version at the time).
    pub api_version: Option<ApiVersion>,
}

impl EndpointRoute {
    /// Whether it receives events of this type now.
    pub fn wants(&self, kind: &str) -> bool {
        self.enabled && self.enabled_events.iter().any(|e| e == "*" || e == kind)
    }
}

/// One delivery to make: the endpoint and, when its version needs reshaped objects, the payload
/// rendered while the store was at hand (otherwise the worker renders it).
#[derive(Debug, Clone)]
pub struct Target {
    /// Where to.
    pub endpoint: Arc<EndpointRoute>,
    /// The payload, if rendered ahead.
    pub rendered: Option<Arc<str>>,
}

/// An event with the endpoints it goes to, handed to the delivery worker after the request.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The event.
    pub event: Arc<StoredEvent>,
    /// Its deliveries.
    pub targets: Vec<Target>,
}

/// The routing table.
#[derive(Debug, Default)]
pub struct Endpoints {
    routes: Vec<Arc<EndpointRoute>>,
}

impl Endpoints {
    /// Adds or replaces the route of an endpoint.
    pub fn upsert(&mut self, route: EndpointRoute) {
        match self.routes.iter_mut().find(|r| r.id == route.id) {
            Some(existing) => *existing = Arc::new(route),
            None => self.routes.push(Arc::new(route)),
        }
    }

    /// The route of endpoint `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<EndpointRoute>> {
        self.routes.iter().find(|r| &*r.id == id)
    }

    /// Forgets endpoint `id`.
    pub fn remove(&mut self, id: &str) {
        self.routes.retain(|r| &*r.id != id);
    }

    /// The endpoints that receive an event of this type.
    pub fn wanting(&self, kind: &str) -> impl Iterator<Item = &Arc<EndpointRoute>> {
        self.routes.iter().filter(move |route| route.wants(kind))
    }
}
