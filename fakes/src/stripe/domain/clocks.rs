//! Test clocks moving: what one advance runs, in time order (renewals and period-end
//! cancellations of the subscriptions on the clock, and retries of their failed invoices), each
//! stamped at the moment it would have happened. The API answers `advance` at once with `status: "advancing"`; [`finish_advance`]
//! runs right after (see `clock_runner`) and leaves the clock `ready`.

use serde_json::{Value, json};

use super::payment_retries::{after_final_retry, next_retry, retry};
use super::subscription_cycle::{cancel_now, current_period, renew};
use crate::stripe::context::{Ctx, Followup, unix_now};
use crate::stripe::error::ApiError;
use crate::stripe::kinds::Kind;

/// Latest time a clock may show (end of year 9999), so period arithmetic cannot overflow.
pub const MAX_TIME: i64 = 253_402_300_799;

/// Renewals, cancellations and retries one advance may run; Stripe itself allows only two intervals.
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

/// Something on a clock that falls due at a moment; at one moment, ends of periods run before
/// retries (a renewal's own attempt comes first).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    /// A subscription's period ends: it renews, or ends if set to cancel at period end.
    PeriodEnd(String),
    /// A failed invoice's next payment attempt.
    Retry(String),
}

/// Subscription statuses that move to a next period at its end (`unpaid` ones too: their
/// invoices are issued, not charged).
const RENEWING: [&str; 4] = ["active", "past_due", "trialing", "unpaid"];

/// What falls due first on clock `id`, if it does by `to`.
fn next_due(ctx: &Ctx<'_>, id: &str, to: i64) -> Option<(i64, Due)> {
    let period_end = ctx
        .store
        .ids(Kind::Subscription, Some(("test_clock", id)))
        .iter()
        .filter_map(|sub| ctx.store.get(sub))
        .filter(|s| s["status"].as_str().is_some_and(|status| RENEWING.contains(&status)))
        .map(|s| (current_period(&s).1, Due::PeriodEnd(s["id"].as_str().unwrap_or_default().to_string())))
        .filter(|(end, _)| *end <= to)
        .min();
    let retry = next_retry(ctx.store, id, to).map(|(at, invoice)| (at, Due::Retry(invoice)));
    period_end.into_iter().chain(retry).min()
}

/// A period ends at `at`: the subscription ends (cancel at period end) or renews; a renewal that
/// failed with no retry in the schedule is the final failure at once.
fn end_period(ctx: &mut Ctx<'_>, subscription: &str, at: i64) {
    let cancels = ctx.store.get(subscription).is_some_and(|s| s["cancel_at_period_end"] == true);
    if cancels {
        cancel_now(ctx, subscription, at);
        return;
    }
    let Some(outcome) = renew(ctx, subscription, at) else { return };
    if let Some(invoice) = ctx.store.get(&outcome.id).filter(|i| !outcome.paid && i["next_payment_attempt"].is_null()) {
        after_final_retry(ctx, &invoice, at);
    }
}

/// Runs everything due up to `to` in time order, then marks the clock `ready` at `to`.
pub fn finish_advance(ctx: &mut Ctx<'_>, id: &str, to: i64) {
    // Each period end moves a period forward by at least a day, and each retry moves its invoice's
    // next attempt forward by at least a day or clears it; the cap bounds even absurd advances.
    for _ in 0..MAX_STEPS {
        let Some((at, due)) = next_due(ctx, id, to) else { break };
        if let Some(mut clock) = ctx.store.get(id) {
            clock["frozen_time"] = json!(at);
            ctx.store.replace(&clock);
        }
        match due {
            Due::PeriodEnd(subscription) => end_period(ctx, &subscription, at),
            Due::Retry(invoice) => retry(ctx, &invoice, at),
        }
    }
    let Some(mut clock) = ctx.store.get(id) else { return };
    clock["frozen_time"] = json!(to);
    clock["status"] = json!("ready");
    clock["status_details"] = json!({});
    let text = ctx.store.replace(&clock).unwrap_or_default();
    ctx.emit_text("test_helpers.test_clock.ready", text, None, unix_now());
}
