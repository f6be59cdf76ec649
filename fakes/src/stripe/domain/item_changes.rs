//! Changing a subscription's items: `items[n][id]` with a new `price` or `quantity`, `deleted`,
//! or an entry without `id` that adds an item. Read the same way for `POST /v1/subscriptions/{id}`
//! and for `subscription_details[items]` of `POST /v1/invoices/create_preview`, so a preview shows
//! exactly what the update would do.

use serde_json::{Value, json};

use super::subscription_cycle::{current_period, interval_of, new_item};
use crate::stripe::error::ApiError;
use crate::stripe::kinds::Kind;
use crate::stripe::params::{MetadataPatch, Params};
use crate::stripe::plans::plan_from;
use crate::stripe::store::Store;

/// Most items a subscription may have (Stripe's limit).
pub const MAX_ITEMS: usize = 20;

/// Largest quantity accepted on an item; keeps every amount far from overflow.
pub const MAX_QUANTITY: i64 = 1_000_000;

/// One entry of the `items` array as sent.
#[derive(Debug)]
pub struct ItemChange {
    /// `items[n]` (or `subscription_details[items][n]`), for error messages.
    name: String,
    id: Option<String>,
    price: Option<String>,
    quantity: Option<i64>,
    deleted: bool,
    metadata: Option<MetadataPatch>,
}

impl ItemChange {
    /// `items[n][id]`: the item changed (none for a new item).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// `items[n][price]`.
    pub fn price(&self) -> Option<&str> {
        self.price.as_deref()
    }

    /// `items[n][quantity]`.
    pub fn quantity(&self) -> Option<i64> {
        self.quantity
    }

    /// `items[n][deleted]`.
    pub fn deleted(&self) -> bool {
        self.deleted
    }
}

/// Reads the `items` array of `params`; `None` when absent.
pub fn parse(params: &mut Params) -> Result<Option<Vec<ItemChange>>, ApiError> {
    let Some(raw_items) = params.array("items")? else { return Ok(None) };
    if raw_items.len() > MAX_ITEMS {
        return Err(ApiError::param(
            params.name("items"),
            format!("A subscription can have at most {MAX_ITEMS} items."),
        ));
    }
    let mut changes = Vec::with_capacity(raw_items.len());
    for (index, raw) in raw_items.into_iter().enumerate() {
        let mut item = params.nested("items", index, raw)?;
        let name = format!("{}[{index}]", params.name("items"));
        let change = ItemChange {
            id: item.string("id")?.filter(|s| !s.is_empty()),
            price: item.string("price")?.filter(|s| !s.is_empty()),
            quantity: item.integer("quantity")?,
            deleted: item.boolean("deleted")?.unwrap_or(false),
            metadata: item.metadata()?,
            name,
        };
        let _ = item.boolean("clear_usage")?;
        item.finish()?;
        if let Some(quantity) = change.quantity
            && !(1..=MAX_QUANTITY).contains(&quantity)
        {
            return Err(ApiError::param(
                format!("{}[quantity]", change.name),
                format!("Invalid quantity: must be between 1 and {MAX_QUANTITY}."),
            ));
        }
        changes.push(change);
    }
    Ok(Some(changes))
}

/// A recurring price the subscription can bill, or the error naming `param`.
pub fn recurring_price(store: &Store, id: &str, param: &str) -> Result<Value, ApiError> {
    let price = store.get_kind(Kind::Price, id, param)?;
    if price["type"] != "recurring" {
        return Err(ApiError::param(
            param,
            "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
        ));
    }
    Ok(price)
}

/// The subscription's items after `changes`, or why they cannot be applied. Kept items keep their
/// ids; new ones are created in the current period at `at`.
pub fn apply(store: &Store, subscription: &Value, changes: Vec<ItemChange>, at: i64) -> Result<Vec<Value>, ApiError> {
    let mut items: Vec<Value> = subscription["items"]["data"].as_array().cloned().unwrap_or_default();
    let subscription_id = subscription["id"].as_str().unwrap_or_default();
    let period = current_period(subscription);
    for change in changes {
        let price = match &change.price {
            Some(id) => Some(compatible_price(store, subscription, id, &format!("{}[price]", change.name))?),
            None => None,
        };
        match &change.id {
            Some(id) => {
                let position = items
                    .iter()
                    .position(|item| item["id"] == id.as_str())
                    .ok_or_else(|| ApiError::no_such_in("subscription item", id, &format!("{}[id]", change.name)))?;
                if change.deleted {
                    items.remove(position);
                    continue;
                }
                let item = &mut items[position];
                if let Some(price) = price {
                    item["plan"] = plan_from(&price);
                    item["price"] = price;
                }
                if let Some(quantity) = change.quantity {
                    item["quantity"] = json!(quantity);
                }
                if let Some(metadata) = change.metadata {
                    metadata.apply(item);
                }
            }
            None => {
                let Some(price) = price else { return Err(ApiError::missing(&format!("{}[price]", change.name))) };
                let mut item = new_item(subscription_id, &price, change.quantity.unwrap_or(1), at, period);
                if let Some(metadata) = change.metadata {
                    metadata.apply(&mut item);
                }
                items.push(item);
            }
        }
    }
    check_items(&items)?;
    Ok(items)
}

/// A price that can join this subscription: recurring, same currency and billing interval.
fn compatible_price(store: &Store, subscription: &Value, id: &str, param: &str) -> Result<Value, ApiError> {
    let price = recurring_price(store, id, param)?;
    if price["currency"] != subscription["currency"] {
        return Err(ApiError::param(
            param,
            format!(
                "The price {id} is in {} but the subscription bills in {}; all items of a subscription share one currency.",
                price["currency"].as_str().unwrap_or_default(),
                subscription["currency"].as_str().unwrap_or_default()
            ),
        ));
    }
    let (interval, count) = interval_of(subscription);
    let recurring = &price["recurring"];
    if recurring["interval"] != interval.as_str() || recurring["interval_count"].as_i64() != Some(count) {
        return Err(ApiError::param(
            param,
            format!(
                "The Stripe fake changes items only between prices with the subscription's billing interval \
                 ({count} {interval}); create a new subscription to change the interval."
            ),
        ));
    }
    Ok(price)
}

fn check_items(items: &[Value]) -> Result<(), ApiError> {
    if items.is_empty() {
        return Err(ApiError::param("items", "A subscription must keep at least one item; cancel it instead."));
    }
    for (n, item) in items.iter().enumerate() {
        let price = &item["price"]["id"];
        if items[..n].iter().any(|other| other["price"]["id"] == *price) {
            return Err(ApiError::param(
                "items",
                format!(
                    "Cannot add multiple subscription items with the same price: {}.",
                    price.as_str().unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
}
