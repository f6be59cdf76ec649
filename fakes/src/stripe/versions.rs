//! Stripe API versions: which releases the fake knows the shapes of, how it answers any other
//! well-formed version, and how an object stored in the newest shape is rendered for an older one.
//!
//! A request picks its version with the `Stripe-Version` header (echoed in the response); without
//! it the account's default applies (2026-10-28.endive unless the fake was started with another).
//! Events are rendered in the account's version when they are created, and delivered to an
//! endpoint created with `api_version` in that endpoint's version, as Stripe does.
//!
//! Stripe ships a version about every month and its official clients pin the newest one at each
//! release, so a closed list would fail every request of a client released after the fake. Any
//! well-formed version (`YYYY-MM-DD` with an optional `.name`) is therefore answered: one the fake
//! does not know in the shapes of the nearest older release it knows (the newest for a version
//! from the future, the oldest for one before them all). The response echoes the version asked
//! for, as Stripe does, and names the release whose shapes answered in the fake's own
//! [`SHAPES_HEADER`]; the first request with each unknown version says so in the log. A strict
//! [`VersionPolicy`] refuses unknown versions instead (`--strict-api-versions`).
//!
//! Objects are stored once, in the newest shape. The documented differences that matter to a
//! billing service are applied on the way out for versions before 2025-03-31.basil:
//! - subscriptions: `current_period_start`/`_end` sit on the subscription, not on its items;
//! - invoices: `subscription`, `subscription_details` and `paid` instead of `parent`;
//! - invoice lines and invoice items: `type`, `subscription`, `subscription_item`, `proration`,
//!   `price` and `plan` instead of `parent` and `pricing`.
//!
//! Versions between releases differ only by additions, which the fake serves to all of them.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::plans::plan_from;

/// The response header of the fake's own that names the known release whose shapes answered.
pub const SHAPES_HEADER: &str = "stripe-fake-shapes";

/// Every release the fake knows the shapes of, oldest first (sorted by date: the nearest older
/// one is found by comparing the `YYYY-MM-DD` prefixes as text).
const KNOWN: &[&str] = &[
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

/// Where 2025-03-31.basil sits in [`KNOWN`].
const FIRST_BASIL: usize = 7;

/// The longest `.name` accepted after the date (Stripe's are single short words).
const LONGEST_NAME: usize = 32;

/// The version of one request, event or endpoint: the name it goes by (echoed back, written in
/// events) and the known release whose shapes answer it. For a known release the two are the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiVersion {
    /// Index into [`KNOWN`].
    shapes: u8,
    /// The name asked for, when it is not a known release's.
    unknown: Option<Arc<str>>,
}

impl ApiVersion {
    /// The newest known release: the shape objects are stored in, and the default.
    pub const LATEST: ApiVersion = ApiVersion { shapes: (KNOWN.len() - 1) as u8, unknown: None };

    /// Parses a well-formed `Stripe-Version` value, known or not; a malformed one is a 400 that
    /// says what the form is.
    pub fn parse(name: &str) -> Result<ApiVersion, ApiError> {
        let name = name.trim();
        if let Some(position) = KNOWN.iter().position(|known| *known == name) {
            return Ok(ApiVersion { shapes: position as u8, unknown: None });
        }
        if !is_well_formed(name) {
            return Err(ApiError::InvalidRequest(format!(
                "Invalid Stripe API version: {name}. A Stripe-Version is a release date, YYYY-MM-DD, with an \
                 optional .name (for example {}); send one in the Stripe-Version header, or none for the account \
                 default.",
                ApiVersion::LATEST.name()
            )));
        }
        // The newest known release dated on or before the one asked for; the oldest if none is.
        let date = &name[..10];
        let shapes = KNOWN.iter().rposition(|known| known[..10] <= *date).unwrap_or(0);
        Ok(ApiVersion { shapes: shapes as u8, unknown: Some(name.into()) })
    }

    /// The version's name as asked for (`2025-03-31.basil`, or one the fake does not know).
    pub fn name(&self) -> &str {
        self.unknown.as_deref().unwrap_or(KNOWN[self.shapes as usize])
    }

    /// The known release whose shapes answer this version (its own name when known).
    pub fn shapes(&self) -> &'static str {
        KNOWN[self.shapes as usize]
    }

    /// Whether the fake knows this release (else it answers in [`ApiVersion::shapes`]).
    pub fn is_known(&self) -> bool {
        self.unknown.is_none()
    }

    /// Every known release's name, oldest first.
    pub fn all_names() -> &'static [&'static str] {
        KNOWN
    }

    /// Whether objects need reshaping for this version (anything before basil).
    pub fn needs_rendering(&self) -> bool {
        (self.shapes as usize) < FIRST_BASIL
    }

    /// How an unknown version relates to the known ones, for the log and for errors.
    fn relation(&self) -> &'static str {
        let (date, shapes) = (&self.name()[..10], &self.shapes()[..10]);
        if date > &KNOWN[KNOWN.len() - 1][..10] {
            "newer than any release the fake knows"
        } else if date < &KNOWN[0][..10] {
            "older than any release the fake knows"
        } else if date == shapes {
            "not a release the fake knows under that name"
        } else {
            "between two releases the fake knows"
        }
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        ApiVersion::LATEST
    }
}

/// `YYYY-MM-DD` (a real date) with an optional `.name` of lowercase letters.
fn is_well_formed(name: &str) -> bool {
    let (date, suffix) = name.split_at_checked(10).unwrap_or((name, ""));
    let bytes = date.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = date.get(range)?;
        part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let real_date = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && match (digits(0..4), digits(5..7), digits(8..10)) {
            (Some(year), Some(month), Some(day)) => chrono::NaiveDate::from_ymd_opt(year as i32, month, day).is_some(),
            _ => false,
        };
    let name_ok = match suffix.strip_prefix('.') {
        None => suffix.is_empty(),
        Some(word) => !word.is_empty() && word.len() <= LONGEST_NAME && word.bytes().all(|b| b.is_ascii_lowercase()),
    };
    real_date && name_ok
}

/// How versions the fake does not know are treated (answered, or refused when strict), and which
/// ones it has already said so about in the log.
#[derive(Debug, Default)]
pub struct VersionPolicy {
    /// Refuse versions the fake does not know (`--strict-api-versions`).
    pub strict: bool,
    logged: HashSet<Arc<str>>,
}

/// How many distinct unknown versions are logged by name; later ones are answered silently (a
/// client sending a new version on every request must not grow the log or this set without end).
const MOST_LOGGED: usize = 64;

impl VersionPolicy {
    /// The version of a request or an endpoint: parsed, refused if unknown and strict, and, the
    /// first time an unknown one is seen, logged with the release whose shapes answer it.
    pub fn resolve(&mut self, name: &str) -> Result<ApiVersion, ApiError> {
        let version = ApiVersion::parse(name)?;
        let Some(unknown) = &version.unknown else { return Ok(version) };
        if self.strict {
            return Err(ApiError::InvalidRequest(format!(
                "Invalid Stripe API version: {unknown}. The Stripe fake was started with strict API versions \
                 (--strict-api-versions) and knows {}; send one of them in the Stripe-Version header, or none for \
                 the account default, or start it without --strict-api-versions to have unknown versions answered \
                 in the shapes of the nearest older release it knows.",
                KNOWN.join(", ")
            )));
        }
        if self.logged.len() < MOST_LOGGED && self.logged.insert(unknown.clone()) {
            tracing::info!(
                api_version = %unknown,
                shapes = version.shapes(),
                "Stripe-Version {unknown} is {}; answering it in the shapes of {} (response header {SHAPES_HEADER})",
                version.relation(),
                version.shapes(),
            );
        }
        Ok(version)
    }
}

/// Reshapes a stored object (or a list, search result or event holding objects), in place, for
/// `version`. `price` looks up a price by id (pre-basil invoice lines embed the whole price).
pub fn render(value: &mut Value, version: &ApiVersion, price: &dyn Fn(&str) -> Option<Value>) {
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
    fn every_known_name_parses_back_to_itself() {
        for name in ApiVersion::all_names() {
            let version = ApiVersion::parse(name).unwrap();
            assert_eq!((version.name(), version.shapes(), version.is_known()), (*name, *name, true));
        }
        assert_eq!(ApiVersion::LATEST.name(), "2026-10-28.endive");
    }

    fn answered_as(name: &str) -> (String, &'static str) {
        let version = ApiVersion::parse(name).unwrap();
        assert!(!version.is_known(), "{name}");
        (version.name().to_string(), version.shapes())
    }

    #[test]
    fn an_unknown_version_keeps_its_name_and_takes_the_shapes_of_the_nearest_older_release() {
        assert_eq!(answered_as("2026-11-18.endive"), ("2026-11-18.endive".into(), "2026-10-28.endive"));
        assert_eq!(answered_as("2099-01-01.zinnia"), ("2099-01-01.zinnia".into(), "2026-10-28.endive"));
        assert_eq!(answered_as("2026-06-24.dahlia"), ("2026-06-24.dahlia".into(), "2026-04-22.dahlia"));
        assert_eq!(answered_as("2025-03-30"), ("2025-03-30".into(), "2025-02-24.acacia"));
        assert_eq!(answered_as("2025-03-31.preview"), ("2025-03-31.preview".into(), "2025-03-31.basil"));
        assert_eq!(answered_as("2020-08-27"), ("2020-08-27".into(), "2024-06-20"));
        assert!(ApiVersion::parse("2025-03-30").unwrap().needs_rendering());
        assert!(!ApiVersion::parse("2099-01-01").unwrap().needs_rendering());
        assert_eq!(ApiVersion::parse("  2026-11-18.endive ").unwrap().name(), "2026-11-18.endive");
    }

    #[test]
    fn a_malformed_version_is_refused_with_the_form_it_should_have() {
        let too_long = format!("2026-01-01.{}", "a".repeat(LONGEST_NAME + 1));
        for malformed in [
            "latest",
            "2026-13-01",
            "2026-02-30.clover",
            "2026-1-01",
            "26-01-01",
            "2026-01-01.",
            "2026-01-01.Clover",
            "2026-01-01clover",
            "2026-01-01.clo ver",
            "2026-01-01; feature_beta=v1",
            "２０２６-01-01",
            too_long.as_str(),
        ] {
            let refused = ApiVersion::parse(malformed).unwrap_err();
            let message = refused.to_string();
            assert!(message.starts_with(&format!("Invalid Stripe API version: {}.", malformed.trim())), "{message}");
            assert!(message.contains("YYYY-MM-DD"), "{message}");
        }
    }

    #[test]
    fn a_strict_policy_refuses_unknown_versions_and_lists_the_known_ones() {
        let mut strict = VersionPolicy { strict: true, ..VersionPolicy::default() };
        assert!(strict.resolve("2025-03-31.basil").is_ok());
        let refused = strict.resolve("2099-01-01.zinnia").unwrap_err().to_string();
        assert!(refused.starts_with("Invalid Stripe API version: 2099-01-01.zinnia."), "{refused}");
        assert!(refused.contains("2025-03-31.basil") && refused.contains("--strict-api-versions"), "{refused}");
        let mut lenient = VersionPolicy::default();
        assert_eq!(lenient.resolve("2099-01-01.zinnia").unwrap().shapes(), "2026-10-28.endive");
    }

    #[test]
    fn unknown_versions_are_remembered_for_the_log_once_each_and_no_more_than_a_bound() {
        let mut policy = VersionPolicy::default();
        policy.resolve("2026-11-18.endive").unwrap();
        policy.resolve("2026-11-18.endive").unwrap();
        policy.resolve("2025-03-31.basil").unwrap();
        assert_eq!(policy.logged.len(), 1);
        for day in 1..=28 {
            for month in 1..=12 {
                policy.resolve(&format!("2030-{month:02}-{day:02}")).unwrap();
            }
        }
        assert_eq!(policy.logged.len(), MOST_LOGGED);
    }

    #[test]
    fn how_an_unknown_version_relates_to_the_known_ones() {
        let relation = |name: &str| ApiVersion::parse(name).unwrap().relation();
        assert_eq!(relation("2027-01-01"), "newer than any release the fake knows");
        assert_eq!(relation("2020-01-01"), "older than any release the fake knows");
        assert_eq!(relation("2025-06-01.basil"), "between two releases the fake knows");
        assert_eq!(relation("2026-10-28.dahlia"), "not a release the fake knows under that name");
    }

    #[test]
    fn before_basil_the_period_moves_from_the_items_to_the_subscription() {
        let mut subscription = json!({
            "object": "subscription",
            "items": { "object": "list", "data": [
                { "object": "subscription_item", "current_period_start": 1, "current_period_end": 2 }
            ] },
        });
        render(&mut subscription, &ApiVersion::parse("2025-02-24.acacia").unwrap(), &no_prices);
        assert_eq!(subscription["current_period_end"], 2);
        assert!(subscription["items"]["data"][0].get("current_period_end").is_none());

        let mut untouched = json!({ "object": "subscription", "items": { "data": [{ "current_period_end": 2 }] } });
        render(&mut untouched, &ApiVersion::parse("2025-03-31.basil").unwrap(), &no_prices);
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
        render(&mut invoice, &ApiVersion::parse("2024-06-20").unwrap(), &price);
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
