//! `/v1/subscriptions`: create (billing the first period at once), retrieve, list, update
//! (`cancel_at_period_end`, `default_payment_method`, `metadata`) and cancel now.
//!
//! Status follows the first payment as with the default `payment_behavior=allow_incomplete`:
//! paid → `active`, declined → `incomplete` (the invoice stays `open`). With
//! `error_if_incomplete` a decline is a 402 and nothing is kept; with `default_incomplete` no
//! payment is attempted. Renewals and period-end cancellations happen when a test clock passes
//! `current_period_end`.

use serde_json::{Value, json};

use super::customers;
use crate::stripe::billing::{InvoiceRequest, invoice_period, period_end};
use crate::stripe::context::{Ctx, expand, previous_attributes};
use crate::stripe::error::ApiError;
use crate::stripe::ids::new_id;
use crate::stripe::params::{Page, Params};

/// Stripe's limits, which also keep every invoice total far from integer overflow.
const MAX_ITEMS: usize = 20;
const MAX_QUANTITY: i64 = 1_000_000;

const BEHAVIOURS: [&str; 4] =
    ["allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"];

/// A requested subscription item.
struct ItemRequest {
    price: Value,
    quantity: i64,
}

fn plan_from(price: &Value) -> Value {
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

/// `POST /v1/subscriptions`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let customer_id = p.required_string("customer")?;
    let raw_items = p.array("items")?.ok_or_else(|| ApiError::missing("items"))?;
    if raw_items.len() > MAX_ITEMS {
        return Err(ApiError::param("items", format!("A subscription can have at most {MAX_ITEMS} items.")));
    }
    let mut requested = Vec::new();
    for (index, raw) in raw_items.into_iter().enumerate() {
        let mut item = p.nested("items", index, raw)?;
        let name = item.name("price");
        let price_id = item.required_string("price")?;
        let quantity = item.integer("quantity")?.unwrap_or(1);
        let _ = item.metadata()?;
        item.finish()?;
        let price = ctx.store.get_kind("price", "price", &price_id, &name)?.clone();
        if price["type"] != "recurring" {
            return Err(ApiError::param(
                name,
                "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
            ));
        }
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(ApiError::param(
                format!("items[{index}][quantity]"),
                format!("Invalid quantity: must be between 1 and {MAX_QUANTITY}."),
            ));
        }
        requested.push(ItemRequest { price, quantity });
    }
    let default_payment_method = p.string("default_payment_method")?.filter(|s| !s.is_empty());
    let metadata = p.metadata()?;
    let description = p.clearable_string("description")?.flatten();
    let payment_behavior = p.string("payment_behavior")?.unwrap_or_else(|| "allow_incomplete".into());
    let cancel_at_period_end = p.boolean("cancel_at_period_end")?.unwrap_or(false);
    let _off_session = p.boolean("off_session")?;
    let _proration = p.string("proration_behavior")?;
    if let Some(method) = p.string("collection_method")?
        && method != "charge_automatically"
    {
        return Err(ApiError::param(
            "collection_method",
            "The fake only supports collection_method=charge_automatically.",
        ));
    }
    if let Some(mut settings) = p.object("payment_settings")? {
        let _ = settings.string("save_default_payment_method")?;
        let _ = settings.string_array("payment_method_types")?;
        settings.finish()?;
    }
    let expansions = p.expand()?;
    p.finish()?;

    if !BEHAVIOURS.contains(&payment_behavior.as_str()) {
        return Err(ApiError::param("payment_behavior", format!("Invalid payment_behavior: {payment_behavior}")));
    }
    let Some(first) = requested.first() else { return Err(ApiError::missing("items")) };
    let customer = customers::require(ctx, &customer_id, "customer")?.clone();
    if let Some(pm) = &default_payment_method {
        let attached =
            ctx.store.get(pm).is_some_and(|m| m["object"] == "payment_method" && m["customer"] == customer_id.as_str());
        if !attached {
            return Err(ApiError::param(
                "default_payment_method",
                format!(
                    "The customer does not have a payment method with the ID {pm}. The payment method must be attached to the customer."
                ),
            ));
        }
    }
    let currency = first.price["currency"].clone();
    let interval = first.price["recurring"]["interval"].as_str().unwrap_or("month").to_string();
    let count = first.price["recurring"]["interval_count"].as_i64().unwrap_or(1);
    let at = ctx.time_for_customer(Some(&customer_id));
    let end = period_end(at, &interval, count);
    let id = new_id("sub");
    let items: Vec<Value> = requested
        .iter()
        .map(|item| {
            json!({
                "id": new_id("si"),
                "object": "subscription_item",
                "billing_thresholds": null,
                "created": at,
                "current_period_end": end,
                "current_period_start": at,
                "discounts": [],
                "metadata": {},
                "plan": plan_from(&item.price),
                "price": item.price,
                "quantity": item.quantity,
                "subscription": id,
                "tax_rates": [],
            })
        })
        .collect();
    let invoice_id = new_id("in");
    let mut subscription = json!({
        "id": id,
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": { "enabled": false, "liability": null, "disabled_reason": null },
        "billing_cycle_anchor": at,
        "billing_cycle_anchor_config": null,
        "billing_mode": { "type": "classic", "flexible": null },
        "billing_thresholds": null,
        "cancel_at": if cancel_at_period_end { json!(end) } else { Value::Null },
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": if cancel_at_period_end { json!(at) } else { Value::Null },
        "cancellation_details": { "comment": null, "feedback": null, "reason": null },
        "collection_method": "charge_automatically",
        "created": at,
        "currency": currency,
        "current_period_end": end,
        "current_period_start": at,
        "customer": customer_id,
        "customer_account": null,
        "billing_schedules": [],
        "managed_payments": null,
        "days_until_due": null,
        "default_payment_method": default_payment_method,
        "default_source": null,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "ended_at": null,
        "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
        "items": { "object": "list", "data": items, "has_more": false, "url": format!("/v1/subscription_items?subscription={id}") },
        "latest_invoice": invoice_id,
        "livemode": false,
        "metadata": {},
        "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null,
        "pause_collection": null,
        "payment_settings": { "payment_method_options": null, "payment_method_types": null, "save_default_payment_method": "off" },
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "schedule": null,
        "start_date": at,
        "status": "incomplete",
        "test_clock": customer["test_clock"],
        "transfer_data": null,
        "trial_end": null,
        "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
        "trial_start": null,
    });
    if let Some(metadata) = metadata {
        metadata.apply(&mut subscription);
    }
    ctx.store.insert("subscription", subscription.clone());
    let outcome = invoice_period(
        ctx,
        InvoiceRequest {
            subscription: &subscription,
            reason: "subscription_create",
            period: (at, at),
            service_period: (at, end),
            at,
            attempt_payment: payment_behavior != "default_incomplete",
            invoice_id,
        },
    );
    if !outcome.paid && payment_behavior == "error_if_incomplete" {
        // Stripe keeps no subscription that could not start.
        ctx.store.remove("subscription", &id);
        return Err(outcome
            .decline
            .unwrap_or_else(|| ApiError::InvalidRequest("The subscription could not be paid.".into())));
    }
    subscription["status"] = json!(if outcome.paid { "active" } else { "incomplete" });
    if let Some(stored) = ctx.store.get_mut(&id) {
        *stored = subscription.clone();
    }
    ctx.emit("customer.subscription.created", &subscription, None, at);
    expand(ctx.store, &mut subscription, &expansions);
    Ok(subscription)
}

/// `GET /v1/subscriptions/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    p.finish()?;
    let mut subscription = ctx.store.get_kind("subscription", "subscription", id, "id")?.clone();
    expand(ctx.store, &mut subscription, &expansions);
    Ok(subscription)
}

/// `GET /v1/subscriptions` (filters: `customer`, `price`, `status`; `all` includes canceled)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    let customer = p.string("customer")?;
    let price = p.string("price")?;
    let status = p.string("status")?;
    let _ = p.string("test_clock")?;
    let expansions = p.expand()?;
    p.finish()?;
    let mut list = ctx.store.list("subscription", "/v1/subscriptions", &page, |s| {
        let status_ok = match status.as_deref() {
            Some("all") => true,
            Some(wanted) => s["status"] == wanted,
            // Stripe's default hides canceled subscriptions.
            None => s["status"] != "canceled",
        };
        status_ok
            && customer.as_ref().is_none_or(|c| s["customer"] == c.as_str())
            && price.as_ref().is_none_or(|p| {
                s["items"]["data"].as_array().is_some_and(|items| items.iter().any(|i| i["price"]["id"] == p.as_str()))
            })
    })?;
    expand(ctx.store, &mut list, &expansions);
    Ok(list)
}

/// `POST /v1/subscriptions/{id}`
pub fn update(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let before = ctx.store.get_kind("subscription", "subscription", id, "id")?.clone();
    let cancel_at_period_end = p.boolean("cancel_at_period_end")?;
    let default_payment_method = p.clearable_string("default_payment_method")?;
    let metadata = p.metadata()?;
    let description = p.clearable_string("description")?;
    let _proration = p.string("proration_behavior")?;
    let _behavior = p.string("payment_behavior")?;
    let cancellation_details = match p.object("cancellation_details")? {
        Some(mut details) => {
            let comment = details.clearable_string("comment")?.flatten();
            let feedback = details.clearable_string("feedback")?.flatten();
            details.finish()?;
            Some((comment, feedback))
        }
        None => None,
    };
    let expansions = p.expand()?;
    p.finish()?;

    let canceled = before["status"] == "canceled";
    if canceled && (cancel_at_period_end.is_some() || default_payment_method.is_some() || description.is_some()) {
        return Err(ApiError::InvalidRequest(
            "A canceled subscription can only update its cancellation_details and metadata.".into(),
        ));
    }
    let customer_id = before["customer"].as_str().unwrap_or_default().to_string();
    if let Some(Some(pm)) = &default_payment_method {
        let attached =
            ctx.store.get(pm).is_some_and(|m| m["object"] == "payment_method" && m["customer"] == customer_id.as_str());
        if !attached {
            return Err(ApiError::param(
                "default_payment_method",
                format!(
                    "The customer does not have a payment method with the ID {pm}. The payment method must be attached to the customer."
                ),
            ));
        }
    }
    let at = ctx.time_for_customer(Some(&customer_id));
    let mut after = before.clone();
    if let Some(flag) = cancel_at_period_end {
        after["cancel_at_period_end"] = json!(flag);
        after["cancel_at"] = if flag { after["current_period_end"].clone() } else { Value::Null };
        after["canceled_at"] = if flag { json!(at) } else { Value::Null };
        if flag {
            after["cancellation_details"]["reason"] = json!("cancellation_requested");
        } else {
            after["cancellation_details"]["reason"] = Value::Null;
        }
    }
    if let Some(pm) = default_payment_method {
        after["default_payment_method"] = json!(pm);
    }
    if let Some(description) = description {
        after["description"] = json!(description);
    }
    if let Some((comment, feedback)) = cancellation_details {
        after["cancellation_details"]["comment"] = json!(comment);
        after["cancellation_details"]["feedback"] = json!(feedback);
    }
    if let Some(metadata) = metadata {
        metadata.apply(&mut after);
    }
    if let Some(stored) = ctx.store.get_mut(id) {
        *stored = after.clone();
    }
    if let Some(previous) = previous_attributes(&before, &after) {
        ctx.emit("customer.subscription.updated", &after, Some(previous), at);
    }
    let mut response = after;
    expand(ctx.store, &mut response, &expansions);
    Ok(response)
}

/// `DELETE /v1/subscriptions/{id}`: cancels at once.
pub fn cancel(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let _ = p.boolean("invoice_now")?;
    let _ = p.boolean("prorate")?;
    if let Some(mut details) = p.object("cancellation_details")? {
        let _ = details.string("comment")?;
        let _ = details.string("feedback")?;
        details.finish()?;
    }
    let expansions = p.expand()?;
    p.finish()?;
    let subscription = ctx.store.get_kind("subscription", "subscription", id, "id")?;
    if subscription["status"] == "canceled" {
        return Err(ApiError::InvalidRequest(format!("The subscription {id} has already been canceled.")));
    }
    let customer = subscription["customer"].as_str().map(str::to_string);
    let at = ctx.time_for_customer(customer.as_deref());
    let mut canceled = cancel_now(ctx, id, at).unwrap_or_default();
    expand(ctx.store, &mut canceled, &expansions);
    Ok(canceled)
}

/// Ends a subscription at `at` and emits `customer.subscription.deleted`.
pub fn cancel_now(ctx: &mut Ctx<'_>, id: &str, at: i64) -> Option<Value> {
    let subscription = ctx.store.get_mut(id)?;
    let requested_earlier = subscription["cancel_at_period_end"] == true;
    subscription["status"] = json!("canceled");
    subscription["ended_at"] = json!(at);
    if !requested_earlier || subscription["canceled_at"].is_null() {
        subscription["canceled_at"] = json!(at);
    }
    if subscription["cancellation_details"]["reason"].is_null() {
        subscription["cancellation_details"]["reason"] = json!("cancellation_requested");
    }
    let snapshot = subscription.clone();
    ctx.emit("customer.subscription.deleted", &snapshot, None, at);
    Some(snapshot)
}
