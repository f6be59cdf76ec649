//! Invoices: their lines, their totals after the customer's credit balance, and their life from
//! draft to paid. Subscription creation, renewals, `always_invoice` updates and the invoice
//! preview all build invoices here, so a declining card fails each of them the same way and a
//! preview shows exactly the invoice that would be issued.
//!
//! As with Stripe, an invoice's own `period_start`/`period_end` is the period *before* it (both
//! equal to the creation time for the first invoice), while each line's `period` is the service
//! period it charges for. A negative total (more credit than charge) is not refunded: it is added
//! to the customer's `balance` (negative means credit) and reduces the next invoice's amount due.

use serde::Deserialize;
use serde_json::{Value, json};

use super::charging::{ChargeRequest, charge};
use super::wallet::default_payment_method;
use crate::stripe::context::{Ctx, previous_attributes};
use crate::stripe::error::ApiError;
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::store::Store;

/// What an invoice of a subscription bills for.
pub struct InvoiceRequest<'a> {
    /// The subscription billed.
    pub subscription: &'a Value,
    /// `subscription_create`, `subscription_cycle` or `subscription_update`.
    pub reason: &'static str,
    /// The invoice's own period (the one before the service period).
    pub period: (i64, i64),
    /// Its lines (see [`period_line`] and [`line_from_invoice_item`]).
    pub lines: Vec<Value>,
    /// When it is created (clock time).
    pub at: i64,
    /// Pre-chosen id, so the subscription can point at it before it exists.
    pub invoice_id: String,
}

/// The outcome of issuing an invoice.
pub struct Invoiced {
    /// The invoice's id.
    pub id: String,
    /// Whether it ended up paid.
    pub paid: bool,
    /// The card error, when the charge declined.
    pub decline: Option<ApiError>,
}

fn product_name(store: &Store, price: &Value) -> String {
    let product = price["product"].as_str().unwrap_or_default();
    price["nickname"]
        .as_str()
        .map(str::to_string)
        .or_else(|| store.get(product).and_then(|p| p["name"].as_str().map(str::to_string)))
        .unwrap_or_else(|| product.to_string())
}

/// The line charging one subscription item for a whole service period.
pub fn period_line(store: &Store, invoice_id: &str, subscription: &str, item: &Value, period: (i64, i64)) -> Value {
    let quantity = item["quantity"].as_i64().unwrap_or(1);
    let price = &item["price"];
    let unit_amount = price["unit_amount"].as_i64().unwrap_or_default();
    let amount = unit_amount.saturating_mul(quantity);
    let description = format!("{quantity} × {} (at {})", product_name(store, price), money(unit_amount, price));
    line(LineParts {
        invoice_id,
        subscription,
        subscription_item: &item["id"],
        invoice_item: Value::Null,
        proration: false,
        amount,
        description,
        price,
        quantity,
        period,
    })
}

/// A line made from a pending invoice item (a proration).
pub fn line_from_invoice_item(store: &Store, invoice_id: &str, item: &Value) -> Value {
    let details = &item["parent"]["subscription_details"];
    let price = item["pricing"]["price_details"]["price"].as_str().and_then(|id| store.price(id)).unwrap_or_default();
    line(LineParts {
        invoice_id,
        subscription: details["subscription"].as_str().unwrap_or_default(),
        subscription_item: &details["subscription_item"],
        invoice_item: item["id"].clone(),
        proration: item["proration"] == true,
        amount: item["amount"].as_i64().unwrap_or_default(),
        description: item["description"].as_str().unwrap_or_default().to_string(),
        price: &price,
        quantity: item["quantity"].as_i64().unwrap_or(1),
        period: (
            item["period"]["start"].as_i64().unwrap_or_default(),
            item["period"]["end"].as_i64().unwrap_or_default(),
        ),
    })
}

struct LineParts<'a> {
    invoice_id: &'a str,
    subscription: &'a str,
    subscription_item: &'a Value,
    invoice_item: Value,
    proration: bool,
    amount: i64,
    description: String,
    price: &'a Value,
    quantity: i64,
    period: (i64, i64),
}

fn line(parts: LineParts<'_>) -> Value {
    json!({
        "id": new_id("il"),
        "object": "line_item",
        "amount": parts.amount,
        "currency": parts.price["currency"],
        "description": parts.description,
        "discount_amounts": [],
        "discountable": !parts.proration,
        "discounts": [],
        "invoice": parts.invoice_id,
        "livemode": false,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": parts.invoice_item,
                "proration": parts.proration,
                "proration_details": { "credited_items": null },
                "subscription": parts.subscription,
                "subscription_item": parts.subscription_item,
            },
        },
        "period": { "start": parts.period.0, "end": parts.period.1 },
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "price_details": { "price": parts.price["id"], "product": parts.price["product"] },
            "unit_amount_decimal": parts.price["unit_amount_decimal"],
        },
        "quantity": parts.quantity,
        "subscription": parts.subscription,
        "subtotal": parts.amount,
        "taxes": [],
    })
}

/// `$599.00 / month` style text for line descriptions.
pub fn money(amount: i64, price: &Value) -> String {
    let interval = price["recurring"]["interval"].as_str().unwrap_or("month");
    format!("${}.{:02} / {interval}", amount / 100, (amount % 100).abs())
}

/// The pending invoice items (prorations) of a subscription, oldest first.
pub fn pending_items(store: &Store, customer: &str, subscription: &str) -> Vec<Value> {
    let mut items: Vec<Value> = store
        .ids(Kind::InvoiceItem, Some(("customer", customer)))
        .iter()
        .filter_map(|id| store.get(id))
        .filter(|item| {
            item["invoice"].is_null() && item["parent"]["subscription_details"]["subscription"] == subscription
        })
        .collect();
    items.reverse();
    items
}

#[derive(Deserialize)]
struct Billed {
    #[serde(default)]
    balance: i64,
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    #[serde(default)]
    invoice_prefix: Option<String>,
    #[serde(default)]
    next_invoice_sequence: Option<i64>,
}

/// The invoice a request describes, as a draft: lines, totals, and the amount due once the
/// customer's current balance is applied. Nothing is stored (the preview shows exactly this).
/// It is long because it is Stripe's invoice object written out field by field.
#[expect(clippy::too_many_lines)]
pub fn draft(store: &Store, request: InvoiceRequest<'_>) -> Value {
    let subscription = request.subscription;
    let customer_id = subscription["customer"].as_str().unwrap_or_default();
    let customer = store.read::<Billed>(Kind::Customer, customer_id);
    let balance = customer.as_ref().map(|c| c.balance).unwrap_or_default();
    let total: i64 = request.lines.iter().filter_map(|line| line["amount"].as_i64()).sum();
    let amount_due = (total + balance).max(0);
    let invoice_id = request.invoice_id;
    json!({
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Billing Fake",
        "account_tax_ids": null,
        "amount_due": amount_due,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": amount_due,
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
        "currency": subscription["currency"],
        "custom_fields": null,
        "customer": customer_id,
        "customer_account": null,
        "customer_address": null,
        "customer_email": customer.as_ref().and_then(|c| c.email.clone()),
        "customer_name": customer.as_ref().and_then(|c| c.name.clone()),
        "customer_phone": customer.as_ref().and_then(|c| c.phone.clone()),
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
        "lines": { "object": "list", "data": request.lines, "has_more": false, "url": format!("/v1/invoices/{invoice_id}/lines") },
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
        "starting_balance": balance,
        "statement_descriptor": null,
        "status": "draft",
        "status_transitions": { "finalized_at": null, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": subscription["test_clock"],
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": null,
    })
}

/// Stores a draft, finalizes it (numbering it and moving the customer's balance) and, if asked,
/// pays it from the subscription's or the customer's default payment method.
pub fn issue(ctx: &mut Ctx<'_>, mut invoice: Value, attempt_payment: bool) -> Invoiced {
    let id = invoice["id"].as_str().unwrap_or_default().to_string();
    let at = invoice["created"].as_i64().unwrap_or_default();
    let text = ctx.store.insert(Kind::Invoice, &invoice);
    ctx.emit_text("invoice.created", text, None, at);
    mark_items_invoiced(ctx, &invoice);
    finalize(ctx, &mut invoice, at);

    if invoice["amount_due"].as_i64().unwrap_or_default() == 0 {
        mark_paid(ctx, &mut invoice, at);
        return Invoiced { id, paid: true, decline: None };
    }
    let payment_method = invoice_payment_method(ctx.store, &invoice);
    let attempt = if attempt_payment && payment_method.is_some() { Attempt::Scheduled } else { Attempt::NotNow };
    pay(ctx, &mut invoice, payment_method, attempt, at)
}

/// The payment method Stripe charges an invoice with now: its subscription's
/// `default_payment_method`, else the customer's `invoice_settings.default_payment_method`.
pub fn invoice_payment_method(store: &Store, invoice: &Value) -> Option<String> {
    let customer = invoice["customer"].as_str().unwrap_or_default();
    invoice["parent"]["subscription_details"]["subscription"]
        .as_str()
        .and_then(|s| store.get(s))
        .and_then(|s| s["default_payment_method"].as_str().map(str::to_string))
        .or_else(|| default_payment_method(store, customer))
}

fn mark_items_invoiced(ctx: &mut Ctx<'_>, invoice: &Value) {
    let invoice_id = &invoice["id"];
    let lines = invoice["lines"]["data"].as_array().cloned().unwrap_or_default();
    for line in lines {
        let Some(item_id) = line["parent"]["subscription_item_details"]["invoice_item"].as_str() else { continue };
        if let Some(mut item) = ctx.store.get(item_id) {
            item["invoice"] = invoice_id.clone();
            ctx.store.replace(&item);
        }
    }
}

fn finalize(ctx: &mut Ctx<'_>, invoice: &mut Value, at: i64) {
    let customer_id = invoice["customer"].as_str().unwrap_or_default().to_string();
    let customer = ctx.store.get_kind(Kind::Customer, &customer_id, "customer").ok();
    let billed = customer.as_ref().and_then(|c| serde_json::from_value::<Billed>(c.clone()).ok());
    let sequence = billed.as_ref().and_then(|c| c.next_invoice_sequence).unwrap_or(1);
    let prefix = billed.as_ref().and_then(|c| c.invoice_prefix.clone()).unwrap_or_else(|| "FAKE".into());
    let starting = billed.as_ref().map(|c| c.balance).unwrap_or_default();
    let total = invoice["total"].as_i64().unwrap_or_default();
    let ending = (total + starting).min(0);
    if let Some(mut customer) = customer {
        let before = customer.clone();
        customer["next_invoice_sequence"] = json!(sequence + 1);
        customer["balance"] = json!(ending);
        let text = ctx.store.replace(&customer).unwrap_or_default();
        if starting != ending {
            ctx.emit_text("customer.updated", text, Some(json!({ "balance": before["balance"] })), at);
        }
    }
    invoice["starting_balance"] = json!(starting);
    invoice["ending_balance"] = json!(ending);
    invoice["amount_due"] = json!((total + starting).max(0));
    invoice["amount_remaining"] = invoice["amount_due"].clone();
    invoice["status"] = json!("open");
    invoice["number"] = json!(format!("{prefix}-{sequence:04}"));
    invoice["effective_at"] = json!(at);
    invoice["status_transitions"]["finalized_at"] = json!(at);
    let id = invoice["id"].as_str().unwrap_or_default().to_string();
    invoice["hosted_invoice_url"] = json!(format!("https://invoice.stripe.com/i/fake/{id}"));
    invoice["invoice_pdf"] = json!(format!("https://pay.stripe.com/invoice/fake/{id}/pdf"));
    let text = ctx.store.replace(invoice).unwrap_or_default();
    ctx.emit_text("invoice.finalized", text, Some(json!({ "status": "draft" })), at);
}

/// How an invoice's payment is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Not now (`default_incomplete`, no payment method): a PaymentIntent waits unconfirmed.
    NotNow,
    /// Stripe's own attempt: the first one, or a retry of the schedule.
    Scheduled,
    /// Asked for (`POST /v1/invoices/{id}/pay`). As with Stripe, only a first attempt counts in
    /// `attempt_count`; later manual ones leave the retry schedule as it is.
    Manual,
}

/// Charges an open invoice's amount due; a decline leaves it open with `invoice.payment_failed`
/// and, when the account's retry schedule has a try left, `next_payment_attempt` set to it
/// (`domain::payment_retries` runs it); after the last try `next_payment_attempt` is `null`.
pub fn pay(
    ctx: &mut Ctx<'_>,
    invoice: &mut Value,
    payment_method: Option<String>,
    attempt: Attempt,
    at: i64,
) -> Invoiced {
    let id = invoice["id"].as_str().unwrap_or_default().to_string();
    let attempting = attempt != Attempt::NotNow;
    let result = charge(
        ctx,
        ChargeRequest {
            amount: invoice["amount_due"].as_i64().unwrap_or_default(),
            currency: invoice["currency"].as_str().unwrap_or("usd").to_string(),
            customer: invoice["customer"].as_str().map(str::to_string),
            payment_method,
            confirm: attempting,
            off_session: true,
            description: Some(match invoice["billing_reason"].as_str() {
                Some("subscription_create") => "Subscription creation".to_string(),
                _ => "Subscription update".to_string(),
            }),
            metadata: None,
            at,
        },
    )
    .map(|charged| charged.into_value());
    invoice["payment_intent"] = match &result {
        Ok(intent) => intent["id"].clone(),
        Err(ApiError::Card { payment_intent: Some(intent), .. }) => intent["id"].clone(),
        Err(_) => Value::Null,
    };
    let made = invoice["attempt_count"].as_i64().unwrap_or_default();
    let counted = attempt == Attempt::Scheduled || (attempting && made == 0);
    if attempting {
        invoice["attempted"] = json!(true);
    }
    if counted {
        invoice["attempt_count"] = json!(made + 1);
    }
    match result {
        Ok(intent) if intent["status"] == "succeeded" => {
            mark_paid(ctx, invoice, at);
            Invoiced { id, paid: true, decline: None }
        }
        other => {
            if counted {
                invoice["next_payment_attempt"] = json!(ctx.store.invoice_retries.next_attempt(made + 1, at));
            }
            let text = ctx.store.replace(invoice).unwrap_or_default();
            if attempting {
                ctx.emit_text("invoice.payment_failed", text, None, at);
            }
            Invoiced { id, paid: false, decline: other.err() }
        }
    }
}

fn mark_paid(ctx: &mut Ctx<'_>, invoice: &mut Value, at: i64) {
    let before = invoice.clone();
    invoice["status"] = json!("paid");
    invoice["amount_paid"] = invoice["amount_due"].clone();
    invoice["amount_remaining"] = json!(0);
    invoice["next_payment_attempt"] = Value::Null;
    invoice["status_transitions"]["paid_at"] = json!(at);
    let text = ctx.store.replace(invoice).unwrap_or_default();
    let previous = previous_attributes(&before, invoice);
    ctx.emit_text("invoice.paid", text.clone(), previous.clone(), at);
    ctx.emit_text("invoice.payment_succeeded", text, previous, at);
}

/// Voids an open invoice that will never be paid (an update refused by `error_if_incomplete`).
pub fn void(ctx: &mut Ctx<'_>, invoice_id: &str, at: i64) {
    let Some(mut invoice) = ctx.store.get(invoice_id) else { return };
    invoice["status"] = json!("void");
    invoice["amount_remaining"] = json!(0);
    invoice["next_payment_attempt"] = Value::Null;
    invoice["status_transitions"]["voided_at"] = json!(at);
    let text = ctx.store.replace(&invoice).unwrap_or_default();
    ctx.emit_text("invoice.voided", text, Some(json!({ "status": "open" })), at);
}
