//! `/v1/customers`: create, retrieve, update, list (with the indexed `email` and `test_clock`
//! filters, and `created`), search, and delete.
//!
//! A customer created with `test_clock` lives on that clock: its `created`, and every object
//! billed to it later, use the clock's frozen time. `payment_method` on create attaches it,
//! and `invoice_settings[default_payment_method]` must name a method attached to the customer.
//! `balance` is the customer's credit balance in cents (negative: credit the next invoices use).

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::stripe::context::{Ctx, previous_attributes, unix_now};
use crate::stripe::domain::subscription_cycle::cancel_now;
use crate::stripe::domain::wallet::{attach_to, not_attached, require_attached, resolve};
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand};
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::params::{CreatedRange, MetadataPatch, Params};
use crate::stripe::response::{Reply, shared_bytes, to_text};
use crate::stripe::search::{self, SearchPage};
use crate::stripe::store::first_given;

const DEFAULT_PM: &str = "invoice_settings[default_payment_method]";

/// A new customer as Stripe returns it, serialized straight to the stored text (the benchmark's
/// hot path builds no `Value` tree). `()` fields serialize as `null`.
#[derive(Serialize)]
struct CustomerOut<'a> {
    id: &'a str,
    object: &'static str,
    address: (),
    balance: i64,
    created: i64,
    currency: (),
    default_source: (),
    delinquent: bool,
    description: Option<&'a str>,
    discount: (),
    email: Option<&'a str>,
    invoice_prefix: String,
    invoice_settings: InvoiceSettingsOut<'a>,
    livemode: bool,
    metadata: &'a Map<String, Value>,
    name: Option<&'a str>,
    next_invoice_sequence: i64,
    phone: Option<&'a str>,
    preferred_locales: [&'static str; 0],
    shipping: (),
    tax_exempt: &'static str,
    test_clock: Option<&'a str>,
}

#[derive(Serialize)]
struct InvoiceSettingsOut<'a> {
    custom_fields: (),
    default_payment_method: Option<&'a str>,
    footer: (),
    rendering_options: (),
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

fn default_payment_method_param(p: &mut Params) -> Result<Option<Option<String>>, ApiError> {
    match p.object("invoice_settings")? {
        Some(mut settings) => {
            let dpm = settings.clearable_string("default_payment_method")?;
            settings.finish()?;
            Ok(dpm)
        }
        None => Ok(None),
    }
}

fn balance_param(p: &mut Params) -> Result<Option<i64>, ApiError> {
    match p.integer("balance")? {
        Some(balance) if balance.abs() > 99_999_999_999 => {
            Err(ApiError::param("balance", "Invalid balance: must be between -99999999999 and 99999999999."))
        }
        other => Ok(other),
    }
}

/// `POST /v1/customers`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Reply, ApiError> {
    let email = p.clearable_string("email")?;
    validate_email(&email)?;
    let name = p.clearable_string("name")?.flatten();
    let description = p.clearable_string("description")?.flatten();
    let phone = p.clearable_string("phone")?.flatten();
    let balance = balance_param(&mut p)?.unwrap_or(0);
    let metadata = p.metadata()?;
    let test_clock = p.string("test_clock")?.filter(|s| !s.is_empty());
    let payment_method = p.string("payment_method")?.filter(|s| !s.is_empty());
    let default_payment_method = default_payment_method_param(&mut p)?.flatten();
    let expansions = p.expand()?;
    p.finish()?;

    let created = match &test_clock {
        Some(clock_id) => {
            ctx.store.get_kind(Kind::TestClock, clock_id, "test_clock")?["frozen_time"].as_i64().unwrap_or_default()
        }
        None => unix_now(),
    };
    if let Some(dpm) = &default_payment_method
        && payment_method.as_deref() != Some(dpm.as_str())
    {
        return Err(not_attached(DEFAULT_PM, dpm));
    }
    let payment_method_id = match &payment_method {
        Some(pm) => Some(resolve(ctx, pm, "payment_method")?),
        None => None,
    };

    let id = new_id(Kind::Customer.prefix());
    let email = email.flatten();
    let metadata = metadata.map(MetadataPatch::into_new).unwrap_or_default();
    let customer = CustomerOut {
        id: &id,
        object: "customer",
        address: (),
        balance,
        created,
        currency: (),
        default_source: (),
        delinquent: false,
        description: description.as_deref(),
        discount: (),
        email: email.as_deref(),
        invoice_prefix: id[4..12].to_ascii_uppercase(),
        invoice_settings: InvoiceSettingsOut {
            custom_fields: (),
            default_payment_method: payment_method_id.as_deref().filter(|_| default_payment_method.is_some()),
            footer: (),
            rendering_options: (),
        },
        livemode: false,
        metadata: &metadata,
        name: name.as_deref(),
        next_invoice_sequence: 1,
        phone: phone.as_deref(),
        preferred_locales: [],
        shipping: (),
        tax_exempt: "none",
        test_clock: test_clock.as_deref(),
    };
    // One serialization: the stored text is also the event's object and the response.
    let text = to_text(&customer, 768);
    let pairs = metadata.iter().filter_map(|(key, value)| Some((key.as_str(), value.as_str()?)));
    ctx.store.insert_indexed(Kind::Customer, &id, text.clone(), &[email.as_deref(), test_clock.as_deref()], pairs);
    ctx.emit_text("customer.created", text.clone(), None, created);
    if let Some(pm_id) = payment_method_id {
        attach_to(ctx, &pm_id, &id)?;
    }
    if expansions.is_empty() {
        return Ok(Reply::Text(shared_bytes(text)));
    }
    let mut customer: Value = serde_json::from_str(&text).unwrap_or_default();
    expand(ctx.store, &mut customer, &expansions);
    Ok(Reply::Json(customer))
}

/// `GET /v1/customers/{id}`; a deleted customer answers `{id, object, deleted: true}` as Stripe does.
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Reply, ApiError> {
    let expansions = p.expand()?;
    p.finish()?;
    if ctx.store.was_deleted(id) && id.starts_with("cus_") {
        return Ok(Reply::Json(json!({ "id": id, "object": "customer", "deleted": true })));
    }
    if expansions.is_empty() {
        let text = ctx.store.text(id).filter(|_| ctx.store.exists(Kind::Customer, id)).cloned();
        return text.map(|t| Reply::Text(shared_bytes(t))).ok_or_else(|| ApiError::no_such("customer", id));
    }
    let mut customer = ctx.store.get_kind(Kind::Customer, id, "id")?;
    expand(ctx.store, &mut customer, &expansions);
    Ok(Reply::Json(customer))
}

/// `POST /v1/customers/{id}`
pub fn update(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Reply, ApiError> {
    let email = p.clearable_string("email")?;
    validate_email(&email)?;
    let name = p.clearable_string("name")?;
    let description = p.clearable_string("description")?;
    let phone = p.clearable_string("phone")?;
    let balance = balance_param(&mut p)?;
    let metadata = p.metadata()?;
    let default_payment_method = default_payment_method_param(&mut p)?;
    let expansions = p.expand()?;
    p.finish()?;
    let before = ctx.store.get_kind(Kind::Customer, id, "id")?;

    if let Some(Some(pm)) = &default_payment_method {
        require_attached(ctx.store, pm, id, DEFAULT_PM)?;
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
    if let Some(balance) = balance {
        after["balance"] = json!(balance);
    }
    if let Some(metadata) = metadata {
        metadata.apply(&mut after);
    }
    let text = ctx.store.replace(&after).unwrap_or_default();
    if let Some(previous) = previous_attributes(&before, &after) {
        let now = ctx.time_for_customer(Some(id));
        ctx.emit_text("customer.updated", text, Some(previous), now);
    }
    expand(ctx.store, &mut after, &expansions);
    Ok(Reply::Json(after))
}

/// `GET /v1/customers` (`email` and `test_clock` are indexed; `created`, exact or as a range
/// of `gt`/`gte`/`lt`/`lte`, is checked on each customer)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Reply, ApiError> {
    let email = p.string("email")?;
    let test_clock = p.string("test_clock")?;
    let created = CreatedRange::take(&mut p)?;
    let filter = first_given(&[("email", email.as_deref()), ("test_clock", test_clock.as_deref())]);
    expand::list(ctx.store, Kind::Customer, "/v1/customers", p, filter, |c| {
        // The email index ignores case; Stripe's filter does not.
        email.as_ref().is_none_or(|e| c["email"] == e.as_str())
            && test_clock.as_ref().is_none_or(|t| c["test_clock"] == t.as_str())
            && created.contains(c["created"].as_i64())
    })
    .map(Reply::Json)
}

/// `GET /v1/customers/search` (`query`, `limit`, `page`): see `stripe::search` for the language.
pub fn search(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Reply, ApiError> {
    let query = p.required_string("query")?;
    let page = SearchPage::take(&mut p)?;
    let expansions = p.expand()?;
    p.finish()?;
    let query = search::parse(&query, search::CUSTOMER_FIELDS)?;
    let mut result = search::run(ctx.store, Kind::Customer, &query, &page, "/v1/customers/search")?;
    expand(ctx.store, &mut result, &expansions);
    Ok(Reply::Json(result))
}

/// `DELETE /v1/customers/{id}`: removes the customer and cancels its subscriptions.
pub fn delete(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Reply, ApiError> {
    p.finish()?;
    ctx.store.get_kind(Kind::Customer, id, "id")?;
    let now = ctx.time_for_customer(Some(id));
    for subscription in ctx.store.ids(Kind::Subscription, Some(("customer", id))) {
        let live = ctx.store.get(&subscription).is_some_and(|s| s["status"] != "canceled");
        if live {
            cancel_now(ctx, &subscription, now);
        }
    }
    let text = ctx.store.text(id).cloned();
    ctx.store.remove(id);
    if let Some(text) = text {
        ctx.emit_text("customer.deleted", text, None, now);
    }
    Ok(Reply::Json(json!({ "id": id, "object": "customer", "deleted": true })))
}
