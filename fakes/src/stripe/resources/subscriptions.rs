//! `/v1/subscriptions`: create (billing the first period at once), retrieve, list, update and
//! cancel now.
//!
//! Status follows the first payment as with the default `payment_behavior=allow_incomplete`:
//! paid → `active`, declined → `incomplete` (the invoice stays `open`). With
//! `error_if_incomplete` a decline is a 402 and nothing is kept; with `default_incomplete` no
//! payment is attempted.
//!
//! An update can change items (`items[n][id]` with `price` or `quantity`, `deleted`, or new items)
//! with `proration_behavior`: `create_prorations` (default) leaves proration invoice items for the
//! next invoice, `always_invoice` invoices them at once, `none` changes the items only. Renewals
//! and period-end cancellations happen when a test clock passes the period end.

use serde_json::{Value, json};

use crate::stripe::context::{Ctx, previous_attributes};
use crate::stripe::domain::invoicing::{
    InvoiceRequest, Invoiced, draft, issue, line_from_invoice_item, pending_items, period_line, void,
};
use crate::stripe::domain::item_changes::{self, ItemChange, recurring_price};
use crate::stripe::domain::proration::{self, proration_date};
use crate::stripe::domain::subscription_cycle::{cancel_now, current_period, new_item, period_end};
use crate::stripe::domain::wallet::require_attached;
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand};
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::params::{MetadataPatch, Params};
use crate::stripe::store::first_given;

const BEHAVIOURS: [&str; 3] = ["allow_incomplete", "error_if_incomplete", "default_incomplete"];
const PRORATIONS: [&str; 3] = ["create_prorations", "always_invoice", "none"];

fn one_of(value: Option<String>, allowed: &[&str], param: &str, default: &str) -> Result<String, ApiError> {
    let value = value.unwrap_or_else(|| default.to_string());
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else if param == "payment_behavior" && value == "pending_if_incomplete" {
        Err(ApiError::param(param, "The Stripe fake does not support payment_behavior=pending_if_incomplete."))
    } else {
        Err(ApiError::param(param, format!("Invalid {param}: must be one of {}.", allowed.join(", "))))
    }
}

/// What `POST /v1/subscriptions` asked for.
struct NewSubscription {
    customer: String,
    prices: Vec<(Value, i64)>,
    default_payment_method: Option<String>,
    description: Option<String>,
    payment_behavior: String,
    cancel_at_period_end: bool,
    metadata: Option<MetadataPatch>,
    expansions: Vec<String>,
}

fn read_new(ctx: &Ctx<'_>, mut p: Params) -> Result<NewSubscription, ApiError> {
    let customer = p.required_string("customer")?;
    let changes: Vec<ItemChange> = item_changes::parse(&mut p)?.ok_or_else(|| ApiError::missing("items"))?;
    let mut prices = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        if change.id().is_some() || change.deleted() {
            let field = if change.deleted() { "deleted" } else { "id" };
            return Err(ApiError::unknown(&format!("items[{index}][{field}]")));
        }
        let param = format!("items[{index}][price]");
        let price_id = change.price().ok_or_else(|| ApiError::missing(&param))?;
        prices.push((recurring_price(ctx.store, price_id, &param)?, change.quantity().unwrap_or(1)));
    }
    let default_payment_method = p.string("default_payment_method")?.filter(|s| !s.is_empty());
    let metadata = p.metadata()?;
    let description = p.clearable_string("description")?.flatten();
    let payment_behavior = one_of(p.string("payment_behavior")?, &BEHAVIOURS, "payment_behavior", BEHAVIOURS[0])?;
    let cancel_at_period_end = p.boolean("cancel_at_period_end")?.unwrap_or(false);
    let _off_session = p.boolean("off_session")?;
    one_of(p.string("proration_behavior")?, &PRORATIONS, "proration_behavior", PRORATIONS[0])?;
    if let Some(method) = p.string("collection_method")?
        && method != "charge_automatically"
    {
        return Err(ApiError::param(
            "collection_method",
            "The Stripe fake only supports collection_method=charge_automatically.",
        ));
    }
    if let Some(mut settings) = p.object("payment_settings")? {
        let _ = settings.string("save_default_payment_method")?;
        let _ = settings.string_array("payment_method_types")?;
        settings.finish()?;
    }
    let expansions = p.expand()?;
    p.finish()?;
    if prices.is_empty() {
        return Err(ApiError::missing("items"));
    }
    Ok(NewSubscription {
        customer,
        prices,
        default_payment_method,
        description,
        payment_behavior,
        cancel_at_period_end,
        metadata,
        expansions,
    })
}

/// `POST /v1/subscriptions`
pub fn create(ctx: &mut Ctx<'_>, p: Params) -> Result<Value, ApiError> {
    let request = read_new(ctx, p)?;
    let customer = ctx.store.get_kind(Kind::Customer, &request.customer, "customer")?;
    if let Some(pm) = &request.default_payment_method {
        require_attached(ctx.store, pm, &request.customer, "default_payment_method")?;
    }
    let first = &request.prices[0].0;
    let at = ctx.time_for_customer(Some(&request.customer));
    let recurring = &first["recurring"];
    let end = period_end(
        at,
        recurring["interval"].as_str().unwrap_or("month"),
        recurring["interval_count"].as_i64().unwrap_or(1),
    );
    let id = new_id(Kind::Subscription.prefix());
    let items: Vec<Value> =
        request.prices.iter().map(|(price, quantity)| new_item(&id, price, *quantity, at, (at, end))).collect();
    let invoice_id = new_id(Kind::Invoice.prefix());
    let mut subscription = subscription_object(&id, &customer, first, items, at, end, &invoice_id, &request);
    if let Some(metadata) = request.metadata {
        metadata.apply(&mut subscription);
    }
    ctx.store.insert(Kind::Subscription, &subscription);
    let lines: Vec<Value> = subscription["items"]["data"]
        .as_array()
        .map(|items| items.iter().map(|item| period_line(ctx.store, &invoice_id, &id, item, (at, end))).collect())
        .unwrap_or_default();
    let invoice = draft(
        ctx.store,
        InvoiceRequest {
            subscription: &subscription,
            reason: "subscription_create",
            period: (at, at),
            lines,
            at,
            invoice_id,
        },
    );
    let outcome = issue(ctx, invoice, request.payment_behavior != "default_incomplete");
    if !outcome.paid && request.payment_behavior == "error_if_incomplete" {
        // Stripe keeps no subscription that could not start.
        ctx.store.remove(&id);
        return Err(outcome
            .decline
            .unwrap_or_else(|| ApiError::InvalidRequest("The subscription could not be paid.".into())));
    }
    subscription["status"] = json!(if outcome.paid { "active" } else { "incomplete" });
    let text = ctx.store.replace(&subscription).unwrap_or_default();
    ctx.emit_text("customer.subscription.created", text, None, at);
    expand(ctx.store, &mut subscription, &request.expansions);
    Ok(subscription)
}

/// The subscription object as created. Eight parts make one object; splitting them would only
/// move the fields away from the shape they form.
#[allow(clippy::too_many_arguments)]
fn subscription_object(
    id: &str,
    customer: &Value,
    first_price: &Value,
    items: Vec<Value>,
    at: i64,
    end: i64,
    invoice_id: &str,
    request: &NewSubscription,
) -> Value {
    let cancels = request.cancel_at_period_end;
    json!({
        "id": id,
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": { "enabled": false, "liability": null, "disabled_reason": null },
        "billing_cycle_anchor": at,
        "billing_cycle_anchor_config": null,
        "billing_mode": { "type": "classic", "flexible": null },
        "billing_schedules": [],
        "billing_thresholds": null,
        "cancel_at": if cancels { json!(end) } else { Value::Null },
        "cancel_at_period_end": cancels,
        "canceled_at": if cancels { json!(at) } else { Value::Null },
        "cancellation_details": { "comment": null, "feedback": null, "reason": null },
        "collection_method": "charge_automatically",
        "created": at,
        "currency": first_price["currency"],
        "customer": customer["id"],
        "customer_account": null,
        "days_until_due": null,
        "default_payment_method": request.default_payment_method,
        "default_source": null,
        "default_tax_rates": [],
        "description": request.description,
        "discounts": [],
        "ended_at": null,
        "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
        "items": { "object": "list", "data": items, "has_more": false, "url": format!("/v1/subscription_items?subscription={id}") },
        "latest_invoice": invoice_id,
        "livemode": false,
        "managed_payments": null,
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
    })
}

/// `GET /v1/subscriptions/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    expand::retrieve(ctx.store, Kind::Subscription, id, p)
}

/// `GET /v1/subscriptions` (filters: `customer` and `test_clock`, indexed; `price`; `status`,
/// where `all` includes canceled)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.string("customer")?;
    let price = p.string("price")?;
    let status = p.string("status")?;
    let test_clock = p.string("test_clock")?;
    let filter = first_given(&[("customer", customer.as_deref()), ("test_clock", test_clock.as_deref())]);
    expand::list(ctx.store, Kind::Subscription, "/v1/subscriptions", p, filter, |s| {
        let status_ok = match status.as_deref() {
            Some("all") => true,
            Some(wanted) => s["status"] == wanted,
            // Stripe's default hides canceled subscriptions.
            None => s["status"] != "canceled",
        };
        status_ok
            && test_clock.as_ref().is_none_or(|t| s["test_clock"] == t.as_str())
            && price.as_ref().is_none_or(|p| {
                s["items"]["data"].as_array().is_some_and(|items| items.iter().any(|i| i["price"]["id"] == p.as_str()))
            })
    })
}

/// What `POST /v1/subscriptions/{id}` asked for.
struct Update {
    cancel_at_period_end: Option<bool>,
    default_payment_method: Option<Option<String>>,
    metadata: Option<MetadataPatch>,
    description: Option<Option<String>>,
    items: Option<Vec<ItemChange>>,
    proration_behavior: String,
    proration_date: Option<i64>,
    payment_behavior: String,
    cancellation_details: Option<(Option<String>, Option<String>)>,
    expansions: Vec<String>,
}

fn read_update(mut p: Params) -> Result<Update, ApiError> {
    let cancel_at_period_end = p.boolean("cancel_at_period_end")?;
    let default_payment_method = p.clearable_string("default_payment_method")?;
    let metadata = p.metadata()?;
    let description = p.clearable_string("description")?;
    let items = item_changes::parse(&mut p)?;
    let proration_behavior = one_of(p.string("proration_behavior")?, &PRORATIONS, "proration_behavior", PRORATIONS[0])?;
    let proration_date = p.integer("proration_date")?;
    let payment_behavior = one_of(p.string("payment_behavior")?, &BEHAVIOURS, "payment_behavior", BEHAVIOURS[0])?;
    let _ = p.boolean("off_session")?;
    if let Some(anchor) = p.string("billing_cycle_anchor")?
        && anchor != "unchanged"
    {
        return Err(ApiError::param(
            "billing_cycle_anchor",
            "The Stripe fake keeps the billing cycle anchor (billing_cycle_anchor=unchanged only).",
        ));
    }
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
    Ok(Update {
        cancel_at_period_end,
        default_payment_method,
        metadata,
        description,
        items,
        proration_behavior,
        proration_date,
        payment_behavior,
        cancellation_details,
        expansions,
    })
}

/// `POST /v1/subscriptions/{id}`
pub fn update(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    let update = read_update(p)?;
    let before = ctx.store.get_kind(Kind::Subscription, id, "id")?;
    if before["status"] == "canceled"
        && (update.cancel_at_period_end.is_some()
            || update.default_payment_method.is_some()
            || update.description.is_some()
            || update.items.is_some())
    {
        return Err(ApiError::InvalidRequest(
            "A canceled subscription can only update its cancellation_details and metadata.".into(),
        ));
    }
    let customer_id = before["customer"].as_str().unwrap_or_default().to_string();
    if let Some(Some(pm)) = &update.default_payment_method {
        require_attached(ctx.store, pm, &customer_id, "default_payment_method")?;
    }
    let at = ctx.time_for_customer(Some(&customer_id));
    let mut after = apply_fields(before.clone(), &update, at);
    let mut invoice_outcome = None;
    if let Some(changes) = update.items {
        let items = item_changes::apply(ctx.store, &before, changes, at)?;
        let period = current_period(&before);
        let date = proration_date(update.proration_date, period, at, "proration_date")?;
        after["items"]["data"] = json!(items);
        if update.proration_behavior != "none" {
            for item in proration::invoice_items(ctx.store, &before, &items, date) {
                let text = ctx.store.insert(Kind::InvoiceItem, &item);
                ctx.emit_text("invoiceitem.created", text, None, at);
            }
        }
        ctx.store.replace(&after);
        if update.proration_behavior == "always_invoice" {
            invoice_outcome = Some(invoice_prorations_now(ctx, &mut after, at));
        }
    }
    if let Some(outcome) = invoice_outcome {
        if !outcome.paid && update.payment_behavior == "error_if_incomplete" {
            void(ctx, &outcome.id, at);
            ctx.store.replace(&before);
            return Err(outcome
                .decline
                .unwrap_or_else(|| ApiError::InvalidRequest("The update could not be paid.".into())));
        }
        if !outcome.paid {
            after["status"] = json!("past_due");
        }
    }
    let text = ctx.store.replace(&after).unwrap_or_default();
    if let Some(previous) = previous_attributes(&before, &after) {
        ctx.emit_text("customer.subscription.updated", text, Some(previous), at);
    }
    expand(ctx.store, &mut after, &update.expansions);
    Ok(after)
}

/// The simple fields of an update applied to a copy of the subscription.
fn apply_fields(mut after: Value, update: &Update, at: i64) -> Value {
    if let Some(flag) = update.cancel_at_period_end {
        after["cancel_at_period_end"] = json!(flag);
        after["cancel_at"] = if flag { json!(current_period(&after).1) } else { Value::Null };
        after["canceled_at"] = if flag { json!(at) } else { Value::Null };
        after["cancellation_details"]["reason"] = if flag { json!("cancellation_requested") } else { Value::Null };
    }
    if let Some(pm) = &update.default_payment_method {
        after["default_payment_method"] = json!(pm);
    }
    if let Some(description) = &update.description {
        after["description"] = json!(description);
    }
    if let Some((comment, feedback)) = &update.cancellation_details {
        after["cancellation_details"]["comment"] = json!(comment);
        after["cancellation_details"]["feedback"] = json!(feedback);
    }
    if let Some(metadata) = update.metadata.clone() {
        metadata.apply(&mut after);
    }
    after
}

/// `always_invoice`: an invoice for the pending prorations, issued and paid now.
fn invoice_prorations_now(ctx: &mut Ctx<'_>, subscription: &mut Value, at: i64) -> Invoiced {
    let invoice_id = new_id(Kind::Invoice.prefix());
    let customer = subscription["customer"].as_str().unwrap_or_default().to_string();
    let id = subscription["id"].as_str().unwrap_or_default().to_string();
    let lines: Vec<Value> = pending_items(ctx.store, &customer, &id)
        .iter()
        .map(|item| line_from_invoice_item(ctx.store, &invoice_id, item))
        .collect();
    subscription["latest_invoice"] = json!(invoice_id);
    let invoice = draft(
        ctx.store,
        InvoiceRequest { subscription, reason: "subscription_update", period: (at, at), lines, at, invoice_id },
    );
    issue(ctx, invoice, true)
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
    let subscription = ctx.store.get_kind(Kind::Subscription, id, "id")?;
    if subscription["status"] == "canceled" {
        return Err(ApiError::InvalidRequest(format!("The subscription {id} has already been canceled.")));
    }
    let at = ctx.time_for_customer(subscription["customer"].as_str());
    let mut canceled = cancel_now(ctx, id, at).unwrap_or_default();
    expand(ctx.store, &mut canceled, &expansions);
    Ok(canceled)
}
