//! What the request bodies share in the document: the answers of reading a JSON body
//! ([`JsonBodyRejections`]) or a path ([`UndecodablePath`]), and the document's rewrites that
//! make the bodies' schemas say exactly what the service accepts.
//!
//! Each body's schema is the type its handler reads it into (`FixRequest` in
//! [`crate::http::fixes`], `SignupRequest` in [`crate::onboarding`], …), built field by field with
//! [`crate::http::request::Fields`], which reports every problem at once; so a client (or a
//! fuzzer) generating from the document sends only what the service takes, and what the document
//! calls invalid is refused. Hence: unknown fields are refused (`additionalProperties: false`);
//! `null` counts as absent, so optional fields are nullable; a text field's pattern is its
//! parser's rule (trimmed of Unicode white space, no control characters, at most N characters
//! once trimmed).

use serde_json::{Value, json};
use utoipa::openapi::RefOr;

use crate::config::CredentialConfig;

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
