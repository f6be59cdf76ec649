//! `/v1/payment_methods`: test tokens become real `pm_...` objects; attach, detach, retrieve,
//! and list a customer's methods.
//!
//! Anywhere a payment method id is accepted, a test token (`pm_card_visa`) is accepted too and
//! turned into a fresh object, as Stripe test mode does.

use serde_json::{Value, json};

use super::customers;
use crate::stripe::cards::{card_details, card_for_token};
use crate::stripe::context::{Ctx, expand, unix_now};
use crate::stripe::error::ApiError;
use crate::stripe::ids::new_id;
use crate::stripe::params::{Page, Params};

/// The id of a stored payment method, creating one if `id_or_token` is a test token.
pub fn resolve(ctx: &mut Ctx<'_>, id_or_token: &str, param: &str) -> Result<String, ApiError> {
    if let Some(card) = card_for_token(id_or_token) {
        let id = new_id("pm");
        let method = json!({
            "id": id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {"city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null},
                "email": null, "name": null, "phone": null, "tax_id": null,
            },
            "card": card_details(card),
            "created": unix_now(),
            "customer": null,
            "customer_account": null,
            "livemode": false,
            "metadata": {},
            "type": "card",
        });
        ctx.store.insert("payment_method", method);
        return Ok(id);
    }
    ctx.store.get_kind("payment_method", "PaymentMethod", id_or_token, param)?;
    Ok(id_or_token.to_string())
}

/// Attaches a stored payment method to a customer and emits `payment_method.attached`.
pub fn attach_to(ctx: &mut Ctx<'_>, pm_id: &str, customer_id: &str) -> Result<Value, ApiError> {
    let current = ctx.store.get_kind("payment_method", "PaymentMethod", pm_id, "id")?;
    match current["customer"].as_str() {
        Some(owner) if owner == customer_id => return Ok(current.clone()),
        Some(_) => {
            return Err(ApiError::InvalidRequest(format!(
                "The payment method you provided has already been attached to a customer: {pm_id}."
            )));
        }
        None => {}
    }
    let now = ctx.time_for_customer(Some(customer_id));
    let method = match ctx.store.get_mut(pm_id) {
        Some(method) => {
            method["customer"] = json!(customer_id);
            method.clone()
        }
        None => return Err(ApiError::no_such("PaymentMethod", pm_id)),
    };
    ctx.emit("payment_method.attached", &method, Some(json!({ "customer": null })), now);
    Ok(method)
}

/// `POST /v1/payment_methods/{id}/attach`
pub fn attach(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.required_string("customer")?;
    let expansions = p.expand()?;
    p.finish()?;
    customers::require(ctx, &customer, "customer")?;
    let pm_id = resolve(ctx, id, "id")?;
    let mut method = attach_to(ctx, &pm_id, &customer)?;
    expand(ctx.store, &mut method, &expansions);
    Ok(method)
}

/// `POST /v1/payment_methods/{id}/detach`; also clears it as the customer's default.
pub fn detach(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    p.finish()?;
    let current = ctx.store.get_kind("payment_method", "PaymentMethod", id, "id")?.clone();
    let Some(customer_id) = current["customer"].as_str().map(str::to_string) else {
        return Err(ApiError::InvalidRequest(format!(
            "The payment method {id} is not attached to a customer so detachment is impossible."
        )));
    };
    let now = ctx.time_for_customer(Some(&customer_id));
    let mut method = current;
    method["customer"] = Value::Null;
    if let Some(stored) = ctx.store.get_mut(id) {
        *stored = method.clone();
    }
    if let Some(customer) = ctx.store.get_mut(&customer_id)
        && customer["invoice_settings"]["default_payment_method"] == id
    {
        customer["invoice_settings"]["default_payment_method"] = Value::Null;
    }
    ctx.emit("payment_method.detached", &method, Some(json!({ "customer": customer_id })), now);
    Ok(method)
}

/// `GET /v1/payment_methods/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    p.finish()?;
    let mut method = ctx.store.get_kind("payment_method", "PaymentMethod", id, "id")?.clone();
    expand(ctx.store, &mut method, &expansions);
    Ok(method)
}

/// `GET /v1/payment_methods?customer=` and `GET /v1/customers/{id}/payment_methods`.
pub fn list(ctx: &mut Ctx<'_>, customer_in_path: Option<&str>, mut p: Params) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    let customer = match customer_in_path {
        Some(id) => Some(id.to_string()),
        None => p.string("customer")?,
    };
    let kind = p.string("type")?;
    let expansions = p.expand()?;
    p.finish()?;
    let url = match (customer_in_path, &customer) {
        (Some(id), _) => format!("/v1/customers/{id}/payment_methods"),
        _ => "/v1/payment_methods".to_string(),
    };
    if let Some(customer) = &customer {
        let param = if customer_in_path.is_some() { "id" } else { "customer" };
        customers::require(ctx, customer, param)?;
    }
    let mut list = ctx.store.list("payment_method", &url, &page, |m| {
        customer.as_ref().is_none_or(|c| m["customer"] == c.as_str())
            && !m["customer"].is_null()
            && kind.as_ref().is_none_or(|k| m["type"] == k.as_str())
    })?;
    expand(ctx.store, &mut list, &expansions);
    Ok(list)
}
