//! `/v1/events`: the event log as Stripe serves it, newest first, filterable by `type` (exact,
//! or a prefix wildcard such as `invoice.*`) and `types[]`. Each event is rendered in the API
//! version it was created in, whatever the request's version, as Stripe does.

use serde_json::{Value, json};

use crate::stripe::context::Ctx;
use crate::stripe::error::ApiError;
use crate::stripe::params::{Page, Params};

fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

/// `GET /v1/events`
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    let kind = p.string("type")?;
    let kinds = p.string_array("types")?;
    let _ = p.expand()?;
    p.finish()?;
    let events = &ctx.store.events;
    let wanted = |kind_of_event: &str| {
        kind.as_ref().is_none_or(|k| type_matches(k, kind_of_event))
            && kinds.as_ref().is_none_or(|ks| ks.iter().any(|k| type_matches(k, kind_of_event)))
    };
    let (data, has_more) = page.select(
        "event",
        |id| events.position(id),
        |after| events.range(after + 1, u64::MAX).filter(|(_, e)| wanted(e.kind)),
        |before| events.range(0, before.unwrap_or(u64::MAX)).rev().filter(|(_, e)| wanted(e.kind)),
    )?;
    let store = &*ctx.store;
    let data: Vec<Value> = data.iter().map(|(_, event)| event.value(&|id| store.price(id))).collect();
    Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": "/v1/events" }))
}

/// `GET /v1/events/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let _ = p.expand()?;
    p.finish()?;
    let store = &*ctx.store;
    store.events.get(id).map(|event| event.value(&|id| store.price(id))).ok_or_else(|| ApiError::no_such("event", id))
}
