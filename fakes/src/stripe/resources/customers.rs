//! `/v1/customers`: create, retrieve, update, list (with `email` filter) and delete.
//!
//! A customer created with `test_clock` lives on that clock: its `created`, and every object
//! billed to it later, use the clock's frozen time. `payment_method` on create attaches it,
//! and `invoice_settings[default_payment_method]` must name a method attached to the customer.

use bytes::Bytes;
use serde_json::{Value, json};

use super::payment_methods;
use crate::stripe::context::{Ctx, expand, previous_attributes};
use crate::stripe::error::ApiError;
use crate::stripe::ids::new_id;
use crate::stripe::params::{Page, Params};
use crate::stripe::reply::Reply;

/// The customer with this id, or 404 naming `param`.
pub fn require<'s>(ctx: &'s Ctx<'_>, id: &str, param: &str) -> Result<&'s Value, ApiError> {
    ctx.store.get_kind("customer", "customer", id, param)
}

fn validate_email(email: &Option<Option<String>>) -> Result<(), ApiError> {
    if let Some(Some(email)) = email {
        let valid = email.len() <= 512
            && email.split_once('@').is_some_and(|(user, host)| !user.is_empty() && !host.is_empty());
        if !valid {
            return Err(ApiError::param("email", format!("Invalid email address: {email}")));
        }
    }
    Ok(())
}

/// `POST /v1/customers`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Reply, ApiError> {
    let email = p.clearable_string("email")?;
    validate_email(&email)?;
    let name = p.clearable_string("name")?.flatten();
    let description = p.clearable_string("description")?.flatten();
    let phone = p.clearable_string("phone")?.flatten();
    let metadata = p.metadata()?;
    let test_clock = p.string("test_clock")?.filter(|s| !s.is_empty());
    let payment_method = p.string("payment_method")?.filter(|s| !s.is_empty());
    let default_payment_method = match p.object("invoice_settings")? {
        Some(mut settings) => {
            let dpm = settings.clearable_string("default_payment_method")?.flatten();
            settings.finish()?;
            dpm
        }
        None => None,
    };
    let expansions = p.expand()?;
    p.finish()?;

    let created = match &test_clock {
        Some(clock_id) => ctx
            .store
            .get_kind("test_helpers.test_clock", "test clock", clock_id, "test_clock")?
            .get("frozen_time")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
        None => crate::stripe::context::unix_now(),
    };
    let payment_method_id = match &payment_method {
        Some(pm) => Some(payment_methods::resolve(ctx, pm, "payment_method")?),
        None => None,
    };
    if let Some(dpm) = &default_payment_method {
        let same_as_attached = payment_method.as_deref() == Some(dpm.as_str());
        if !same_as_attached {
            return Err(not_attached(dpm));
        }
    }

    let id = new_id("cus");
    let mut customer = json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": created,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": description,
        "discount": null,
        "email": email.flatten(),
        "invoice_prefix": id[4..12].to_ascii_uppercase(),
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": payment_method_id.as_ref().filter(|_| default_payment_method.is_some()),
            "footer": null,
            "rendering_options": null,
        },
        "livemode": false,
        "metadata": {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": test_clock,
    });
    if let Some(metadata) = metadata {
        metadata.apply(&mut customer);
    }
    if !expansions.is_empty() {
        ctx.store.insert("customer", customer.clone());
        ctx.emit("customer.created", &customer, None, created);
        if let Some(pm_id) = payment_method_id {
            payment_methods::attach_to(ctx, &pm_id, &id)?;
        }
        expand(ctx.store, &mut customer, &expansions);
        return Ok(Reply::Json(customer));
    }
    // The common case serializes once: the same text is the event's object and the response.
    let text = serde_json::to_string(&customer).unwrap_or_default();
    ctx.emit_text("customer.created", &text, created);
    ctx.store.insert("customer", customer);
    if let Some(pm_id) = payment_method_id {
        payment_methods::attach_to(ctx, &pm_id, &id)?;
    }
    Ok(Reply::Text(Bytes::from(text)))
}

fn not_attached(pm: &str) -> ApiError {
    ApiError::param(
        "invoice_settings[default_payment_method]",
        format!(
            "The customer does not have a payment method with the ID {pm}. The payment method must be attached to the customer."
        ),
    )
}

/// `GET /v1/customers/{id}`; a deleted customer answers `{id, object, deleted: true}` as Stripe does.
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    p.finish()?;
    if ctx.store.was_deleted(id) && id.starts_with("cus_") {
        return Ok(json!({ "id": id, "object": "customer", "deleted": true }));
    }
    let mut customer = require(ctx, id, "id")?.clone();
    expand(ctx.store, &mut customer, &expansions);
    Ok(customer)
}

/// `POST /v1/customers/{id}`
pub fn update(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let before = require(ctx, id, "id")?.clone();
    let email = p.clearable_string("email")?;
    validate_email(&email)?;
    let name = p.clearable_string("name")?;
    let description = p.clearable_string("description")?;
    let phone = p.clearable_string("phone")?;
    let metadata = p.metadata()?;
    let default_payment_method = match p.object("invoice_settings")? {
        Some(mut settings) => {
            let dpm = settings.clearable_string("default_payment_method")?;
            settings.finish()?;
            dpm
        }
        None => None,
    };
    let expansions = p.expand()?;
    p.finish()?;

    if let Some(Some(pm)) = &default_payment_method {
        let attached_here = ctx.store.get(pm).is_some_and(|o| o["object"] == "payment_method" && o["customer"] == id);
        if !attached_here {
            return Err(not_attached(pm));
        }
    }

    let mut after = before.clone();
    for (field, value) in [("email", email), ("name", name), ("description", description), ("phone", phone)] {
        if let Some(value) = value {
            after[field] = json!(value);
        }
    }
    if let Some(dpm) = default_payment_method {
        after["invoice_settings"]["default_payment_method"] = json!(dpm);
    }
    if let Some(metadata) = metadata {
        metadata.apply(&mut after);
    }
    if let Some(stored) = ctx.store.get_mut(id) {
        *stored = after.clone();
    }
    if let Some(previous) = previous_attributes(&before, &after) {
        let now = ctx.time_for_customer(Some(id));
        ctx.emit("customer.updated", &after, Some(previous), now);
    }
    let mut response = after;
    expand(ctx.store, &mut response, &expansions);
    Ok(response)
}

/// `GET /v1/customers`
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    let email = p.string("email")?;
    let test_clock = p.string("test_clock")?;
    let expansions = p.expand()?;
    p.finish()?;
    let mut list = ctx.store.list("customer", "/v1/customers", &page, |c| {
        email.as_ref().is_none_or(|e| c["email"] == e.as_str())
            && test_clock.as_ref().is_none_or(|t| c["test_clock"] == t.as_str())
    })?;
    expand(ctx.store, &mut list, &expansions);
    Ok(list)
}

/// `DELETE /v1/customers/{id}`: removes the customer and cancels its subscriptions.
pub fn delete(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    p.finish()?;
    require(ctx, id, "id")?;
    let now = ctx.time_for_customer(Some(id));
    let subscriptions: Vec<String> = ctx
        .store
        .all("subscription")
        .iter()
        .filter(|s| s["customer"] == id && s["status"] != "canceled")
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    for subscription in subscriptions {
        super::subscriptions::cancel_now(ctx, &subscription, now);
    }
    if let Some(customer) = ctx.store.remove("customer", id) {
        ctx.emit("customer.deleted", &customer, None, now);
    }
    Ok(json!({ "id": id, "object": "customer", "deleted": true }))
}
