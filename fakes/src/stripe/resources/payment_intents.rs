//! `/v1/payment_intents`: one charge of a card. Confirmed at creation (`confirm=true`), the
//! outcome follows the card: test cards that decline answer 402 `card_error` with a
//! `decline_code` and the failed PaymentIntent in the error body, as Stripe does.
//!
//! [`charge`] is also how invoices are paid, so subscriptions and one-off charges decline alike.
//! A confirmed intent emits only its outcome (`payment_intent.succeeded` or `.payment_failed`);
//! Stripe's `payment_intent.created` and `charge.*` events are left out to keep the hot path lean
//! (an unconfirmed intent does emit `payment_intent.created`).

use serde_json::{Value, json};

use bytes::Bytes;

use super::{customers, payment_methods};
use crate::stripe::cards::{ChargeOutcome, decline_message, outcome_of};
use crate::stripe::context::{Ctx, expand};
use crate::stripe::error::ApiError;
use crate::stripe::ids::new_id;
use crate::stripe::params::{MetadataPatch, Page, Params};
use crate::stripe::reply::Reply;

/// What to charge.
#[derive(Debug, Clone, Default)]
pub struct ChargeRequest {
    /// Smallest currency unit.
    pub amount: i64,
    /// ISO code, lower case.
    pub currency: String,
    /// `cus_...`
    pub customer: Option<String>,
    /// `pm_...`, already stored.
    pub payment_method: Option<String>,
    /// Whether to attempt the charge now.
    pub confirm: bool,
    /// Whether the customer is absent (authentication cannot happen).
    pub off_session: bool,
    /// Free text.
    pub description: Option<String>,
    /// Metadata patch to apply.
    pub metadata: Option<MetadataPatch>,
    /// Time on the customer's clock.
    pub at: i64,
}

/// Creates a PaymentIntent and, if confirmed, charges it. A decline stores the failed intent
/// and returns the `card_error` to answer with.
/// A created PaymentIntent, with its JSON text when it was settled (stored as text).
pub struct Charged {
    /// The intent.
    pub intent: Value,
    /// Its serialized form, when the charge went through.
    pub text: Option<String>,
}

pub fn charge(ctx: &mut Ctx<'_>, request: ChargeRequest) -> Result<Charged, ApiError> {
    let id = new_id("pi");
    let mut intent = json!({
        "id": id,
        "object": "payment_intent",
        "amount": request.amount,
        "amount_capturable": 0,
        "amount_details": { "tip": {} },
        "amount_received": 0,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": "automatic",
        "client_secret": format!("{id}_secret_{}", &new_id("x")[2..]),
        "confirmation_method": "automatic",
        "created": request.at,
        "currency": request.currency,
        "customer": request.customer,
        "customer_account": null,
        "description": request.description,
        "excluded_payment_method_types": null,
        "managed_payments": null,
        "source": null,
        "last_payment_error": null,
        "latest_charge": null,
        "livemode": false,
        "metadata": {},
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": request.payment_method,
        "payment_method_configuration_details": null,
        "payment_method_options": { "card": { "request_three_d_secure": "automatic" } },
        "payment_method_types": ["card"],
        "processing": null,
        "receipt_email": null,
        "review": null,
        "setup_future_usage": null,
        "shipping": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": if request.payment_method.is_some() { "requires_confirmation" } else { "requires_payment_method" },
        "transfer_data": null,
        "transfer_group": null,
    });
    if let Some(metadata) = request.metadata.clone() {
        metadata.apply(&mut intent);
    }
    let method = match (request.confirm, request.payment_method.as_deref().and_then(|pm| ctx.store.get(pm))) {
        (true, Some(method)) => method,
        _ => {
            ctx.emit("payment_intent.created", &intent, None, request.at);
            ctx.store.insert("payment_intent", intent.clone());
            return Ok(Charged { intent, text: None });
        }
    };

    let charge_id = new_id("ch");
    let failure: Option<(&str, &str, &str)> = match outcome_of(method) {
        ChargeOutcome::Succeeds => None,
        ChargeOutcome::Declines(code) => Some(("card_declined", code, decline_message(code))),
        ChargeOutcome::RequiresAuthentication if request.off_session => Some((
            "authentication_required",
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
        )),
        ChargeOutcome::RequiresAuthentication => {
            intent["status"] = json!("requires_action");
            intent["next_action"] = json!({ "type": "use_stripe_sdk", "use_stripe_sdk": {} });
            ctx.emit("payment_intent.requires_action", &intent, None, request.at);
            ctx.store.insert("payment_intent", intent.clone());
            return Ok(Charged { intent, text: None });
        }
    };
    let charge = charge_object(&charge_id, &request, &intent, method, failure);
    // Only a decline needs its own copy of the payment method (for the error body).
    let declined_method = failure.map(|_| method.clone());
    intent["latest_charge"] = json!(charge_id);
    match (failure, declined_method) {
        (Some((code, decline_code, message)), Some(method)) => {
            intent["status"] = json!("requires_payment_method");
            intent["last_payment_error"] = json!({
                "type": "card_error",
                "code": code,
                "decline_code": decline_code,
                "message": message,
                "charge": charge_id,
                "payment_method": method,
            });
            intent["payment_method"] = Value::Null;
            ctx.store.insert_frozen("charge", &charge);
            freeze_with_event(ctx, &intent, "payment_intent.payment_failed", request.at);
            Err(ApiError::Card {
                code: code.to_string(),
                decline_code: Some(decline_code.to_string()),
                message: message.to_string(),
                payment_intent: Some(Box::new(intent)),
                payment_method: Some(Box::new(method)),
            })
        }
        _ => {
            intent["status"] = json!("succeeded");
            intent["amount_received"] = json!(request.amount);
            ctx.store.insert_frozen("charge", &charge);
            let text = freeze_with_event(ctx, &intent, "payment_intent.succeeded", request.at);
            Ok(Charged { intent, text: Some(text) })
        }
    }
}

/// Stores a settled intent as text and emits its event from the same text: one serialization
/// instead of a tree copy plus a serialization (this is the benchmark's hot path).
fn freeze_with_event(ctx: &mut Ctx<'_>, intent: &Value, kind: &str, at: i64) -> String {
    let text = serde_json::to_string(intent).unwrap_or_default();
    ctx.emit_text(kind, &text, at);
    let id = intent["id"].as_str().unwrap_or_default().to_string();
    ctx.store.insert_frozen_text("payment_intent", id, text.clone());
    text
}

fn charge_object(
    id: &str,
    request: &ChargeRequest,
    intent: &Value,
    method: &Value,
    failure: Option<(&str, &str, &str)>,
) -> Value {
    let succeeded = failure.is_none();
    json!({
        "id": id,
        "object": "charge",
        "amount": request.amount,
        "amount_captured": if succeeded { request.amount } else { 0 },
        "amount_refunded": 0,
        "balance_transaction": if succeeded { json!(new_id("txn")) } else { Value::Null },
        "billing_details": method["billing_details"],
        "captured": succeeded,
        "created": request.at,
        "currency": request.currency,
        "customer": request.customer,
        "description": request.description,
        "disputed": false,
        "failure_code": failure.map(|f| f.0),
        "failure_message": failure.map(|f| f.2),
        "livemode": false,
        "metadata": intent["metadata"],
        "outcome": {
            "network_status": if succeeded { "approved_by_network" } else { "declined_by_network" },
            "reason": failure.map(|f| f.1),
            "seller_message": if succeeded { "Payment complete." } else { "The bank did not return any further details with this decline." },
            "type": if succeeded { "authorized" } else { "issuer_declined" },
        },
        "paid": succeeded,
        "payment_intent": intent["id"],
        "payment_method": method["id"],
        "payment_method_details": { "card": method["card"], "type": "card" },
        "refunded": false,
        "status": if succeeded { "succeeded" } else { "failed" },
    })
}

/// `POST /v1/payment_intents`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Reply, ApiError> {
    let amount = p.integer("amount")?.ok_or_else(|| ApiError::missing("amount"))?;
    let currency = p.required_string("currency")?.to_ascii_lowercase();
    let customer = p.string("customer")?.filter(|s| !s.is_empty());
    let payment_method = p.string("payment_method")?.filter(|s| !s.is_empty());
    let confirm = p.boolean("confirm")?.unwrap_or(false);
    let off_session = p.boolean("off_session")?.unwrap_or(false);
    let description = p.clearable_string("description")?.flatten();
    let metadata = p.metadata()?;
    let _receipt_email = p.string("receipt_email")?;
    let _types = p.string_array("payment_method_types")?;
    if let Some(mut automatic) = p.object("automatic_payment_methods")? {
        let _ = automatic.boolean("enabled")?;
        let _ = automatic.string("allow_redirects")?;
        automatic.finish()?;
    }
    let _ = p.string("setup_future_usage")?;
    let _ = p.string("statement_descriptor")?;
    let _ = p.string("statement_descriptor_suffix")?;
    let _ = p.string("return_url")?;
    let _ = p.boolean("error_on_requires_action")?;
    if let Some(method) = p.string("capture_method")?
        && method != "automatic"
        && method != "automatic_async"
    {
        return Err(ApiError::param("capture_method", "The fake only supports capture_method=automatic."));
    }
    let expansions = p.expand()?;
    p.finish()?;

    if amount < 50 {
        return Err(ApiError::param("amount", "Amount must be at least 50 cents."));
    }
    if amount > 99_999_999 {
        return Err(ApiError::param("amount", "Amount must be no more than $999,999.99."));
    }
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::param("currency", format!("Invalid currency: {currency}.")));
    }
    if let Some(customer) = &customer {
        customers::require(ctx, customer, "customer")?;
    }
    let payment_method = match payment_method {
        Some(pm) => Some(payment_methods::resolve(ctx, &pm, "payment_method")?),
        None => customer
            .as_ref()
            .and_then(|c| ctx.store.get(c))
            .and_then(|c| c["invoice_settings"]["default_payment_method"].as_str())
            .map(str::to_string),
    };
    if let (Some(pm), Some(customer)) = (&payment_method, &customer) {
        let owner = ctx.store.get(pm).map(|m| m["customer"].clone()).unwrap_or_default();
        if !owner.is_null() && owner != customer.as_str() {
            return Err(ApiError::param(
                "payment_method",
                format!("The provided PaymentMethod {pm} belongs to a different customer."),
            ));
        }
    }
    if confirm && payment_method.is_none() {
        return Err(ApiError::param(
            "payment_method",
            "You cannot confirm this PaymentIntent because it's missing a payment method. \
             To confirm the PaymentIntent, provide a payment_method.",
        ));
    }
    if off_session && !confirm {
        return Err(ApiError::param("off_session", "off_session can only be used when confirm=true."));
    }
    let at = ctx.time_for_customer(customer.as_deref());
    let charged = charge(
        ctx,
        ChargeRequest { amount, currency, customer, payment_method, confirm, off_session, description, metadata, at },
    )?;
    if let (true, Some(text)) = (expansions.is_empty(), charged.text) {
        return Ok(Reply::Text(Bytes::from(text)));
    }
    let mut intent = charged.intent;
    expand(ctx.store, &mut intent, &expansions);
    Ok(Reply::Json(intent))
}

/// `GET /v1/payment_intents/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    let _ = p.string("client_secret")?;
    p.finish()?;
    let mut intent = ctx
        .store
        .get_owned(id)
        .filter(|o| o["object"] == "payment_intent")
        .ok_or_else(|| ApiError::no_such("payment_intent", id))?;
    expand(ctx.store, &mut intent, &expansions);
    Ok(intent)
}

/// `GET /v1/payment_intents` (filter: `customer`)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    let customer = p.string("customer")?;
    let expansions = p.expand()?;
    p.finish()?;
    let mut list = ctx.store.list("payment_intent", "/v1/payment_intents", &page, |pi| {
        customer.as_ref().is_none_or(|c| pi["customer"] == c.as_str())
    })?;
    expand(ctx.store, &mut list, &expansions);
    Ok(list)
}
