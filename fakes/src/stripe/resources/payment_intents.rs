//! `/v1/payment_intents`: one charge of a card. Confirmed at creation (`confirm=true`), the
//! outcome follows the card: test cards that decline answer 402 `card_error` with a
//! `decline_code` and the failed PaymentIntent in the error body, as Stripe does.
//!
//! The charging itself lives in `stripe::charging`, shared with invoice payment.

use serde_json::Value;

use bytes::Bytes;

use super::{customers, payment_methods};
use crate::stripe::charging::{ChargeRequest, Charged, charge};
use crate::stripe::context::{Ctx, expand};
use crate::stripe::error::ApiError;
use crate::stripe::params::{Page, Params};
use crate::stripe::reply::Reply;

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
    if let (true, Charged::Settled(text)) = (expansions.is_empty(), &charged) {
        return Ok(Reply::Text(Bytes::from(text.clone())));
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
