//! `/v1/invoices`: invoices are made by subscription billing (`domain::invoicing`); here they
//! are read (`GET`, lines), paid again after a decline (`POST /{id}/pay`), and previewed
//! (`POST /v1/invoices/create_preview`: the next invoice of a subscription, with the prorations a
//! change in `subscription_details` would create, or the first invoice of a new subscription).

use serde_json::{Value, json};

use crate::stripe::context::Ctx;
use crate::stripe::domain::invoicing::{
    Attempt, InvoiceRequest, draft, invoice_payment_method, line_from_invoice_item, pay as pay_invoice, pending_items,
    period_line,
};
use crate::stripe::domain::item_changes::{self, ItemChange, recurring_price};
use crate::stripe::domain::payment_retries::reactivate;
use crate::stripe::domain::proration::{self, proration_date};
use crate::stripe::domain::subscription_cycle::{current_period, interval_of, period_end};
use crate::stripe::domain::wallet::{require_attached, resolve};
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand};
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::params::{Page, Params};
use crate::stripe::store::first_given;

/// `GET /v1/invoices/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    expand::retrieve(ctx.store, Kind::Invoice, id, p)
}

/// `GET /v1/invoices` (filters: `customer` and `subscription`, indexed; `status`)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.string("customer")?;
    let subscription = p.string("subscription")?;
    let status = p.string("status")?;
    let filter = first_given(&[("subscription", subscription.as_deref()), ("customer", customer.as_deref())]);
    expand::list(ctx.store, Kind::Invoice, "/v1/invoices", p, filter, |invoice| {
        customer.as_ref().is_none_or(|c| invoice["customer"] == c.as_str())
            && status.as_ref().is_none_or(|s| invoice["status"] == s.as_str())
    })
}

/// `GET /v1/invoices/{id}/lines`
pub fn lines(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    let expansions = p.expand()?;
    p.finish()?;
    let invoice = ctx.store.get_kind(Kind::Invoice, id, "id")?;
    let all = invoice["lines"]["data"].as_array().cloned().unwrap_or_default();
    let position = |cursor: &str, param: &str| {
        all.iter().position(|line| line["id"] == cursor).ok_or_else(|| ApiError::no_such_in("line item", cursor, param))
    };
    let (from, to) = match (&page.starting_after, &page.ending_before) {
        (Some(after), _) => (position(after, "starting_after")? + 1, all.len()),
        (None, Some(before)) => (0, position(before, "ending_before")?),
        (None, None) => (0, all.len()),
    };
    let window = &all[from..to];
    let (data, has_more) = if page.ending_before.is_some() {
        let start = window.len().saturating_sub(page.limit);
        (&window[start..], start > 0)
    } else {
        (&window[..window.len().min(page.limit)], window.len() > page.limit)
    };
    let mut list =
        json!({ "object": "list", "data": data, "has_more": has_more, "url": format!("/v1/invoices/{id}/lines") });
    expand(ctx.store, &mut list, &expansions);
    Ok(list)
}

/// `POST /v1/invoices/{id}/pay`: charges an open invoice again (after a decline, with the
/// default payment method or `payment_method`); paid, its `past_due`, `unpaid` or `incomplete`
/// subscription becomes `active`. As with Stripe, only a first attempt counts in
/// `attempt_count`: a manual one after it leaves the retry schedule as it is.
pub fn pay(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let payment_method = p.string("payment_method")?.filter(|s| !s.is_empty());
    let _ = p.boolean("off_session")?;
    let _ = p.boolean("paid_out_of_band")?;
    let expansions = p.expand()?;
    p.finish()?;
    let mut invoice = ctx.store.get_kind(Kind::Invoice, id, "id")?;
    match invoice["status"].as_str() {
        Some("open") => {}
        Some("paid") => return Err(ApiError::InvalidRequest("Invoice is already paid.".into())),
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "You can only pay an open invoice; this one is {}.",
                other.unwrap_or("unknown")
            )));
        }
    }
    let customer = invoice["customer"].as_str().unwrap_or_default().to_string();
    let payment_method = match payment_method {
        Some(pm) => {
            let pm = resolve(ctx, &pm, "payment_method")?;
            require_attached(ctx.store, &pm, &customer, "payment_method")?;
            Some(pm)
        }
        None => invoice_payment_method(ctx.store, &invoice),
    };
    if payment_method.is_none() {
        return Err(ApiError::InvalidRequest(
            "The customer has no default payment method; attach one or pass payment_method.".into(),
        ));
    }
    let at = ctx.time_for_customer(Some(&customer));
    let outcome = pay_invoice(ctx, &mut invoice, payment_method, Attempt::Manual, at);
    if let Some(decline) = outcome.decline {
        return Err(decline);
    }
    reactivate(ctx, &invoice, at);
    expand(ctx.store, &mut invoice, &expansions);
    Ok(invoice)
}

/// What `subscription_details` of a preview asked for.
struct PreviewChanges {
    items: Option<Vec<ItemChange>>,
    proration_behavior: String,
    proration_date: Option<i64>,
    cancel_at_period_end: Option<bool>,
}

fn read_details(p: &mut Params) -> Result<PreviewChanges, ApiError> {
    let mut changes = PreviewChanges {
        items: None,
        proration_behavior: "create_prorations".into(),
        proration_date: None,
        cancel_at_period_end: None,
    };
    let Some(mut details) = p.object("subscription_details")? else { return Ok(changes) };
    changes.items = item_changes::parse(&mut details)?;
    if let Some(behavior) = details.string("proration_behavior")? {
        if !["create_prorations", "always_invoice", "none"].contains(&behavior.as_str()) {
            return Err(ApiError::param(
                "subscription_details[proration_behavior]",
                "Invalid proration_behavior: must be one of create_prorations, always_invoice, none.",
            ));
        }
        changes.proration_behavior = behavior;
    }
    changes.proration_date = details.integer("proration_date")?;
    changes.cancel_at_period_end = details.boolean("cancel_at_period_end")?;
    if let Some(anchor) = details.string("billing_cycle_anchor")?
        && anchor != "unchanged"
    {
        return Err(ApiError::param(
            "subscription_details[billing_cycle_anchor]",
            "The Stripe fake previews only billing_cycle_anchor=unchanged.",
        ));
    }
    details.finish()?;
    Ok(changes)
}

/// `POST /v1/invoices/create_preview`
pub fn create_preview(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.string("customer")?.filter(|s| !s.is_empty());
    let subscription = p.string("subscription")?.filter(|s| !s.is_empty());
    let changes = read_details(&mut p)?;
    if let Some(mode) = p.string("preview_mode")?
        && mode != "next"
        && mode != "recurring"
    {
        return Err(ApiError::param("preview_mode", "Invalid preview_mode: must be next or recurring."));
    }
    if let Some(mut tax) = p.object("automatic_tax")? {
        let _ = tax.boolean("enabled")?;
        tax.finish()?;
    }
    let _ = p.string("currency")?;
    let expansions = p.expand()?;
    p.finish()?;

    let subscription = match (subscription, &customer) {
        (Some(id), _) => Some(ctx.store.get_kind(Kind::Subscription, &id, "subscription")?),
        (None, Some(_)) if changes.items.is_some() => None,
        (None, Some(customer)) => Some(soonest_subscription(ctx, customer)?),
        (None, None) => return Err(ApiError::missing("customer")),
    };
    let mut invoice = match subscription {
        Some(subscription) => {
            if let Some(customer) = &customer
                && subscription["customer"] != customer.as_str()
            {
                return Err(ApiError::param(
                    "subscription",
                    format!("The subscription does not belong to the customer {customer}."),
                ));
            }
            preview_existing(ctx, &subscription, changes)?
        }
        None => preview_new(ctx, customer.as_deref().unwrap_or_default(), changes)?,
    };
    expand(ctx.store, &mut invoice, &expansions);
    Ok(invoice)
}

fn no_upcoming(customer: &str) -> ApiError {
    ApiError::NoUpcomingInvoice(format!("No upcoming invoices for customer: {customer}"))
}

/// The customer's live subscription that renews first.
fn soonest_subscription(ctx: &Ctx<'_>, customer: &str) -> Result<Value, ApiError> {
    ctx.store.get_kind(Kind::Customer, customer, "customer")?;
    ctx.store
        .ids(Kind::Subscription, Some(("customer", customer)))
        .iter()
        .filter_map(|id| ctx.store.get(id))
        .filter(|s| matches!(s["status"].as_str(), Some("active" | "past_due" | "trialing" | "incomplete")))
        .filter(|s| s["cancel_at_period_end"] != true)
        .min_by_key(|s| current_period(s).1)
        .ok_or_else(|| no_upcoming(customer))
}

/// The next invoice of an existing subscription, as it would be with `changes`.
fn preview_existing(ctx: &Ctx<'_>, subscription: &Value, changes: PreviewChanges) -> Result<Value, ApiError> {
    let customer = subscription["customer"].as_str().unwrap_or_default().to_string();
    let id = subscription["id"].as_str().unwrap_or_default().to_string();
    if subscription["status"] == "canceled" {
        return Err(no_upcoming(&customer));
    }
    let at = ctx.time_for_customer(Some(&customer));
    let period = current_period(subscription);
    let items = match changes.items {
        Some(item_changes) => item_changes::apply(ctx.store, subscription, item_changes, at)?,
        None => subscription["items"]["data"].as_array().cloned().unwrap_or_default(),
    };
    let date = proration_date(changes.proration_date, period, at, "subscription_details[proration_date]")?;
    let prorations = if changes.proration_behavior == "none" {
        Vec::new()
    } else {
        proration::invoice_items(ctx.store, subscription, &items, date)
    };
    let invoice_id = format!("upcoming_{}", new_id(Kind::Invoice.prefix()));
    let mut lines: Vec<Value> = pending_items(ctx.store, &customer, &id)
        .iter()
        .chain(&prorations)
        .map(|item| line_from_invoice_item(ctx.store, &invoice_id, item))
        .collect();
    let mut changed = subscription.clone();
    changed["items"]["data"] = json!(items);
    let now = changes.proration_behavior == "always_invoice" && !prorations.is_empty();
    let request = if now {
        InvoiceRequest {
            subscription: &changed,
            reason: "subscription_update",
            period: (at, at),
            lines,
            at,
            invoice_id,
        }
    } else {
        let cancels = changes.cancel_at_period_end.unwrap_or(subscription["cancel_at_period_end"] == true);
        if cancels {
            return Err(no_upcoming(&customer));
        }
        let (interval, count) = interval_of(subscription);
        let next = (period.1, period_end(period.1, &interval, count));
        if let Some(items) = changed["items"]["data"].as_array() {
            lines.extend(items.iter().map(|item| period_line(ctx.store, &invoice_id, &id, item, next)));
        }
        InvoiceRequest { subscription: &changed, reason: "subscription_cycle", period, lines, at: period.1, invoice_id }
    };
    let mut invoice = draft(ctx.store, request);
    if !prorations.is_empty() {
        invoice["parent"]["subscription_details"]["subscription_proration_date"] = json!(date);
    }
    Ok(invoice)
}

/// The first invoice of a subscription the customer does not have yet.
fn preview_new(ctx: &Ctx<'_>, customer: &str, changes: PreviewChanges) -> Result<Value, ApiError> {
    let customer = ctx.store.get_kind(Kind::Customer, customer, "customer")?;
    let mut prices = Vec::new();
    for (index, change) in changes.items.unwrap_or_default().iter().enumerate() {
        let param = format!("subscription_details[items][{index}][price]");
        let price_id = change.price().ok_or_else(|| ApiError::missing(&param))?;
        prices.push((recurring_price(ctx.store, price_id, &param)?, change.quantity().unwrap_or(1)));
    }
    let Some((first, _)) = prices.first() else { return Err(ApiError::missing("subscription_details[items]")) };
    let at = ctx.time_for_customer(customer["id"].as_str());
    let recurring = &first["recurring"];
    let end = period_end(
        at,
        recurring["interval"].as_str().unwrap_or("month"),
        recurring["interval_count"].as_i64().unwrap_or(1),
    );
    let invoice_id = format!("upcoming_{}", new_id(Kind::Invoice.prefix()));
    let lines: Vec<Value> = prices
        .iter()
        .map(|(price, quantity)| {
            let item = json!({ "id": null, "price": price, "quantity": quantity });
            let mut line = period_line(ctx.store, &invoice_id, "", &item, (at, end));
            line["subscription"] = Value::Null;
            line["parent"]["subscription_item_details"]["subscription"] = Value::Null;
            line
        })
        .collect();
    let subscription = json!({
        "id": null, "customer": customer["id"], "currency": first["currency"], "metadata": {}, "test_clock": customer["test_clock"],
    });
    Ok(draft(
        ctx.store,
        InvoiceRequest {
            subscription: &subscription,
            reason: "subscription_create",
            period: (at, at),
            lines,
            at,
            invoice_id,
        },
    ))
}
