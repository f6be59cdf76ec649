//! `POST /api/v1/credentials/exchange` `{"providers": [...], "ttl_seconds": n}`: the request,
//! parsed at the edge into an [`ExchangeRequest`], and the handler that vends.
//!
//! Order of checks: the API key (401), the key's rate limit and then the customer's (429, so a
//! flood of bad requests is limited too), the body (422 naming every bad field), the customer's billing standing
//! (402). The standing comes from the auth cache; a cached "cannot pay" is checked again in
//! the database before refusing, so a customer who just got credits is never refused.

use std::collections::BTreeSet;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::CredentialVending;
use super::token::{Claims, sign_credential};
use crate::api_keys::cache::{AuthenticatedKey, current_standing};
use crate::error::{ApiError, ErrorBody};
use crate::fixes::NO_CREDITS_NO_PAYMENT_METHOD;
use crate::http::openapi::bodies::{CredentialsRequest, JsonBodyRejections};
use crate::http::openapi::{RateLimited, ValidationFailed};
use crate::http::request::{Fields, JsonObject};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A valid exchange: known providers, each once, and a lifetime within the bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRequest {
    pub providers: Vec<String>,
    pub ttl_secs: u64,
}

impl ExchangeRequest {
    pub fn parse(body: JsonObject, policy: &CredentialVending) -> Result<ExchangeRequest, ApiError> {
        let mut fields = Fields::new(body);
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VendedCredential {
    pub provider: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VendedCredentials {
    pub credentials: Vec<VendedCredential>,
    pub expires_at: DateTime<Utc>,
}

/// Trades the API key for short-lived signed credentials, one per provider.
#[utoipa::path(
    post,
    path = "/api/v1/credentials/exchange",
    tag = "credentials",
    request_body = CredentialsRequest,
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
    let vending = &state.credentials;
    let now = Instant::now();
    vending
        .limiter()
        .try_acquire(caller.key_id, now)
        .map_err(|retry_after| ApiError::rate_limited(&state.metrics, "credentials_key", retry_after))?;
    if let Err(retry_after) = vending.customer_limiter().try_acquire(caller.customer, now) {
        vending.limiter().give_back(&caller.key_id);
        return Err(ApiError::rate_limited(&state.metrics, "credentials_customer", retry_after));
    }
    let request = ExchangeRequest::parse(body, vending)?;
    if !caller.standing.can_pay() && !current_standing(&state.pool, caller.customer).await?.can_pay() {
        return Err(ApiError::PaymentRequired {
            code: "payment_required",
            message: NO_CREDITS_NO_PAYMENT_METHOD.into(),
        });
    }

    let issued_at = state.clock.now().timestamp();
    let expires = issued_at.saturating_add(i64::try_from(request.ttl_secs).unwrap_or(i64::MAX));
    let expires_at = DateTime::from_timestamp(expires, 0)
        .ok_or_else(|| ApiError::Internal(format!("credential expiry {expires} is out of range")))?;
    let credentials = request
        .providers
        .into_iter()
        .map(|provider| {
            let claims = Claims {
                customer: caller.customer,
                key_id: caller.key_id,
                provider,
                iat: issued_at,
                exp: expires,
                jti: Uuid::new_v4(),
            };
            let token = sign_credential(&claims, vending.signing_key());
            state.metrics.credential_vended(&claims.provider);
            VendedCredential { provider: claims.provider, token, expires_at }
        })
        .collect();
    Ok(Json(VendedCredentials { credentials, expires_at }))
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
        ExchangeRequest::parse(JsonObject(map), &policy())
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
