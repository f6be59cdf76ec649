//! `/v1/events`: the event log as Stripe serves it, newest first, filterable by `type`
//! (exact, or a prefix wildcard such as `invoice.*`) and `types[]`.

use serde_json::Value;

use crate::stripe::context::{Ctx, expand};
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
    let expansions = p.expand()?;
    p.finish()?;
    let mut list = ctx.store.list("event", "/v1/events", &page, |event| {
        let event_type = event["type"].as_str().unwrap_or_default();
        kind.as_ref().is_none_or(|k| type_matches(k, event_type))
            && kinds.as_ref().is_none_or(|ks| ks.iter().any(|k| type_matches(k, event_type)))
    })?;
    expand(ctx.store, &mut list, &expansions);
    Ok(list)
}

/// `GET /v1/events/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    p.finish()?;
    let mut event = ctx.store.get_kind("event", "event", id, "id")?.clone();
    expand(ctx.store, &mut event, &expansions);
    Ok(event)
}
