//! `/v1/prices`: one-off and recurring prices, with `lookup_key` (and `lookup_keys[]` on list)
//! so services can find "pro_monthly" without storing price ids.

use serde_json::{Value, json};

use crate::stripe::context::{Ctx, unix_now};
use crate::stripe::domain::catalog::insert_product;
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand};
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;
use crate::stripe::params::{MetadataPatch, Params};

const INTERVALS: [&str; 4] = ["day", "week", "month", "year"];

/// Stripe's ceiling for an amount in the smallest currency unit (eight digits).
const MAX_UNIT_AMOUNT: i64 = 99_999_999;

/// `recurring[...]` of a new price.
fn read_recurring(mut recurring: Params) -> Result<Value, ApiError> {
    let interval = recurring.required_string("interval")?;
    if !INTERVALS.contains(&interval.as_str()) {
        return Err(ApiError::param(
            "recurring[interval]",
            format!("Invalid recurring[interval]: must be one of day, week, month, or year (got {interval})."),
        ));
    }
    let interval_count = recurring.integer("interval_count")?.unwrap_or(1);
    if !(1..=365).contains(&interval_count) {
        return Err(ApiError::param(
            "recurring[interval_count]",
            "Invalid recurring[interval_count]: must be between 1 and 365.",
        ));
    }
    let usage_type = recurring.string("usage_type")?.unwrap_or_else(|| "licensed".into());
    recurring.finish()?;
    Ok(
        json!({ "interval": interval, "interval_count": interval_count, "meter": null, "usage_type": usage_type, "trial_period_days": null }),
    )
}

/// The product a new price hangs off: `product`, or a new one from `product_data`.
fn product_of(
    ctx: &mut Ctx<'_>,
    product: Option<String>,
    product_data: Option<(String, Option<MetadataPatch>)>,
) -> Result<String, ApiError> {
    match (product, product_data) {
        (Some(id), None) => {
            ctx.store.get_kind(Kind::Product, &id, "product")?;
            Ok(id)
        }
        (None, Some((name, metadata))) => {
            let mut meta = json!({ "metadata": {} });
            if let Some(metadata) = metadata {
                metadata.apply(&mut meta);
            }
            let product = insert_product(ctx, None, name, None, true, meta["metadata"].take());
            Ok(product["id"].as_str().unwrap_or_default().to_string())
        }
        (Some(_), Some(_)) => {
            Err(ApiError::param("product_data", "You may only specify one of these parameters: product, product_data."))
        }
        (None, None) => Err(ApiError::missing("product")),
    }
}

/// Frees `key` for a new price: refused if taken, unless `transfer` moves it.
fn take_lookup_key(ctx: &mut Ctx<'_>, key: &str, transfer: bool) -> Result<(), ApiError> {
    let taken: Vec<Value> = ctx.store.all(Kind::Price).into_iter().filter(|price| price["lookup_key"] == key).collect();
    if let Some(first) = taken.first()
        && !transfer
    {
        return Err(ApiError::param(
            "lookup_key",
            format!("A price (`{}`) already uses that lookup key.", first["id"].as_str().unwrap_or_default()),
        ));
    }
    for mut price in taken {
        price["lookup_key"] = Value::Null;
        ctx.store.replace(&price);
    }
    Ok(())
}

/// `POST /v1/prices`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let currency = p.required_string("currency")?.to_ascii_lowercase();
    let unit_amount = p.integer("unit_amount")?;
    let product = p.string("product")?.filter(|s| !s.is_empty());
    let product_data = match p.object("product_data")? {
        Some(mut data) => {
            let name = data.required_string("name")?;
            let metadata = data.metadata()?;
            data.finish()?;
            Some((name, metadata))
        }
        None => None,
    };
    let recurring = match p.object("recurring")? {
        Some(recurring) => Some(read_recurring(recurring)?),
        None => None,
    };
    let lookup_key = p.string("lookup_key")?.filter(|s| !s.is_empty());
    let transfer_lookup_key = p.boolean("transfer_lookup_key")?.unwrap_or(false);
    let nickname = p.clearable_string("nickname")?.flatten();
    let active = p.boolean("active")?.unwrap_or(true);
    let metadata = p.metadata()?;
    let expansions = p.expand()?;
    p.finish()?;

    let Some(unit_amount) = unit_amount else { return Err(ApiError::missing("unit_amount")) };
    if !(0..=MAX_UNIT_AMOUNT).contains(&unit_amount) {
        return Err(ApiError::param(
            "unit_amount",
            format!("Invalid unit_amount: must be between 0 and {MAX_UNIT_AMOUNT}."),
        ));
    }
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::param("currency", format!("Invalid currency: {currency}.")));
    }
    let product_id = product_of(ctx, product, product_data)?;
    if let Some(key) = &lookup_key {
        take_lookup_key(ctx, key, transfer_lookup_key)?;
    }
    let now = unix_now();
    let mut price = json!({
        "id": new_id(Kind::Price.prefix()),
        "object": "price",
        "active": active,
        "billing_scheme": "per_unit",
        "created": now,
        "currency": currency,
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": lookup_key,
        "metadata": {},
        "nickname": nickname,
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": if recurring.is_some() { "recurring" } else { "one_time" },
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount.to_string(),
    });
    if let Some(metadata) = metadata {
        metadata.apply(&mut price);
    }
    let text = ctx.store.insert(Kind::Price, &price);
    ctx.emit_text("price.created", text, None, now);
    expand(ctx.store, &mut price, &expansions);
    Ok(price)
}

/// `GET /v1/prices/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    expand::retrieve(ctx.store, Kind::Price, id, p)
}

/// `GET /v1/prices` with `lookup_keys[]`, `product`, `active`, `type`.
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let lookup_keys = p.string_array("lookup_keys")?;
    let product = p.string("product")?;
    let active = p.boolean("active")?;
    let kind = p.string("type")?;
    expand::list(ctx.store, Kind::Price, "/v1/prices", p, None, |price| {
        lookup_keys.as_ref().is_none_or(|keys| keys.iter().any(|k| price["lookup_key"] == k.as_str()))
            && product.as_ref().is_none_or(|id| price["product"] == id.as_str())
            && active.is_none_or(|a| price["active"] == a)
            && kind.as_ref().is_none_or(|k| price["type"] == k.as_str())
    })
}
