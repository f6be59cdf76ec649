//! A subscription over time: its billing period (kept on each item, as Stripe does since
//! 2025-03-31.basil), its items, the renewal that moves it to the next period and bills it, and
//! cancellation. Subscription creation, updates and test-clock advances all come through here.

use chrono::{DateTime, Months, TimeDelta};
use serde_json::{Value, json};

use super::invoicing::{InvoiceRequest, Invoiced, draft, issue, line_from_invoice_item, pending_items, period_line};
use crate::stripe::context::{Ctx, previous_attributes};
use crate::stripe::ids::new_id;
use crate::stripe::plans::plan_from;

/// End of the period starting at `start` for `interval` × `count` (calendar months clamp to the
/// month's last day, as Stripe's billing does).
pub fn period_end(start: i64, interval: &str, count: i64) -> i64 {
    let Some(begin) = DateTime::from_timestamp(start, 0) else { return start.saturating_add(30 * 86_400) };
    let count = count.clamp(1, 1_000) as u32;
    let end = match interval {
        "day" => begin.checked_add_signed(TimeDelta::days(count.into())),
        "week" => begin.checked_add_signed(TimeDelta::weeks(count.into())),
        "year" => begin.checked_add_months(Months::new(12 * count)),
        _ => begin.checked_add_months(Months::new(count)),
    };
    end.map(|e| e.timestamp()).unwrap_or(start.saturating_add(30 * 86_400))
}

/// The subscription's current period `(start, end)`, read from its first item.
pub fn current_period(subscription: &Value) -> (i64, i64) {
    let item = &subscription["items"]["data"][0];
    let start = item["current_period_start"].as_i64().unwrap_or_default();
    (start, item["current_period_end"].as_i64().unwrap_or(start))
}

/// The billing interval `(interval, count)` of a subscription (its items share one).
pub fn interval_of(subscription: &Value) -> (String, i64) {
    let recurring = &subscription["items"]["data"][0]["price"]["recurring"];
    (recurring["interval"].as_str().unwrap_or("month").to_string(), recurring["interval_count"].as_i64().unwrap_or(1))
}

/// Sets the current period on each item.
pub fn set_period(subscription: &mut Value, start: i64, end: i64) {
    if let Some(items) = subscription["items"]["data"].as_array_mut() {
        for item in items {
            item["current_period_start"] = json!(start);
            item["current_period_end"] = json!(end);
        }
    }
}

/// A new subscription item for `price` × `quantity`, in the period `(start, end)`.
pub fn new_item(subscription_id: &str, price: &Value, quantity: i64, created: i64, period: (i64, i64)) -> Value {
    json!({
        "id": new_id("si"),
        "object": "subscription_item",
        "billing_thresholds": null,
        "created": created,
        "current_period_end": period.1,
        "current_period_start": period.0,
        "discounts": [],
        "metadata": {},
        "plan": plan_from(price),
        "price": price,
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    })
}

/// The lines of the invoice opening `period` for a subscription: its pending prorations first,
/// then every item for the whole period.
pub fn next_invoice_lines(ctx: &Ctx<'_>, subscription: &Value, invoice_id: &str, period: (i64, i64)) -> Vec<Value> {
    let customer = subscription["customer"].as_str().unwrap_or_default();
    let id = subscription["id"].as_str().unwrap_or_default();
    let mut lines: Vec<Value> = pending_items(ctx.store, customer, id)
        .iter()
        .map(|item| line_from_invoice_item(ctx.store, invoice_id, item))
        .collect();
    if let Some(items) = subscription["items"]["data"].as_array() {
        lines.extend(items.iter().map(|item| period_line(ctx.store, invoice_id, id, item, period)));
    }
    lines
}

/// Moves a subscription into its next period at `at` and bills it; a decline makes it `past_due`
/// (its retries are `payment_retries`'s). An `unpaid` subscription's invoice is issued but not
/// charged, and the subscription stays `unpaid`, as Stripe does. Returns the invoice's outcome.
pub fn renew(ctx: &mut Ctx<'_>, subscription_id: &str, at: i64) -> Option<Invoiced> {
    let before = ctx.store.get(subscription_id)?;
    let (old_start, old_end) = current_period(&before);
    let (interval, count) = interval_of(&before);
    let new_end = period_end(old_end, &interval, count);
    let invoice_id = new_id("in");
    let mut after = before.clone();
    set_period(&mut after, old_end, new_end);
    after["latest_invoice"] = json!(invoice_id);
    ctx.store.replace(&after);
    let lines = next_invoice_lines(ctx, &after, &invoice_id, (old_end, new_end));
    let invoice = draft(
        ctx.store,
        InvoiceRequest {
            subscription: &after,
            reason: "subscription_cycle",
            period: (old_start, old_end),
            lines,
            at,
            invoice_id,
        },
    );
    let unpaid = before["status"] == "unpaid";
    let outcome = issue(ctx, invoice, !unpaid);
    after["status"] = json!(match (outcome.paid, unpaid) {
        (true, _) => "active",
        (false, true) => "unpaid",
        (false, false) => "past_due",
    });
    let text = ctx.store.replace(&after).unwrap_or_default();
    ctx.emit_text("customer.subscription.updated", text, previous_attributes(&before, &after), at);
    Some(outcome)
}

/// Ends a subscription at `at` and emits `customer.subscription.deleted`.
pub fn cancel_now(ctx: &mut Ctx<'_>, id: &str, at: i64) -> Option<Value> {
    let mut subscription = ctx.store.get(id)?;
    let requested_earlier = subscription["cancel_at_period_end"] == true;
    subscription["status"] = json!("canceled");
    subscription["ended_at"] = json!(at);
    if !requested_earlier || subscription["canceled_at"].is_null() {
        subscription["canceled_at"] = json!(at);
    }
    if subscription["cancellation_details"]["reason"].is_null() {
        subscription["cancellation_details"]["reason"] = json!("cancellation_requested");
    }
    let text = ctx.store.replace(&subscription)?;
    ctx.emit_text("customer.subscription.deleted", text, None, at);
    Some(subscription)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monthly_period_from_january_31_ends_on_the_last_day_of_february() {
        // 2026-01-31T00:00:00Z → 2026-02-28T00:00:00Z
        assert_eq!(period_end(1_769_817_600, "month", 1), 1_772_236_800);
    }

    #[test]
    fn a_yearly_period_is_twelve_months() {
        assert_eq!(period_end(1_767_225_600, "year", 1), 1_798_761_600);
    }
}
