//! Schemas of the request bodies that the handlers read field by field, for the document only (a
//! body parsed into a type of its own, as a signup is, carries its schema on that type).
//!
//! The handlers read a body with [`crate::http::request::Fields`] and parse each field into a domain
//! type, which reports every problem at once; these types say exactly what that accepts, so that
//! a client (or a fuzzer) generating from the document sends only what the service takes, and
//! what the document calls invalid is refused. Hence: unknown fields are refused
//! (`additionalProperties: false`); `null` counts as absent, so optional fields are nullable;
//! a text field's pattern is its parser's rule (trimmed of Unicode white space, no control
//! characters, at most N characters once trimmed).

use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};

use crate::config::CredentialConfig;

/// `POST /api/v1/fixes`: every field is optional, and so is the body.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixRequest {
    /// What was fixed: at most 2,000 characters; no control characters but line breaks and tabs.
    #[schema(
        example = "fixed the flaky build",
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub description: Option<String>,
}

/// `POST /api/v1/billing/payment-method`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodRequest {
    /// A Stripe payment method id (`pm_…`, or a test token such as `pm_card_visa`) that Stripe
    /// knows; one it does not know is 422 naming this field.
    #[schema(example = "pm_card_visa", max_length = 255, pattern = r"^pm_[A-Za-z0-9_]*$")]
    pub payment_method_id: String,
    /// Must be `true`: the customer agrees to be charged. Without it nothing is stored or sent.
    #[schema(schema_with = must_be_true)]
    pub billing_consent: bool,
}

fn must_be_true() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([true])).build()
}

/// The one plan with a subscription.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscribablePlan {
    Pro,
}

/// `POST /api/v1/billing/subscription`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    pub plan: SubscribablePlan,
}

/// `POST /api/v1/credentials/exchange`. The providers and the lifetime bounds are the service's
/// configuration (`CREDENTIAL_PROVIDERS`, `CREDENTIAL_MIN_TTL_SECS`, `CREDENTIAL_MAX_TTL_SECS`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    /// The providers to vend for, each once.
    #[schema(min_items = 1, example = json!(["github"]))]
    pub providers: Vec<String>,
    /// The credentials' lifetime in seconds; 900 (within the bounds) when absent.
    #[schema(example = 900)]
    pub ttl_seconds: Option<u64>,
}

/// `POST /api/v1/api-keys`: the body is optional.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// A name to recognise the key by: 1 to 100 characters once trimmed, no control characters.
    #[schema(
        example = "CI",
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: Option<String>,
}

/// A Stripe event, as Stripe sends it (only these fields are read; the rest is kept by Stripe).
#[derive(ToSchema)]
pub struct StripeEvent {
    #[schema(pattern = "^evt_")]
    pub id: String,
    #[schema(rename = "type", example = "invoice.paid")]
    pub kind: String,
    /// Unix seconds.
    pub created: i64,
    pub data: StripeEventData,
}

#[derive(ToSchema)]
pub struct StripeEventData {
    #[schema(value_type = Object)]
    pub object: Value,
}

/// What reading a JSON body can answer before the handler looks at the fields.
pub struct JsonBodyRejections;

impl utoipa::IntoResponses for JsonBodyRejections {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        [
            ("400", "MalformedRequest"),
            ("408", "RequestTimeout"),
            ("413", "PayloadTooLarge"),
            ("415", "UnsupportedMediaType"),
        ]
        .into_iter()
        .map(|(status, name)| (status.to_string(), RefOr::Ref(utoipa::openapi::Ref::from_response_name(name))))
        .collect()
    }
}

/// A path whose `{id}` is not valid percent-encoded UTF-8 is 400.
pub struct UndecodablePath;

impl utoipa::IntoResponses for UndecodablePath {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        [("400".to_string(), super::error_response("The path does not decode as UTF-8 (`bad_request`)", false))].into()
    }
}

/// An optional body (`request_body(content = Option<T>)`) is written by utoipa as "`T` or
/// `null`"; the service reads a missing body as `{}` and refuses a `null` one (400), so the
/// schema is `T` alone, with `required: false`.
pub fn optional_bodies_are_objects(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
        let Some(body) = operation.get_mut("requestBody") else { continue };
        if body.get("required") == Some(&Value::Bool(true)) {
            continue;
        }
        body["required"] = json!(false);
        for media in body["content"].as_object_mut().into_iter().flat_map(|content| content.values_mut()) {
            let Some(choices) = media["schema"]["oneOf"].as_array() else { continue };
            let not_null: Vec<Value> = choices.iter().filter(|choice| choice["type"] != "null").cloned().collect();
            if let [only] = not_null.as_slice() {
                media["schema"] = only.clone();
            }
        }
    }
}

/// Fills in the parts of the document that are configuration: the credential providers and
/// the bounds of a credential's lifetime.
pub fn configure(document: &mut Value, config: &CredentialConfig) {
    let Some(properties) = document.pointer_mut("/components/schemas/CredentialsRequest/properties") else {
        return;
    };
    let providers: Vec<&str> =
        config.providers.iter().map(|provider| provider.trim()).filter(|provider| !provider.is_empty()).collect();
    properties["providers"]["items"] = json!({ "type": "string", "enum": providers });
    properties["providers"]["uniqueItems"] = json!(true);
    properties["ttl_seconds"]["minimum"] = json!(config.min_ttl_secs);
    properties["ttl_seconds"]["maximum"] = json!(config.max_ttl_secs);
}
