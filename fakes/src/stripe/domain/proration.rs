//! Prorations, as Stripe computes them when a subscription's items change mid-period: a credit
//! for the unused time of each item as it was, and a charge for the remaining time of each item as
//! it is now, both by the second: `amount × (period_end − proration_date) / (period_end −
//! period_start)`, rounded to the nearest cent. They become pending invoice items (`ii_...`,
//! `proration: true`) that the next invoice of the subscription picks up, or that an
//! `always_invoice` update invoices at once.

use chrono::DateTime;
use serde_json::{Value, json};

use super::subscription_cycle::current_period;
use crate::stripe::error::ApiError;
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::store::Store;

/// `amount` for the part of `period` from `from` to its end, rounded half away from zero.
pub fn prorated(amount: i64, period: (i64, i64), from: i64) -> i64 {
    let (start, end) = period;
    let length = i128::from(end - start);
    let remaining = i128::from(end - from.clamp(start, end));
    if length <= 0 {
        return 0;
    }
    let numerator = i128::from(amount) * remaining * 2;
    let rounded = (numerator + numerator.signum() * length) / (2 * length);
    rounded as i64
}

/// `proration_date` checked against the current period (Stripe refuses dates outside it);
/// without one, `now` (clock time).
pub fn proration_date(requested: Option<i64>, period: (i64, i64), now: i64, param: &str) -> Result<i64, ApiError> {
    match requested {
        None => Ok(now.clamp(period.0, period.1)),
        Some(date) if (period.0..=period.1).contains(&date) => Ok(date),
        Some(date) => Err(ApiError::param(
            param,
            format!("proration_date ({date}) must be within the current period ({} to {}).", period.0, period.1),
        )),
    }
}

fn amount_of(item: &Value) -> i64 {
    item["price"]["unit_amount"].as_i64().unwrap_or_default().saturating_mul(item["quantity"].as_i64().unwrap_or(1))
}

fn same_billing(old: &Value, new: &Value) -> bool {
    old["price"]["id"] == new["price"]["id"] && old["quantity"] == new["quantity"]
}

/// The proration invoice items for replacing `subscription`'s items by `new_items` at
/// `proration_date`, not yet stored. Unchanged items prorate nothing.
pub fn invoice_items(store: &Store, subscription: &Value, new_items: &[Value], proration_date: i64) -> Vec<Value> {
    let period = current_period(subscription);
    let old_items = subscription["items"]["data"].as_array().cloned().unwrap_or_default();
    let mut lines = Vec::new();
    for old in &old_items {
        let kept = new_items.iter().find(|new| new["id"] == old["id"]);
        if kept.is_none_or(|new| !same_billing(old, new)) {
            let amount = -prorated(amount_of(old), period, proration_date);
            lines.push(invoice_item(store, subscription, old, amount, "Unused time", period, proration_date));
        }
    }
    for new in new_items {
        let before = old_items.iter().find(|old| old["id"] == new["id"]);
        if before.is_none_or(|old| !same_billing(old, new)) {
            let amount = prorated(amount_of(new), period, proration_date);
            lines.push(invoice_item(store, subscription, new, amount, "Remaining time", period, proration_date));
        }
    }
    lines.retain(|item| item["amount"] != 0);
    lines
}

fn invoice_item(
    store: &Store,
    subscription: &Value,
    item: &Value,
    amount: i64,
    what: &str,
    period: (i64, i64),
    from: i64,
) -> Value {
    let price = &item["price"];
    let quantity = item["quantity"].as_i64().unwrap_or(1);
    let product = price["nickname"].as_str().map(str::to_string).unwrap_or_else(|| {
        let id = price["product"].as_str().unwrap_or_default();
        store.get(id).and_then(|p| p["name"].as_str().map(str::to_string)).unwrap_or_else(|| id.to_string())
    });
    let counted = if quantity == 1 { product } else { format!("{quantity} × {product}") };
    let date = DateTime::from_timestamp(from, 0).map(|d| d.format("%-d %b %Y").to_string()).unwrap_or_default();
    json!({
        "id": new_id(Kind::InvoiceItem.prefix()),
        "object": "invoiceitem",
        "amount": amount,
        "currency": price["currency"],
        "customer": subscription["customer"],
        "customer_account": null,
        "date": from,
        "description": format!("{what} on {counted} after {date}"),
        "discountable": false,
        "discounts": [],
        "invoice": null,
        "livemode": false,
        "metadata": {},
        "net_amount": amount,
        "parent": {
            "type": "subscription_details",
            "subscription_details": { "subscription": subscription["id"], "subscription_item": item["id"] },
        },
        "period": { "start": from, "end": period.1 },
        "pricing": {
            "type": "price_details",
            "price_details": { "price": price["id"], "product": price["product"] },
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "proration": true,
        "quantity": quantity,
        "quantity_decimal": quantity.to_string(),
        "tax_rates": [],
        "test_clock": subscription["test_clock"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn half_a_period_left_prorates_half_the_amount() {
        assert_eq!(prorated(59_900, (0, 30 * DAY), 15 * DAY), 29_950);
        assert_eq!(prorated(-59_900, (0, 30 * DAY), 15 * DAY), -29_950);
    }

    #[test]
    fn proration_is_by_the_second_and_rounds_to_the_nearest_cent() {
        // 31-day January, changed 10 days and 1 second in: 1_814_399 of 2_678_400 seconds remain.
        let period = (1_767_225_600, 1_767_225_600 + 31 * DAY);
        let from = period.0 + 10 * DAY + 1;
        let exact = 59_900.0 * (period.1 - from) as f64 / (31 * DAY) as f64;
        assert_eq!(prorated(59_900, period, from), exact.round() as i64);
    }

    #[test]
    fn nothing_is_left_at_or_after_the_period_end() {
        assert_eq!(prorated(1_000, (0, 10), 10), 0);
        assert_eq!(prorated(1_000, (0, 10), 0), 1_000);
    }
}
