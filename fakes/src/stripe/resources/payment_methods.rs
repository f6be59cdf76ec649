//! `/v1/payment_methods`: test tokens become real `pm_...` objects; attach, detach, retrieve,
//! and list a customer's methods (the `customer` filter is indexed).
//!
//! Anywhere a payment method id is accepted, a test token (`pm_card_visa`) is accepted too and
//! turned into a fresh object, as Stripe test mode does.

use serde_json::{Value, json};

use crate::stripe::context::Ctx;
use crate::stripe::domain::wallet::{attach_to, resolve};
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand};
use crate::stripe::kinds::Kind;
use crate::stripe::params::Params;

/// `POST /v1/payment_methods/{id}/attach`
pub fn attach(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.required_string("customer")?;
    let expansions = p.expand()?;
    p.finish()?;
    ctx.store.get_kind(Kind::Customer, &customer, "customer")?;
    let pm_id = resolve(ctx, id, "id")?;
    let mut method = attach_to(ctx, &pm_id, &customer)?;
    expand(ctx.store, &mut method, &expansions);
    Ok(method)
}

/// `POST /v1/payment_methods/{id}/detach`; also clears it as the customer's default.
pub fn detach(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    p.finish()?;
    let mut method = ctx.store.get_kind(Kind::PaymentMethod, id, "id")?;
    let Some(customer_id) = method["customer"].as_str().map(str::to_string) else {
        return Err(ApiError::InvalidRequest(format!(
            "The payment method {id} is not attached to a customer so detachment is impossible."
        )));
    };
    let now = ctx.time_for_customer(Some(&customer_id));
    method["customer"] = Value::Null;
    let text = ctx.store.replace(&method).unwrap_or_default();
    if let Some(mut customer) = ctx.store.get(&customer_id)
        && customer["invoice_settings"]["default_payment_method"] == id
    {
        customer["invoice_settings"]["default_payment_method"] = Value::Null;
        ctx.store.replace(&customer);
    }
    ctx.emit_text("payment_method.detached", text, Some(json!({ "customer": customer_id })), now);
    expand(ctx.store, &mut method, &expansions);
    Ok(method)
}

/// `GET /v1/payment_methods/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    expand::retrieve(ctx.store, Kind::PaymentMethod, id, p)
}

/// `GET /v1/payment_methods?customer=` and `GET /v1/customers/{id}/payment_methods`.
pub fn list(ctx: &mut Ctx<'_>, customer_in_path: Option<&str>, mut p: Params) -> Result<Value, ApiError> {
    let customer = match customer_in_path {
        Some(id) => Some(id.to_string()),
        None => p.string("customer")?,
    };
    let kind = p.string("type")?;
    let url = match customer_in_path {
        Some(id) => format!("/v1/customers/{id}/payment_methods"),
        None => "/v1/payment_methods".to_string(),
    };
    if let Some(customer) = &customer {
        let param = if customer_in_path.is_some() { "id" } else { "customer" };
        ctx.store.get_kind(Kind::Customer, customer, param)?;
    }
    let filter = customer.as_deref().map(|c| ("customer", c));
    expand::list(ctx.store, Kind::PaymentMethod, &url, p, filter, |m| {
        !m["customer"].is_null() && kind.as_ref().is_none_or(|k| m["type"] == k.as_str())
    })
}
