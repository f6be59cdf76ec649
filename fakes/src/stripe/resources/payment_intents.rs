//! `/v1/payment_intents`: one charge of a card. Confirmed at creation (`confirm=true`), the
//! outcome follows the card: test cards that decline answer 402 `card_error` with a
//! `decline_code`, the failed charge's id and the failed PaymentIntent in the error body, as
//! Stripe does. The `customer` filter of the list is indexed.
//!
//! The charging itself lives in `domain::charging`, shared with invoice payment.

use serde_json::Value;

use crate::stripe::context::Ctx;
use crate::stripe::domain::charging::{ChargeRequest, Charged, charge};
use crate::stripe::domain::wallet::{owner_of, payer, resolve};
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand, get_expanded};
use crate::stripe::kinds::Kind;
use crate::stripe::params::Params;
use crate::stripe::response::{Reply, shared_bytes};

/// Stripe's ceiling for an amount in the smallest currency unit (eight digits).
const MAX_AMOUNT: i64 = 99_999_999;

/// Reads the parameters Stripe accepts and the fake ignores (they change nothing it models).
fn ignored(p: &mut Params) -> Result<(), ApiError> {
    let _ = p.string("receipt_email")?;
    let _ = p.string_array("payment_method_types")?;
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
        return Err(ApiError::param("capture_method", "The Stripe fake only supports capture_method=automatic."));
    }
    Ok(())
}

/// `off_session`: a boolean, or (Stripe's OpenAPI spec: `anyOf: [boolean, enum]`) `one_off` or
/// `recurring`, which are off-session too (async-stripe sends them; the fake charges alike).
fn off_session(p: &mut Params) -> Result<bool, ApiError> {
    match p.string("off_session")?.as_deref() {
        None | Some("false") => Ok(false),
        Some("true" | "one_off" | "recurring") => Ok(true),
        Some(other) => Err(ApiError::param(
            "off_session",
            format!("Invalid off_session: {other}. It is a boolean (true or false), one_off or recurring."),
        )),
    }
}

/// `POST /v1/payment_intents`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Reply, ApiError> {
    let amount = p.integer("amount")?.ok_or_else(|| ApiError::missing("amount"))?;
    let currency = p.required_string("currency")?.to_ascii_lowercase();
    let customer = p.string("customer")?.filter(|s| !s.is_empty());
    let payment_method = p.string("payment_method")?.filter(|s| !s.is_empty());
    let confirm = p.boolean("confirm")?.unwrap_or(false);
    let off_session = off_session(&mut p)?;
    let description = p.clearable_string("description")?.flatten();
    let metadata = p.metadata()?;
    ignored(&mut p)?;
    let expansions = p.expand()?;
    p.finish()?;

    if amount < 50 {
        return Err(ApiError::param("amount", "Amount must be at least 50 cents."));
    }
    if amount > MAX_AMOUNT {
        return Err(ApiError::param("amount", "Amount must be no more than $999,999.99."));
    }
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::param("currency", format!("Invalid currency: {currency}.")));
    }
    // One read of the customer gives its default card and its clock (the hot path reads it once).
    let payer = match &customer {
        Some(id) => Some(payer(ctx.store, id).ok_or_else(|| ApiError::no_such_in("customer", id, "customer"))?),
        None => None,
    };
    let at = ctx.time_on_clock(payer.as_ref().and_then(|p| p.test_clock.as_deref()));
    let payment_method = match payment_method {
        Some(pm) => {
            let pm = resolve(ctx, &pm, "payment_method")?;
            // The customer's own default needs no such check; a method named explicitly does.
            if let Some(customer) = &customer
                && owner_of(ctx.store, &pm).is_some_and(|owner| owner != *customer)
            {
                return Err(ApiError::param(
                    "payment_method",
                    format!("The provided PaymentMethod {pm} belongs to a different customer."),
                ));
            }
            Some(pm)
        }
        None => payer.and_then(|p| p.default_payment_method()),
    };
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
    let charged = charge(
        ctx,
        ChargeRequest { amount, currency, customer, payment_method, confirm, off_session, description, metadata, at },
    )?;
    if let (true, Charged::Settled(text)) = (expansions.is_empty(), &charged) {
        return Ok(Reply::Text(shared_bytes(text.clone())));
    }
    let mut intent = charged.into_value();
    expand(ctx.store, &mut intent, &expansions);
    Ok(Reply::Json(intent))
}

/// `GET /v1/payment_intents/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    let _ = p.string("client_secret")?;
    p.finish()?;
    get_expanded(ctx.store, Kind::PaymentIntent, id, &expansions)
}

/// `GET /v1/payment_intents` (filter: `customer`, indexed)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.string("customer")?;
    let filter = customer.as_deref().map(|c| ("customer", c));
    expand::list(ctx.store, Kind::PaymentIntent, "/v1/payment_intents", p, filter, |_| true)
}
