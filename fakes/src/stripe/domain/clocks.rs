//! Test clocks moving: what one advance runs, in time order (renewals and period-end
//! cancellations of the subscriptions on the clock), each stamped at the moment it would have
//! happened. The API answers `advance` at once with `status: "advancing"`; [`finish_advance`]
//! runs right after (see `clock_runner`) and leaves the clock `ready`.

use serde_json::{Value, json};

use super::subscription_cycle::{cancel_now, current_period, renew};
use crate::stripe::context::{Ctx, Followup, unix_now};
use crate::stripe::error::ApiError;
use crate::stripe::kinds::Kind;

/// Latest time a clock may show (end of year 9999), so period arithmetic cannot overflow.
pub const MAX_TIME: i64 = 253_402_300_799;

/// Renewals and cancellations one advance may run; Stripe itself allows only two intervals.
const MAX_STEPS: usize = 10_000;

/// `time` if a clock can show it, else the error naming `frozen_time`.
pub fn valid_time(time: i64) -> Result<i64, ApiError> {
    if (0..=MAX_TIME).contains(&time) {
        Ok(time)
    } else {
        Err(ApiError::param("frozen_time", format!("Invalid frozen_time: {time} is not a time between 1970 and 9999.")))
    }
}

/// Marks the clock `advancing` and schedules the work; errors if it cannot move to `to`.
pub fn begin_advance(ctx: &mut Ctx<'_>, id: &str, to: i64) -> Result<Value, ApiError> {
    let mut clock = ctx.store.get_kind(Kind::TestClock, id, "id")?;
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
    clock["status"] = json!("advancing");
    clock["status_details"] = json!({ "advancing": { "target_frozen_time": to } });
    let text = ctx.store.replace(&clock).unwrap_or_default();
    ctx.emit_text("test_helpers.test_clock.advancing", text, None, unix_now());
    ctx.followups.push(Followup::AdvanceClock { clock_id: id.to_string(), to });
    Ok(clock)
}

/// The subscription on clock `id` whose period ends first, if it ends by `to`.
fn next_due(ctx: &Ctx<'_>, id: &str, to: i64) -> Option<(i64, String)> {
    ctx.store
        .ids(Kind::Subscription, Some(("test_clock", id)))
        .iter()
        .filter_map(|sub| ctx.store.get(sub))
        .filter(|s| matches!(s["status"].as_str(), Some("active" | "past_due" | "trialing")))
        .map(|s| (current_period(&s).1, s["id"].as_str().unwrap_or_default().to_string()))
        .filter(|(end, _)| *end <= to)
        .min()
}

/// Runs everything due up to `to` in time order, then marks the clock `ready` at `to`.
pub fn finish_advance(ctx: &mut Ctx<'_>, id: &str, to: i64) {
    // Each step moves a period forward by at least a day; the cap bounds even absurd advances.
    for _ in 0..MAX_STEPS {
        let Some((at, subscription)) = next_due(ctx, id, to) else { break };
        if let Some(mut clock) = ctx.store.get(id) {
            clock["frozen_time"] = json!(at);
            ctx.store.replace(&clock);
        }
        let cancels = ctx.store.get(&subscription).is_some_and(|s| s["cancel_at_period_end"] == true);
        if cancels {
            cancel_now(ctx, &subscription, at);
        } else {
            renew(ctx, &subscription, at);
        }
    }
    let Some(mut clock) = ctx.store.get(id) else { return };
    clock["frozen_time"] = json!(to);
    clock["status"] = json!("ready");
    clock["status_details"] = json!({});
    let text = ctx.store.replace(&clock).unwrap_or_default();
    ctx.emit_text("test_helpers.test_clock.ready", text, None, unix_now());
}
