//! `/v1/charges`: read-only. Charges are made by PaymentIntents (`domain::charging`); reading
//! them shows what a refund changed (`amount_refunded`, `refunded`). `customer` and
//! `payment_intent` filters are indexed.

use serde_json::Value;

use crate::stripe::context::Ctx;
use crate::stripe::error::ApiError;
use crate::stripe::expand;
use crate::stripe::kinds::Kind;
use crate::stripe::params::Params;
use crate::stripe::store::first_given;

/// `GET /v1/charges/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    expand::retrieve(ctx.store, Kind::Charge, id, p)
}

/// `GET /v1/charges` (filters: `customer`, `payment_intent`)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.string("customer")?;
    let payment_intent = p.string("payment_intent")?;
    let filter = first_given(&[("payment_intent", payment_intent.as_deref()), ("customer", customer.as_deref())]);
    expand::list(ctx.store, Kind::Charge, "/v1/charges", p, filter, |charge| {
        customer.as_ref().is_none_or(|c| charge["customer"] == c.as_str())
    })
}
