//! Subscription billing: the invoice for a period (created, finalized, then paid through a
//! PaymentIntent on the default payment method), and the renewal that moves a subscription to
//! its next period. Subscription creation and test-clock advances both come through here, so a
//! declining card fails a renewal exactly as it fails a first payment.
//!
//! As with Stripe, an invoice's own `period_start`/`period_end` is the period *before* it (both
//! equal to the creation time for the first invoice), while its line item's `period` is the
//! service period being paid for.

use chrono::{DateTime, Months, TimeDelta};
use serde_json::{Value, json};

use super::charging::{ChargeRequest, charge};
use super::context::{Ctx, previous_attributes};
use super::error::ApiError;
use super::ids::new_id;

/// Charges and keeps only the intent (invoices do not need its text).
fn charge_intent(ctx: &mut Ctx<'_>, request: ChargeRequest) -> Result<Value, ApiError> {
    charge(ctx, request).map(|charged| charged.into_value())
}

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

/// The outcome of invoicing one period.
pub struct Invoiced {
    /// Whether the invoice ended up paid.
    pub paid: bool,
    /// The card error, when the charge declined.
    pub decline: Option<ApiError>,
}

/// What an invoice bills for.
pub struct InvoiceRequest<'a> {
    /// The subscription billed.
    pub subscription: &'a Value,
    /// `subscription_create` or `subscription_cycle`.
    pub reason: &'static str,
    /// The invoice's own period (the one before the service period).
    pub period: (i64, i64),
    /// The service period the line item covers.
    pub service_period: (i64, i64),
    /// When it happens (clock time).
    pub at: i64,
    /// Attempt payment now (false for `payment_behavior=default_incomplete`).
    pub attempt_payment: bool,
    /// Pre-chosen id, so the subscription can point at it before it exists.
    pub invoice_id: String,
}

/// Creates, finalizes and (if asked) pays the invoice for one period of a subscription.
pub fn invoice_period(ctx: &mut Ctx<'_>, request: InvoiceRequest<'_>) -> Invoiced {
    let subscription = request.subscription;
    let customer_id = subscription["customer"].as_str().unwrap_or_default().to_string();
    let customer = ctx.store.get(&customer_id).cloned().unwrap_or(Value::Null);
    let currency = subscription["currency"].as_str().unwrap_or("usd").to_string();
    let invoice_id = request.invoice_id.clone();
    let lines: Vec<Value> = subscription["items"]["data"]
        .as_array()
        .map(|items| {
            items.iter().map(|item| line_item(&invoice_id, subscription, item, request.service_period)).collect()
        })
        .unwrap_or_default();
    let total: i64 = lines.iter().filter_map(|line| line["amount"].as_i64()).sum();
    let sequence = customer["next_invoice_sequence"].as_i64().unwrap_or(1);
    if let Some(stored) = ctx.store.get_mut(&customer_id) {
        stored["next_invoice_sequence"] = json!(sequence + 1);
    }
    let prefix = customer["invoice_prefix"].as_str().unwrap_or("FAKE").to_string();
    let mut invoice = json!({
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Billing Fake",
        "account_tax_ids": null,
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "application": null,
        "attempt_count": 0,
        "attempted": false,
        "auto_advance": true,
        "automatic_tax": { "enabled": false, "liability": null, "status": null, "disabled_reason": null, "provider": null },
        "automatically_finalizes_at": null,
        "billing_reason": request.reason,
        "collection_method": "charge_automatically",
        "created": request.at,
        "currency": currency,
        "custom_fields": null,
        "customer": customer_id,
        "customer_account": null,
        "customer_address": null,
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": null,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "due_date": null,
        "effective_at": null,
        "ending_balance": null,
        "footer": null,
        "from_invoice": null,
        "hosted_invoice_url": null,
        "invoice_pdf": null,
        "issuer": { "type": "self" },
        "last_finalization_error": null,
        "latest_revision": null,
        "lines": { "object": "list", "data": lines, "has_more": false, "url": format!("/v1/invoices/{invoice_id}/lines") },
        "livemode": false,
        "metadata": {},
        "next_payment_attempt": null,
        "number": null,
        "on_behalf_of": null,
        "parent": {
            "type": "subscription_details",
            "quote_details": null,
            "subscription_details": { "metadata": subscription["metadata"], "subscription": subscription["id"] },
        },
        "payment_intent": null,
        "payment_settings": { "default_mandate": null, "payment_method_options": null, "payment_method_types": null },
        "period_end": request.period.1,
        "period_start": request.period.0,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "rendering": null,
        "shipping_cost": null,
        "shipping_details": null,
        "starting_balance": 0,
        "statement_descriptor": null,
        "status": "draft",
        "status_transitions": { "finalized_at": null, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null },
        "subscription": subscription["id"],
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": subscription["test_clock"],
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": null,
    });
    ctx.store.insert("invoice", invoice.clone());
    ctx.emit("invoice.created", &invoice, None, request.at);

    invoice["status"] = json!("open");
    invoice["number"] = json!(format!("{prefix}-{sequence:04}"));
    invoice["effective_at"] = json!(request.at);
    invoice["status_transitions"]["finalized_at"] = json!(request.at);
    invoice["hosted_invoice_url"] = json!(format!("https://invoice.stripe.com/i/fake/{invoice_id}"));
    invoice["invoice_pdf"] = json!(format!("https://pay.stripe.com/invoice/fake/{invoice_id}/pdf"));
    save(ctx, &invoice);
    ctx.emit("invoice.finalized", &invoice, Some(json!({ "status": "draft" })), request.at);

    if total == 0 {
        mark_paid(ctx, &mut invoice, request.at);
        return Invoiced { paid: true, decline: None };
    }
    let payment_method = subscription["default_payment_method"]
        .as_str()
        .or_else(|| customer["invoice_settings"]["default_payment_method"].as_str())
        .map(str::to_string);
    let attempt = request.attempt_payment && payment_method.is_some();
    let result = charge_intent(
        ctx,
        ChargeRequest {
            amount: total,
            currency,
            customer: Some(customer_id),
            payment_method,
            confirm: attempt,
            off_session: true,
            description: Some(match request.reason {
                "subscription_create" => "Subscription creation".to_string(),
                _ => "Subscription update".to_string(),
            }),
            metadata: None,
            at: request.at,
        },
    );
    let intent_id = match &result {
        Ok(intent) => intent["id"].clone(),
        Err(ApiError::Card { payment_intent: Some(intent), .. }) => intent["id"].clone(),
        Err(_) => Value::Null,
    };
    invoice["payment_intent"] = intent_id;
    match result {
        Ok(intent) if intent["status"] == "succeeded" => {
            invoice["attempted"] = json!(true);
            invoice["attempt_count"] = json!(1);
            mark_paid(ctx, &mut invoice, request.at);
            Invoiced { paid: true, decline: None }
        }
        other => {
            if attempt {
                invoice["attempted"] = json!(true);
                invoice["attempt_count"] = json!(1);
                invoice["next_payment_attempt"] = json!(request.at + 3 * 86_400);
            }
            save(ctx, &invoice);
            if attempt {
                ctx.emit("invoice.payment_failed", &invoice, None, request.at);
            }
            Invoiced { paid: false, decline: other.err() }
        }
    }
}

fn mark_paid(ctx: &mut Ctx<'_>, invoice: &mut Value, at: i64) {
    let before = invoice.clone();
    invoice["status"] = json!("paid");
    invoice["amount_paid"] = invoice["amount_due"].clone();
    invoice["amount_remaining"] = json!(0);
    invoice["status_transitions"]["paid_at"] = json!(at);
    save(ctx, invoice);
    let previous = previous_attributes(&before, invoice);
    ctx.emit("invoice.paid", invoice, previous.clone(), at);
    ctx.emit("invoice.payment_succeeded", invoice, previous, at);
}

fn save(ctx: &mut Ctx<'_>, object: &Value) {
    if let Some(id) = object["id"].as_str()
        && let Some(stored) = ctx.store.get_mut(id)
    {
        *stored = object.clone();
    }
}

fn line_item(invoice_id: &str, subscription: &Value, item: &Value, period: (i64, i64)) -> Value {
    let quantity = item["quantity"].as_i64().unwrap_or(1);
    let unit_amount = item["price"]["unit_amount"].as_i64().unwrap_or_default();
    let amount = unit_amount.saturating_mul(quantity);
    json!({
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": item["price"]["currency"],
        "description": format!("{quantity} × {} (at {} / {})",
            item["price"]["nickname"].as_str().or(item["price"]["product"].as_str()).unwrap_or("subscription"),
            unit_amount,
            item["price"]["recurring"]["interval"].as_str().unwrap_or("month")),
        "discount_amounts": [],
        "discountable": true,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": false,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": null,
                "proration": false,
                "proration_details": { "credited_items": null },
                "subscription": subscription["id"],
                "subscription_item": item["id"],
            },
        },
        "period": { "start": period.0, "end": period.1 },
        "pretax_credit_amounts": [],
        "pricing": { "type": "price_details", "unit_amount_decimal": unit_amount.to_string() },
        "quantity": quantity,
        "subscription": subscription["id"],
        "subtotal": amount,
        "taxes": [],
    })
}

/// Moves a subscription into its next period at `at` and bills it; a decline makes it `past_due`.
pub fn renew(ctx: &mut Ctx<'_>, subscription_id: &str, at: i64) {
    let Some(before) = ctx.store.get(subscription_id).cloned() else { return };
    let old_start = before["current_period_start"].as_i64().unwrap_or(at);
    let old_end = before["current_period_end"].as_i64().unwrap_or(at);
    let recurring = &before["items"]["data"][0]["price"]["recurring"];
    let interval = recurring["interval"].as_str().unwrap_or("month").to_string();
    let count = recurring["interval_count"].as_i64().unwrap_or(1);
    let new_end = period_end(old_end, &interval, count);
    let invoice_id = new_id("in");
    let mut after = before.clone();
    set_period(&mut after, old_end, new_end);
    after["latest_invoice"] = json!(invoice_id);
    save(ctx, &after);
    let outcome = invoice_period(
        ctx,
        InvoiceRequest {
            subscription: &after,
            reason: "subscription_cycle",
            period: (old_start, old_end),
            service_period: (old_end, new_end),
            at,
            attempt_payment: true,
            invoice_id,
        },
    );
    after["status"] = json!(if outcome.paid { "active" } else { "past_due" });
    save(ctx, &after);
    let previous = previous_attributes(&before, &after);
    ctx.emit("customer.subscription.updated", &after, previous, at);
}

/// Sets the current period on the subscription and on each item (newer API versions read it there).
pub fn set_period(subscription: &mut Value, start: i64, end: i64) {
    subscription["current_period_start"] = json!(start);
    subscription["current_period_end"] = json!(end);
    if let Some(items) = subscription["items"]["data"].as_array_mut() {
        for item in items {
            item["current_period_start"] = json!(start);
            item["current_period_end"] = json!(end);
        }
    }
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
