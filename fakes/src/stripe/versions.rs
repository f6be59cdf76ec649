//! Stripe API versions: which ones the fake speaks, and how an object stored in the newest shape is
//! rendered for an older one.
//!
//! A request picks its version with the `Stripe-Version` header (echoed in the response); without
//! it the account's default applies (2026-10-28.endive unless the fake was started with another).
//! Events are rendered in the account's version when they are created, and delivered to an
//! endpoint created with `api_version` in that endpoint's version, as Stripe does.
//!
//! Objects are stored once, in the newest shape. The documented differences that matter to a
//! billing service are applied on the way out for versions before 2025-03-31.basil:
//! - subscriptions: `current_period_start`/`_end` sit on the subscription, not on its items;
//! - invoices: `subscription`, `subscription_details` and `paid` instead of `parent`;
//! - invoice lines and invoice items: `type`, `subscription`, `subscription_item`, `proration`,
//!   `price` and `plan` instead of `parent` and `pricing`.
//!
//! Versions between releases differ only by additions, which the fake serves to all of them.

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::plans::plan_from;

/// Every version the fake answers to, oldest first.
const SUPPORTED: &[&str] = &[
    "2024-06-20",
    "2024-09-30.acacia",
    "2024-10-28.acacia",
    "2024-11-20.acacia",
    "2024-12-18.acacia",
    "2025-01-27.acacia",
    "2025-02-24.acacia",
    "2025-03-31.basil",
    "2025-04-30.basil",
    "2025-05-28.basil",
    "2025-06-30.basil",
    "2025-07-30.basil",
    "2025-08-27.basil",
    "2025-09-30.clover",
    "2025-10-29.clover",
    "2025-11-17.clover",
    "2025-12-15.clover",
    "2026-01-28.clover",
    "2026-02-25.clover",
    "2026-03-25.dahlia",
    "2026-04-22.dahlia",
    "2026-10-28.endive",
];

/// Where 2025-03-31.basil sits in [`SUPPORTED`].
const FIRST_BASIL: usize = 7;

/// A supported API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion(u8);

impl ApiVersion {
    /// The newest version: the shape objects are stored in, and the default.
    pub const LATEST: ApiVersion = ApiVersion((SUPPORTED.len() - 1) as u8);

    /// Parses a `Stripe-Version` value, or says which versions are supported.
    pub fn parse(name: &str) -> Result<ApiVersion, ApiError> {
        let name = name.trim();
        match SUPPORTED.iter().position(|known| *known == name) {
            Some(position) => Ok(ApiVersion(position as u8)),
            None => Err(ApiError::InvalidRequest(format!(
                "Invalid Stripe API version: {name}. The Stripe fake supports {}; send one of them in the \
                 Stripe-Version header, or none for the account default ({}).",
                SUPPORTED.join(", "),
                ApiVersion::LATEST.name()
            ))),
        }
    }

    /// The version's name (`2025-03-31.basil`).
    pub fn name(self) -> &'static str {
        SUPPORTED[self.0 as usize]
    }

    /// Every supported version's name, oldest first.
    pub fn all_names() -> &'static [&'static str] {
        SUPPORTED
    }

    /// Whether objects need reshaping for this version (anything before basil).
    pub fn needs_rendering(self) -> bool {
        (self.0 as usize) < FIRST_BASIL
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        ApiVersion::LATEST
    }
}

/// Reshapes a stored object (or a list, search result or event holding objects), in place, for
/// `version`. `price` looks up a price by id (pre-basil invoice lines embed the whole price).
pub fn render(value: &mut Value, version: ApiVersion, price: &dyn Fn(&str) -> Option<Value>) {
    if version.needs_rendering() {
        to_pre_basil(value, price);
    }
}

fn to_pre_basil(value: &mut Value, price: &dyn Fn(&str) -> Option<Value>) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| to_pre_basil(item, price)),
        Value::Object(fields) => {
            for child in fields.values_mut() {
                to_pre_basil(child, price);
            }
            match fields.get("object").and_then(Value::as_str) {
                Some("subscription") => subscription_periods_on_top(fields),
                Some("invoice") => invoice_without_parent(fields),
                Some("line_item") | Some("invoiceitem") => line_without_parent(fields, price),
                Some("event") => event_previous_attributes(fields),
                _ => {}
            }
        }
        _ => {}
    }
}

/// Before basil the current period was the subscription's; its items did not have one.
fn subscription_periods_on_top(fields: &mut Map<String, Value>) {
    let mut period = None;
    if let Some(items) = fields.get_mut("items").and_then(|i| i.get_mut("data")).and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            let start = item.remove("current_period_start");
            let end = item.remove("current_period_end");
            period = period.or(start.zip(end));
        }
    }
    if let Some((start, end)) = period {
        fields.insert("current_period_start".into(), start);
        fields.insert("current_period_end".into(), end);
    }
}

fn invoice_without_parent(fields: &mut Map<String, Value>) {
    let details = fields.remove("parent").map(|mut parent| parent["subscription_details"].take()).unwrap_or_default();
    let paid = fields.get("status").is_some_and(|status| status == "paid");
    fields.insert("subscription".into(), details.get("subscription").cloned().unwrap_or(Value::Null));
    let summary = if details.is_object() { json!({ "metadata": details["metadata"] }) } else { Value::Null };
    fields.insert("subscription_details".into(), summary);
    fields.insert("paid".into(), json!(paid));
    fields.insert("paid_out_of_band".into(), json!(false));
    fields.entry("charge").or_insert(Value::Null);
}

fn line_without_parent(fields: &mut Map<String, Value>, price: &dyn Fn(&str) -> Option<Value>) {
    let parent = fields.remove("parent").unwrap_or_default();
    let from_subscription = &parent["subscription_item_details"];
    let from_item = &parent["invoice_item_details"];
    let details = if from_subscription.is_object() { from_subscription } else { from_item };
    let is_line = fields.get("object").is_some_and(|o| o == "line_item");
    if is_line {
        let kind = if from_subscription.is_object() && from_subscription["invoice_item"].is_null() {
            "subscription"
        } else {
            "invoiceitem"
        };
        fields.insert("type".into(), json!(kind));
        fields.insert("subscription_item".into(), details["subscription_item"].clone());
        fields.insert("invoice_item".into(), details["invoice_item"].clone());
        fields.insert("proration_details".into(), details["proration_details"].clone());
    } else {
        fields.insert("subscription_item".into(), details["subscription_item"].clone());
    }
    fields.insert("subscription".into(), details["subscription"].clone());
    fields.insert("proration".into(), json!(details["proration"] == true));
    let price_id = fields.get("pricing").and_then(|p| p["price_details"]["price"].as_str()).map(str::to_string);
    if is_line {
        fields.remove("pricing");
    }
    let price = price_id.as_deref().and_then(price);
    fields.insert("plan".into(), price.as_ref().map(plan_from).unwrap_or(Value::Null));
    fields.insert("price".into(), price.unwrap_or(Value::Null));
}

/// A subscription event's `previous_attributes` name the item periods that changed; before basil
/// they named the subscription's own period instead.
fn event_previous_attributes(fields: &mut Map<String, Value>) {
    let Some(data) = fields.get_mut("data").and_then(Value::as_object_mut) else { return };
    if data.get("object").and_then(|o| o.get("object")).is_none_or(|o| o != "subscription") {
        return;
    }
    if let Some(previous) = data.get_mut("previous_attributes").and_then(Value::as_object_mut)
        && previous.contains_key("items")
    {
        subscription_periods_on_top(previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_prices(_: &str) -> Option<Value> {
        None
    }

    #[test]
    fn every_supported_name_parses_back_to_itself_and_others_are_refused() {
        for name in ApiVersion::all_names() {
            assert_eq!(ApiVersion::parse(name).unwrap().name(), *name);
        }
        let refused = ApiVersion::parse("2099-01-01.zinnia").unwrap_err();
        assert!(refused.to_string().contains("2025-03-31.basil"), "{refused}");
        assert_eq!(ApiVersion::LATEST.name(), "2026-10-28.endive");
    }

    #[test]
    fn before_basil_the_period_moves_from_the_items_to_the_subscription() {
        let mut subscription = json!({
            "object": "subscription",
            "items": { "object": "list", "data": [
                { "object": "subscription_item", "current_period_start": 1, "current_period_end": 2 }
            ] },
        });
        render(&mut subscription, ApiVersion::parse("2025-02-24.acacia").unwrap(), &no_prices);
        assert_eq!(subscription["current_period_end"], 2);
        assert!(subscription["items"]["data"][0].get("current_period_end").is_none());

        let mut untouched = json!({ "object": "subscription", "items": { "data": [{ "current_period_end": 2 }] } });
        render(&mut untouched, ApiVersion::parse("2025-03-31.basil").unwrap(), &no_prices);
        assert!(untouched.get("current_period_end").is_none());
    }

    #[test]
    fn before_basil_an_invoice_names_its_subscription_at_the_top() {
        let mut invoice = json!({
            "object": "invoice",
            "status": "paid",
            "parent": { "type": "subscription_details", "subscription_details": { "subscription": "sub_1", "metadata": {} } },
            "lines": { "data": [{
                "object": "line_item",
                "parent": { "type": "subscription_item_details", "subscription_item_details": {
                    "subscription": "sub_1", "subscription_item": "si_1", "proration": false, "invoice_item": null,
                    "proration_details": { "credited_items": null } } },
                "pricing": { "type": "price_details", "price_details": { "price": "price_1", "product": "prod_1" } },
            }] },
        });
        let price = |id: &str| Some(json!({ "id": id, "object": "price", "recurring": { "interval": "month" } }));
        render(&mut invoice, ApiVersion::parse("2024-06-20").unwrap(), &price);
        assert_eq!(invoice["subscription"], "sub_1");
        assert_eq!(invoice["paid"], true);
        assert!(invoice.get("parent").is_none());
        let line = &invoice["lines"]["data"][0];
        assert_eq!(line["type"], "subscription");
        assert_eq!(line["subscription_item"], "si_1");
        assert_eq!(line["price"]["id"], "price_1");
        assert_eq!(line["plan"]["interval"], "month");
    }
}
