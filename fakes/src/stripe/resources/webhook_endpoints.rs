//! `/v1/webhook_endpoints`: where events are delivered. The signing `secret` appears only in the
//! create response (as with Stripe). An endpoint created with `api_version` receives its events
//! rendered in that version.

use serde_json::{Value, json};

use crate::stripe::context::Ctx;
use crate::stripe::domain::webhook_endpoints::{NewEndpoint, register, sync_route};
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand};
use crate::stripe::kinds::Kind;
use crate::stripe::params::Params;

fn check_url(url: &str) -> Result<(), ApiError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(ApiError::param("url", format!("Invalid URL: {url}. URLs must begin with http:// or https://.")))
    }
}

/// `POST /v1/webhook_endpoints`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let url = p.required_string("url")?;
    let enabled_events = p.string_array("enabled_events")?;
    let description = p.clearable_string("description")?.flatten();
    let metadata = p.metadata()?;
    let api_version = p.string("api_version")?.filter(|v| !v.is_empty());
    let _connect = p.boolean("connect")?;
    let expansions = p.expand()?;
    p.finish()?;
    check_url(&url)?;
    let enabled_events = match enabled_events {
        Some(events) if !events.is_empty() => events,
        _ => return Err(ApiError::missing("enabled_events")),
    };
    let api_version = match api_version {
        Some(name) => {
            Some(ctx.store.versions.resolve(&name).map_err(|e| ApiError::param("api_version", e.to_string()))?)
        }
        None => None,
    };
    let mut endpoint =
        register(ctx.store, NewEndpoint { url: &url, enabled_events, description, secret: None, api_version });
    if let Some(metadata) = metadata {
        metadata.apply(&mut endpoint);
        let mut stored = endpoint.clone();
        if let Some(fields) = stored.as_object_mut() {
            fields.remove("secret");
        }
        ctx.store.replace(&stored);
    }
    expand(ctx.store, &mut endpoint, &expansions);
    Ok(endpoint)
}

/// `GET /v1/webhook_endpoints/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    p.finish()?;
    ctx.store.get_kind(Kind::WebhookEndpoint, id, "id")
}

/// `POST /v1/webhook_endpoints/{id}`: `url`, `enabled_events[]`, `disabled`, `description`, `metadata`.
/// A disabled endpoint receives nothing (a way to simulate an outage of the receiver).
pub fn update(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let url = p.string("url")?;
    let enabled_events = p.string_array("enabled_events")?;
    let disabled = p.boolean("disabled")?;
    let description = p.clearable_string("description")?;
    let metadata = p.metadata()?;
    let expansions = p.expand()?;
    p.finish()?;
    let mut endpoint = ctx.store.get_kind(Kind::WebhookEndpoint, id, "id")?;
    if let Some(url) = url {
        check_url(&url)?;
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
    ctx.store.replace(&endpoint);
    sync_route(ctx.store, &endpoint);
    expand(ctx.store, &mut endpoint, &expansions);
    Ok(endpoint)
}

/// `GET /v1/webhook_endpoints`
pub fn list(ctx: &mut Ctx<'_>, p: Params) -> Result<Value, ApiError> {
    expand::list(ctx.store, Kind::WebhookEndpoint, "/v1/webhook_endpoints", p, None, |_| true)
}

/// `DELETE /v1/webhook_endpoints/{id}`
pub fn delete(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    p.finish()?;
    ctx.store.get_kind(Kind::WebhookEndpoint, id, "id")?;
    ctx.store.remove(id);
    ctx.store.endpoints.remove(id);
    Ok(json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
}
