//! `/v1/test_helpers/test_clocks`: Stripe's simulated time. Customers created with `test_clock`
//! live on the clock; advancing it runs every renewal or period-end cancellation that falls due,
//! in time order, with each object stamped at the moment it would have happened.
//!
//! `advance` answers at once with `status: "advancing"`; the work runs right after (see
//! `clock_runner`) and the clock reads `ready` when it is done.

use serde_json::{Value, json};

use super::subscriptions;
use crate::stripe::billing;
use crate::stripe::context::{Ctx, Followup, expand, unix_now};
use crate::stripe::error::ApiError;
use crate::stripe::ids::new_id;
use crate::stripe::params::{Page, Params};

const KIND: &str = "test_helpers.test_clock";

/// Latest time a clock may show (end of year 9999), so period arithmetic cannot overflow.
const MAX_TIME: i64 = 253_402_300_799;

/// Renewals and cancellations one advance may run; Stripe itself allows only two intervals.
const MAX_STEPS: usize = 10_000;

fn valid_time(time: i64) -> Result<i64, ApiError> {
    if (0..=MAX_TIME).contains(&time) {
        Ok(time)
    } else {
        Err(ApiError::param("frozen_time", format!("Invalid frozen_time: {time} is not a time between 1970 and 9999.")))
    }
}

/// `POST /v1/test_helpers/test_clocks`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let frozen_time = valid_time(p.integer("frozen_time")?.ok_or_else(|| ApiError::missing("frozen_time"))?)?;
    let name = p.clearable_string("name")?.flatten();
    let expansions = p.expand()?;
    p.finish()?;
    let now = unix_now();
    let mut clock = json!({
        "id": new_id("clock"),
        "object": KIND,
        "created": now,
        "deletes_after": now + 30 * 86_400,
        "frozen_time": frozen_time,
        "livemode": false,
        "name": name,
        "status": "ready",
        "status_details": {},
    });
    ctx.store.insert(KIND, clock.clone());
    ctx.emit("test_helpers.test_clock.created", &clock, None, now);
    expand(ctx.store, &mut clock, &expansions);
    Ok(clock)
}

/// `GET /v1/test_helpers/test_clocks/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let _ = p.expand()?;
    p.finish()?;
    Ok(ctx.store.get_kind(KIND, "test clock", id, "id")?.clone())
}

/// `GET /v1/test_helpers/test_clocks`
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    p.finish()?;
    ctx.store.list(KIND, "/v1/test_helpers/test_clocks", &page, |_| true)
}

/// `DELETE /v1/test_helpers/test_clocks/{id}`
pub fn delete(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    p.finish()?;
    ctx.store.get_kind(KIND, "test clock", id, "id")?;
    if let Some(clock) = ctx.store.remove(KIND, id) {
        ctx.emit("test_helpers.test_clock.deleted", &clock, None, unix_now());
    }
    Ok(json!({ "id": id, "object": KIND, "deleted": true }))
}

/// `POST /v1/test_helpers/test_clocks/{id}/advance`
pub fn advance(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let to = valid_time(p.integer("frozen_time")?.ok_or_else(|| ApiError::missing("frozen_time"))?)?;
    let _ = p.expand()?;
    p.finish()?;
    begin_advance(ctx, id, to)
}

/// Marks the clock `advancing` and schedules the work; errors if it cannot move to `to`.
pub fn begin_advance(ctx: &mut Ctx<'_>, id: &str, to: i64) -> Result<Value, ApiError> {
    let clock = ctx.store.get_kind(KIND, "test clock", id, "id")?;
    if clock["status"] != "ready" {
        return Err(ApiError::InvalidRequest(format!(
            "The test clock {id} is currently advancing. Wait for it to be ready before advancing it again."
        )));
    }
    let current = clock["frozen_time"].as_i64().unwrap_or_default();
    let to = valid_time(to)?;
    if to <= current {
        return Err(ApiError::param(
            "frozen_time",
            format!("The frozen_time ({to}) must be after the test clock's current frozen_time ({current})."),
        ));
    }
    let clock = match ctx.store.get_mut(id) {
        Some(clock) => {
            clock["status"] = json!("advancing");
            clock["status_details"] = json!({ "advancing": { "target_frozen_time": to } });
            clock.clone()
        }
        None => return Err(ApiError::no_such("test clock", id)),
    };
    ctx.emit("test_helpers.test_clock.advancing", &clock, None, unix_now());
    ctx.followups.push(Followup::AdvanceClock { clock_id: id.to_string(), to });
    Ok(clock)
}

/// Runs everything due up to `to` in time order, then marks the clock `ready` at `to`.
pub fn finish_advance(ctx: &mut Ctx<'_>, id: &str, to: i64) {
    // Each step moves a period forward by at least a day; the cap bounds even absurd advances.
    for _ in 0..MAX_STEPS {
        let due = ctx
            .store
            .all("subscription")
            .into_iter()
            .filter(|s| matches!(s["status"].as_str(), Some("active" | "past_due" | "trialing")))
            .filter(|s| s["test_clock"] == id)
            .filter_map(|s| Some((s["current_period_end"].as_i64()?, s["id"].as_str()?.to_string())))
            .filter(|(end, _)| *end <= to)
            .min();
        let Some((at, subscription)) = due else { break };
        if let Some(clock) = ctx.store.get_mut(id) {
            clock["frozen_time"] = json!(at);
        }
        let cancels = ctx.store.get(&subscription).is_some_and(|s| s["cancel_at_period_end"] == true);
        if cancels {
            subscriptions::cancel_now(ctx, &subscription, at);
        } else {
            billing::renew(ctx, &subscription, at);
        }
    }
    let clock = match ctx.store.get_mut(id) {
        Some(clock) => {
            clock["frozen_time"] = json!(to);
            clock["status"] = json!("ready");
            clock["status_details"] = json!({});
            clock.clone()
        }
        None => return,
    };
    ctx.emit("test_helpers.test_clock.ready", &clock, None, unix_now());
}
