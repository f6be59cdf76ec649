//! `/v1/webhook_endpoints`: where events are delivered. The signing `secret` appears only in the
//! create response (as with Stripe); the fake keeps it aside for the delivery worker.

use serde_json::{Value, json};

use crate::stripe::context::{Ctx, expand, unix_now};
use crate::stripe::error::ApiError;
use crate::stripe::ids::new_id;
use crate::stripe::params::{Page, Params};
use crate::stripe::store::Store;

/// Stores an endpoint and returns it with its `secret` (generated unless given).
pub fn insert(
    store: &mut Store,
    url: &str,
    enabled_events: Vec<String>,
    description: Option<String>,
    secret: Option<&str>,
) -> Value {
    let id = new_id("we");
    let secret = secret.map(str::to_string).unwrap_or_else(|| new_id("whsec"));
    let endpoint = json!({
        "id": id,
        "object": "webhook_endpoint",
        "api_version": null,
        "application": null,
        "created": unix_now(),
        "description": description,
        "enabled_events": enabled_events,
        "livemode": false,
        "metadata": {},
        "status": "enabled",
        "url": url,
    });
    store.insert("webhook_endpoint", endpoint.clone());
    store.endpoint_secrets.insert(id, secret.clone());
    let mut created = endpoint;
    created["secret"] = json!(secret);
    created
}

/// `POST /v1/webhook_endpoints`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let url = p.required_string("url")?;
    let enabled_events = p.string_array("enabled_events")?;
    let description = p.clearable_string("description")?.flatten();
    let metadata = p.metadata()?;
    let api_version = p.string("api_version")?;
    let _connect = p.boolean("connect")?;
    let expansions = p.expand()?;
    p.finish()?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ApiError::param("url", format!("Invalid URL: {url}. URLs must begin with http:// or https://.")));
    }
    let enabled_events = match enabled_events {
        Some(events) if !events.is_empty() => events,
        _ => return Err(ApiError::missing("enabled_events")),
    };
    let mut endpoint = insert(ctx.store, &url, enabled_events, description, None);
    let id = endpoint["id"].as_str().unwrap_or_default().to_string();
    if let Some(stored) = ctx.store.get_mut(&id) {
        if let Some(metadata) = metadata {
            metadata.clone().apply(stored);
            metadata.apply(&mut endpoint);
        }
        if let Some(version) = api_version {
            stored["api_version"] = json!(version);
            endpoint["api_version"] = json!(version);
        }
    }
    expand(ctx.store, &mut endpoint, &expansions);
    Ok(endpoint)
}

/// `GET /v1/webhook_endpoints/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    p.finish()?;
    Ok(ctx.store.get_kind("webhook_endpoint", "webhook endpoint", id, "id")?.clone())
}

/// `POST /v1/webhook_endpoints/{id}`: `url`, `enabled_events[]`, `disabled`, `description`, `metadata`.
/// A disabled endpoint receives nothing (a way to simulate an outage of the receiver).
pub fn update(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let mut endpoint = ctx.store.get_kind("webhook_endpoint", "webhook endpoint", id, "id")?.clone();
    let url = p.string("url")?;
    let enabled_events = p.string_array("enabled_events")?;
    let disabled = p.boolean("disabled")?;
    let description = p.clearable_string("description")?;
    let metadata = p.metadata()?;
    let expansions = p.expand()?;
    p.finish()?;
    if let Some(url) = url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ApiError::param(
                "url",
                format!("Invalid URL: {url}. URLs must begin with http:// or https://."),
            ));
        }
        endpoint["url"] = json!(url);
    }
    if let Some(events) = enabled_events {
        if events.is_empty() {
            return Err(ApiError::param("enabled_events", "enabled_events must list at least one event type or '*'."));
        }
        endpoint["enabled_events"] = json!(events);
    }
    if let Some(disabled) = disabled {
        endpoint["status"] = json!(if disabled { "disabled" } else { "enabled" });
    }
    if let Some(description) = description {
        endpoint["description"] = json!(description);
    }
    if let Some(metadata) = metadata {
        metadata.apply(&mut endpoint);
    }
    if let Some(stored) = ctx.store.get_mut(id) {
        *stored = endpoint.clone();
    }
    expand(ctx.store, &mut endpoint, &expansions);
    Ok(endpoint)
}

/// `GET /v1/webhook_endpoints`
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    p.finish()?;
    ctx.store.list("webhook_endpoint", "/v1/webhook_endpoints", &page, |_| true)
}

/// `DELETE /v1/webhook_endpoints/{id}`
pub fn delete(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    p.finish()?;
    ctx.store.get_kind("webhook_endpoint", "webhook endpoint", id, "id")?;
    ctx.store.remove("webhook_endpoint", id);
    ctx.store.endpoint_secrets.remove(id);
    Ok(json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
}
