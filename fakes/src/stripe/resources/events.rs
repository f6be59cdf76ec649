//! `/v1/events`: the event log as Stripe serves it, newest first, filterable by `type`
//! (exact, or a prefix wildcard such as `invoice.*`) and `types[]`.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::stripe::context::Ctx;
use crate::stripe::error::ApiError;
use crate::stripe::event_log::StoredEvent;
use crate::stripe::params::{Page, Params};
use crate::stripe::store::paginate;

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
    let newest_first: Vec<&Arc<StoredEvent>> = ctx
        .store
        .events
        .iter()
        .rev()
        .filter(|event| {
            kind.as_ref().is_none_or(|k| type_matches(k, &event.kind))
                && kinds.as_ref().is_none_or(|ks| ks.iter().any(|k| type_matches(k, &event.kind)))
        })
        .collect();
    let (data, has_more) = paginate(&newest_first, |e| e.id.as_str(), &page, "event")?;
    let data: Vec<Value> = data.iter().map(|event| event.value()).collect();
    Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": "/v1/events" }))
}

/// `GET /v1/events/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let _ = p.expand()?;
    p.finish()?;
    ctx.store.events.get(id).map(|event| event.value()).ok_or_else(|| ApiError::no_such("event", id))
}
