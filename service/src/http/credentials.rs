//! `POST /api/v1/credentials/exchange` `{"providers": [...], "ttl_seconds": n}`: the request,
//! read into an [`ExchangeRequest`], and the vending of [`crate::credentials::exchange`].
//!
//! Order of checks: the API key (401), the key's rate limit and then the customer's (429, so a
//! flood of bad requests is limited too), the body (422 naming every bad field), the customer's
//! billing standing (402).

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api_keys::cache::AuthenticatedKey;
use crate::credentials::CredentialVending;
use crate::credentials::exchange::{self, VendedCredentials};
use crate::error::{ApiError, ErrorBody};
use crate::http::openapi::bodies::JsonBodyRejections;
use crate::http::openapi::{RateLimited, ValidationFailed};
use crate::http::request::{Fields, JsonObject};
use crate::state::AppState;

/// `POST /api/v1/credentials/exchange`. The providers and the lifetime bounds are the service's
/// configuration (`CREDENTIAL_PROVIDERS`, `CREDENTIAL_MIN_TTL_SECS`, `CREDENTIAL_MAX_TTL_SECS`).
// Valid once made: known providers, each once, and a lifetime within the bounds (the default
// filled in). The doc comment above is the schema's description.
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = CredentialsRequest)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    /// The providers to vend for, each once.
    #[schema(min_items = 1, example = json!(["github"]))]
    pub providers: Vec<String>,
    /// The credentials' lifetime in seconds; 900 (within the bounds) when absent.
    #[schema(rename = "ttl_seconds", value_type = Option<u64>, example = 900)]
    pub ttl_secs: u64,
}

impl ExchangeRequest {
    /// The request, or a 422 naming every bad field; the providers and bounds are `policy`'s.
    pub fn from_fields(mut fields: Fields, policy: &CredentialVending) -> Result<ExchangeRequest, ApiError> {
        let known = policy.providers().join(", ");
        let providers = fields.optional_str_list("providers");
        match &providers {
            None => fields.error("providers", format!("is required: a list of providers, from {known}")),
            Some(list) if list.is_empty() => {
                fields.error("providers", format!("must name at least one provider, from {known}"))
            }
            Some(list) => {
                let mut seen = BTreeSet::new();
                for provider in list {
                    if !policy.providers().contains(provider) {
                        fields.error(
                            "providers",
                            format!("`{provider}` is not a provider credentials are vended for: use {known}"),
                        );
                    } else if !seen.insert(provider.as_str()) {
                        fields.error("providers", format!("`{provider}` is listed twice: list each provider once"));
                    }
                }
            }
        }
        let (min, max) = policy.ttl_bounds_secs();
        let ttl_secs = fields.optional_u64("ttl_seconds");
        if ttl_secs.is_some_and(|ttl| !(min..=max).contains(&ttl)) {
            fields.error("ttl_seconds", format!("must be between {min} and {max} seconds"));
        }
        fields.finish()?;
        let providers = providers.ok_or_else(|| ApiError::Internal("field errors were not reported".into()))?;
        Ok(ExchangeRequest { providers, ttl_secs: ttl_secs.unwrap_or_else(|| policy.default_ttl_secs()) })
    }
}

/// Trades the API key for short-lived signed credentials, one per provider.
#[utoipa::path(
    post,
    path = "/api/v1/credentials/exchange",
    tag = "credentials",
    request_body = ExchangeRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "One credential per provider asked for", body = VendedCredentials),
        (status = 402, description = "No credits and no payment method (`payment_required`)", body = ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        JsonBodyRejections,
    ),
)]
pub async fn exchange_credentials(
    State(state): State<AppState>,
    caller: AuthenticatedKey,
    body: JsonObject,
) -> Result<Json<VendedCredentials>, ApiError> {
    exchange::admit(&state, &caller)?;
    let request = ExchangeRequest::from_fields(Fields::new(body), &state.credentials)?;
    exchange::vend(&state, &caller, request.providers, request.ttl_secs).await.map(Json)
}

/// `POST /api/v1/credentials/exchange`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(exchange_credentials))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::config::Config;

    fn policy() -> CredentialVending {
        CredentialVending::from_config(&Config::for_tests("postgres://unused", "http://unused").credentials).unwrap()
    }

    fn parse(body: Value) -> Result<ExchangeRequest, ApiError> {
        let Value::Object(map) = body else { panic!("test body must be an object") };
        ExchangeRequest::from_fields(Fields::new(JsonObject(map)), &policy())
    }
    fn field_errors(body: Value) -> Vec<(String, String)> {
        match parse(body) {
            Err(ApiError::Validation(fields)) => fields.into_iter().collect(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn known_providers_with_no_lifetime_get_the_default_of_900_seconds() {
        let request = parse(json!({"providers": ["github", "npm"]})).unwrap();
        assert_eq!(request, ExchangeRequest { providers: vec!["github".into(), "npm".into()], ttl_secs: 900 });
    }

    #[test]
    fn an_unknown_provider_is_named_with_the_allowed_ones() {
        let errors = field_errors(json!({"providers": ["github", "dockerhub"]}));
        assert_eq!(errors[0].0, "providers");
        assert!(errors[0].1.contains("`dockerhub`") && errors[0].1.contains("github, gitlab, npm, pypi"));
    }

    #[test]
    fn an_empty_missing_or_repeated_provider_list_is_refused() {
        assert!(field_errors(json!({"providers": []}))[0].1.contains("at least one"));
        assert!(field_errors(json!({}))[0].1.contains("is required"));
        assert!(field_errors(json!({"providers": ["npm", "npm"]}))[0].1.contains("listed twice"));
        assert!(field_errors(json!({"providers": "npm"}))[0].1.contains("list of strings"));
    }

    #[test]
    fn a_lifetime_outside_the_bounds_is_refused_and_the_bounds_are_accepted() {
        for ttl in [json!(59), json!(901), json!(3600), json!(-1), json!(1.5), json!("900")] {
            let errors = field_errors(json!({"providers": ["npm"], "ttl_seconds": ttl}));
            assert_eq!(errors[0].0, "ttl_seconds", "{ttl}");
        }
        for ttl in [60, 900] {
            assert_eq!(parse(json!({"providers": ["npm"], "ttl_seconds": ttl})).unwrap().ttl_secs, ttl);
        }
    }
}
