//! The OpenAPI 3.1 document, generated from the code and served at `GET /openapi.json`.
//!
//! Each resource module's `router()` registers its routes with `utoipa-axum`'s `routes!`, which
//! takes the path and method from the handler's `#[utoipa::path]`: the route and its
//! documentation are one declaration, and `clippy.toml` forbids `OpenApiRouter::route`, the one
//! way to add a route without documentation. A request body is described by the type its
//! handler reads it into (read field by field with [`crate::http::request::Fields`], so that
//! every problem is reported at once); [`bodies`] has what the bodies share.
//!
//! What a route answers because of the layers every request goes through, rather than its
//! handler, is added here, in [`document`], from facts the document already states:
//! - every operation: 503 `busy` with `Retry-After` (the request timeout, a full pool);
//! - an operation with an API-key security requirement: 401;
//! - an operation that honours `Idempotency-Key`: 400 for an invalid key.
//!
//! What reading a JSON body answers (400, 408, 413, 415) each handler lists with
//! [`bodies::JsonBodyRejections`].
//!
//! Two parts depend on the configuration (the credential providers and lifetime bounds), so the
//! document is made once per router from the [`Config`].

pub mod bodies;

use std::sync::{Arc, OnceLock};

use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response as HttpResponse};
use serde_json::{Value, json};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, ObjectBuilder, OpenApi, Ref, RefOr, Type};
use utoipa::{IntoParams, Modify, ToResponse};

use crate::config::Config;
use crate::error::{ApiError, ErrorBody};
use crate::idempotency;

/// Where the document is served.
pub const PATH: &str = "/openapi.json";

/// The names of the two API-key security schemes (either one authenticates).
pub const BEARER: &str = "bearer";
pub const API_KEY_HEADER: &str = "api_key";

/// The document's frame: title, security schemes, the shared error schema and responses. The
/// paths come from the routers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "billing-service",
        description = "The reference usage-billing service: onboarding, API keys, a credit ledger, fixes paid with credits or by card, Pro subscriptions, credential vending and Stripe webhooks. Errors are always JSON (`Error`).",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(
        schemas(ErrorBody),
        responses(MalformedRequest, Unauthorized, RequestTimeout, PayloadTooLarge, UnsupportedMediaType, ValidationFailed, RateLimited, PaymentProviderFailed, Busy),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "customers", description = "Signing up"),
        (name = "usage", description = "Balance, plan and ledger"),
        (name = "fixes", description = "Recording fixes, paid with a credit or a charge"),
        (name = "billing", description = "Payment methods and the Pro subscription"),
        (name = "credentials", description = "Short-lived provider credentials for an API key"),
        (name = "api-keys", description = "A customer's API keys"),
        (name = "webhooks", description = "Events from Stripe"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("bk_…")
            .description(Some("An API key (`bk_…`) as `Authorization: Bearer <key>`"))
            .build();
        components.security_schemes.insert(BEARER.into(), RefOr::T(SecurityScheme::Http(bearer)));
        let header = ApiKeyValue::with_description("x-api-key", "An API key (`bk_…`) as `x-api-key: <key>`");
        components
            .security_schemes
            .insert(API_KEY_HEADER.into(), RefOr::T(SecurityScheme::ApiKey(ApiKey::Header(header))));
    }
}

/// The `Idempotency-Key` request header, on the routes that honour it.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// Names one intent: the same key sent again (a retry after a timeout or a lost answer) gets
    /// the first request's result and never does it twice; the same key with a different request
    /// is 422 `idempotency_key_reused`. 1 to 255 visible ASCII characters (a UUID, say);
    /// anything else is 400.
    #[param(rename = "Idempotency-Key", nullable = false, pattern = r"^[!-~]+$", min_length = 1, max_length = 255)]
    pub idempotency_key: Option<String>,
}

/// An error response with the shared body, and `Retry-After` when the client should wait.
pub(crate) fn error_response(description: &str, retry_after: bool) -> RefOr<Response> {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name("Error"))));
    if retry_after {
        let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).build();
        response = response.header(
            "Retry-After",
            HeaderBuilder::new().schema(Some(seconds)).description(Some("Seconds to wait before trying again")).build(),
        );
    }
    response.build().into()
}

macro_rules! shared_error_responses {
    ($($(#[$doc:meta])* $name:ident => ($description:literal, $retry_after:literal);)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), error_response($description, $retry_after))
            }
        }
    )*};
}

shared_error_responses! {
    /// 400.
    MalformedRequest => ("The request cannot be understood: the body is not a JSON object (`malformed_json`), or a header such as `Idempotency-Key` is invalid (`invalid_idempotency_key`). The message says which.", false);
    /// 401.
    Unauthorized => ("No API key, or an unknown or revoked one (`unauthorized`).", false);
    /// 408.
    RequestTimeout => ("The request body did not arrive within `BODY_READ_TIMEOUT_MS` (`request_timeout`): send it at once.", false);
    /// 413.
    PayloadTooLarge => ("The request body is larger than `MAX_BODY_BYTES` (`payload_too_large`).", false);
    /// 415.
    UnsupportedMediaType => ("The request body is not `application/json` (`unsupported_media_type`).", false);
    /// 422.
    ValidationFailed => ("Invalid fields or query parameters (`validation_failed`): `fields` names every one and what is wrong with it.", false);
    /// 429.
    RateLimited => ("Too many requests (`rate_limited`): wait `Retry-After` seconds.", true);
    /// 502.
    PaymentProviderFailed => ("Stripe did not answer properly (`payment_provider_unavailable`); retrying is safe.", false);
    /// 503.
    Busy => ("The service cannot take the request now (`busy`): a full connection pool, the database unreachable, too many Stripe calls in flight, or the request ran past `REQUEST_TIMEOUT_MS`. Retry after `Retry-After` seconds (with the same `Idempotency-Key`, if the request had one).", true);
}

/// The finished document: the routers' paths in the frame, the layers' responses added, and the
/// configured parts filled in.
pub fn document(routes: OpenApi, config: &Config) -> Value {
    let mut openapi = ApiDoc::openapi_with(routes);
    for item in openapi.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            add_layer_responses(operation);
        }
    }
    let mut document = serde_json::to_value(&openapi).unwrap_or_else(|_| json!({}));
    bodies::optional_bodies_are_objects(&mut document);
    bodies::configure(&mut document, &config.credentials);
    document
}

impl ApiDoc {
    fn openapi_with(routes: OpenApi) -> OpenApi {
        let mut frame = <ApiDoc as utoipa::OpenApi>::openapi();
        frame.merge(routes);
        frame
    }
}

/// Every operation of a path.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn add_layer_responses(operation: &mut Operation) {
    let mut shared = vec![("503", "Busy")];
    if operation.security.as_ref().is_some_and(|security| !security.is_empty()) {
        shared.push(("401", "Unauthorized"));
    }
    let honours_key = operation.parameters.iter().flatten().any(|parameter| match parameter {
        RefOr::T(parameter) => parameter.name.eq_ignore_ascii_case(idempotency::HEADER),
        RefOr::Ref(_) => false,
    });
    if honours_key {
        shared.push(("400", "MalformedRequest"));
    }
    for (status, name) in shared {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

/// The document, serialized once per router, attached to its own route only (the route exists
/// before the document that describes it, so it is filled in once the router is made).
#[derive(Clone, Default)]
pub struct Served(Arc<OnceLock<Bytes>>);

impl Served {
    /// Serves `document` from now on (the first one set stays).
    pub fn set(&self, document: Bytes) {
        let _ = self.0.set(document);
    }
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)),
)]
pub async fn openapi_json(Extension(Served(document)): Extension<Served>) -> HttpResponse {
    match document.get() {
        Some(document) => ([(header::CONTENT_TYPE, "application/json")], document.clone()).into_response(),
        None => ApiError::Internal("the OpenAPI document was not made for this router".into()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn the_document() -> Value {
        crate::http::openapi_document(&Config::for_tests("postgres://unused", "http://unused"))
    }

    /// Every `"$ref"` string in the document.
    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(reference)) => found.push(reference.clone()),
                        _ => references(value, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| references(item, found)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_and_reads_back_as_one() {
        let document = the_document();
        if let Ok(path) = std::env::var("OPENAPI_DUMP") {
            std::fs::write(path, serde_json::to_string_pretty(&document).unwrap()).unwrap();
        }
        assert!(
            document["openapi"].as_str().is_some_and(|version| version.starts_with("3.1.")),
            "{}",
            document["openapi"]
        );
        let parsed: OpenApi = serde_json::from_value(document.clone()).expect("the document parses as OpenAPI");
        assert_eq!(serde_json::to_value(&parsed).unwrap()["paths"], document["paths"]);
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        let document = the_document();
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(!found.is_empty());
        for reference in found {
            let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("{reference} is not local"));
            assert!(document.pointer(pointer).is_some(), "{reference} points at nothing");
        }
    }

    #[test]
    fn every_operation_has_an_id_a_success_and_the_answers_of_the_layers() {
        let document = the_document();
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let name = format!("{method} {path}");
                let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{name} has no operationId"));
                assert!(ids.insert(id.to_string()), "{name}: operationId {id} is used twice");
                let responses = operation["responses"].as_object().unwrap();
                assert!(responses.keys().any(|status| status.starts_with('2')), "{name} has no success");
                assert!(responses.contains_key("503"), "{name} does not say it can be busy");
                if operation.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{name} is secured without a 401");
                }
                if operation.get("requestBody").is_some() {
                    for status in ["400", "408", "413"] {
                        assert!(responses.contains_key(status), "{name} takes a body without a {status}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_configured_providers_and_lifetimes_are_in_the_document() {
        let mut config = Config::for_tests("postgres://unused", "http://unused");
        config.credentials.providers = vec!["npm".into(), " pypi ".into()];
        config.credentials.max_ttl_secs = 600;
        let document = crate::http::openapi_document(&config);
        let request = &document["components"]["schemas"]["CredentialsRequest"]["properties"];
        assert_eq!(request["providers"]["items"]["enum"], serde_json::json!(["npm", "pypi"]));
        assert_eq!(request["ttl_seconds"]["maximum"], 600);
    }
}
