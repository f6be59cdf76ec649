//! Registering a webhook endpoint: its stored object (what `GET /v1/webhook_endpoints` shows) and
//! its route (secret, subscribed types, version) for the delivery worker. The API, the control API
//! and `StripeFake::add_webhook_endpoint` all register endpoints here.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::stripe::context::unix_now;
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::store::Store;
use crate::stripe::versions::ApiVersion;
use crate::stripe::webhook_routes::EndpointRoute;

/// What a new endpoint is.
pub struct NewEndpoint<'a> {
    /// Where events are POSTed.
    pub url: &'a str,
    /// Event types (`*` for all).
    pub enabled_events: Vec<String>,
    /// Free text.
    pub description: Option<String>,
    /// Signing secret (`whsec_...`); generated if absent.
    pub secret: Option<&'a str>,
    /// Version its events are rendered in.
    pub api_version: Option<ApiVersion>,
}

/// Stores an endpoint and returns it with its `secret` (shown only in this answer).
pub fn register(store: &mut Store, endpoint: NewEndpoint<'_>) -> Value {
    let id = new_id(Kind::WebhookEndpoint.prefix());
    let secret = endpoint.secret.map(str::to_string).unwrap_or_else(|| new_id("whsec"));
    let object = json!({
        "id": id,
        "object": "webhook_endpoint",
        "api_version": endpoint.api_version.as_ref().map(ApiVersion::name),
        "application": null,
        "created": unix_now(),
        "description": endpoint.description,
        "enabled_events": endpoint.enabled_events,
        "livemode": false,
        "metadata": {},
        "status": "enabled",
        "url": endpoint.url,
    });
    store.insert(Kind::WebhookEndpoint, &object);
    store.endpoints.upsert(EndpointRoute {
        id: id.as_str().into(),
        url: endpoint.url.into(),
        secret: Arc::from(secret.as_str()),
        enabled_events: endpoint.enabled_events,
        enabled: true,
        api_version: endpoint.api_version,
    });
    let mut created = object;
    created["secret"] = json!(secret);
    created
}

/// Brings an endpoint's route in line with its (updated) stored object.
pub fn sync_route(store: &mut Store, object: &Value) {
    let Some(id) = object["id"].as_str() else { return };
    let Some(current) = store.endpoints.get(id).map(|route| (**route).clone()) else { return };
    store.endpoints.upsert(EndpointRoute {
        url: object["url"].as_str().unwrap_or_default().into(),
        enabled_events: object["enabled_events"]
            .as_array()
            .map(|events| events.iter().filter_map(|e| e.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        enabled: object["status"] == "enabled",
        ..current
    });
}
