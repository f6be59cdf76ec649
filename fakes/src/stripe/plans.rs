//! Stripe's legacy `plan` view of a recurring price. Subscription items still carry it beside
//! `price`, and invoice lines carried it before 2025-03-31.basil, so both the store and the
//! version renderer build it from the same price.

use serde_json::{Value, json};

/// The `plan` object Stripe shows for a recurring price.
pub fn plan_from(price: &Value) -> Value {
    json!({
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": price["recurring"]["interval"],
        "interval_count": price["recurring"]["interval_count"],
        "livemode": false,
        "metadata": price["metadata"],
        "meter": null,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": null,
        "transform_usage": null,
        "trial_period_days": null,
        "usage_type": price["recurring"]["usage_type"],
    })
}
