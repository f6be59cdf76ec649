//! `POST /api/v1/customers`: the per-IP signup limit, the request read into a
//! [`SignupRequest`], and the signup of [`crate::onboarding`] answered — with its first answer
//! again, marked [`REPLAYED_HEADER`], for a keyed retry.

use std::time::Instant;

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::client_ip::{client_ip, limit_key};
use crate::domain::{CustomerName, Email, SignupSource};
use crate::error::{ApiError, ErrorBody};
use crate::http::openapi::bodies::JsonBodyRejections;
use crate::http::openapi::{IdempotencyKey, PaymentProviderFailed, RateLimited, ValidationFailed};
use crate::http::request::{Fields, JsonObject, OptionalClientKey};
use crate::http::server::peer_of;
use crate::onboarding::{self, OnboardedCustomer, Signup, SignupRequest};
use crate::state::AppState;

/// The header that marks an answer as the replay of an earlier one (as Stripe marks its own).
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

impl SignupRequest {
    /// The request, or a 422 naming every bad field.
    pub fn from_fields(mut fields: Fields) -> Result<SignupRequest, ApiError> {
        // Control characters are refused in every text field (the name's and the e-mail's
        // parsers refuse them; the source is an identifier).
        let email = fields.required_str("email");
        let email = fields.parse("email", email, Email::parse);
        let name = fields.required_str("name");
        let name = fields.parse("name", name, CustomerName::parse);
        let source = fields.optional_str("source");
        let source = match source {
            Some(raw) => fields.parse("source", Some(raw), SignupSource::parse),
            None => Some(SignupSource::direct()),
        };
        fields.finish()?;
        match (email, name, source) {
            (Some(email), Some(name), Some(source)) => Ok(SignupRequest { email, name, source }),
            _ => Err(ApiError::Internal("field errors were not reported".into())),
        }
    }
}

/// Signs a customer up: a Stripe customer, 5 trial credits, an API key and the welcome e-mails.
#[utoipa::path(
    post,
    path = "/api/v1/customers",
    tag = "customers",
    params(IdempotencyKey),
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Signed up, on the trial plan with 5 credits; `api_key` is shown only here — and to a retry with the same `Idempotency-Key` and body, which gets this first answer again (with `Idempotent-Replayed: true`)", body = OnboardedCustomer),
        (status = 409, description = "The e-mail address is taken (`email_taken`)", body = ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 502, response = PaymentProviderFailed),
        JsonBodyRejections,
    ),
)]
pub async fn create_customer(
    State(state): State<AppState>,
    OptionalClientKey(key): OptionalClientKey,
    request: Request,
) -> Result<Response, ApiError> {
    if let Err(refused) = check_signup_limit(&state, &request) {
        state.metrics.onboarding("rate_limited");
        return Err(refused);
    }
    let body = JsonObject::from_request(request, &state).await;
    let request = match body.and_then(|body| SignupRequest::from_fields(Fields::new(body))) {
        Ok(request) => request,
        Err(err) => {
            state.metrics.onboarding("invalid");
            return Err(err);
        }
    };
    match onboarding::sign_up(&state, request, key).await? {
        Signup::Created(customer) => {
            tracing::info!(customer = %customer.customer_id, source = customer.source.as_str(), "customer onboarded");
            Ok((StatusCode::CREATED, Json(customer)).into_response())
        }
        Signup::Replayed(answer) => {
            tracing::info!("a keyed signup retried: its first answer replayed");
            let headers =
                [(header::CONTENT_TYPE, "application/json"), (HeaderName::from_static(REPLAYED_HEADER), "true")];
            Ok((StatusCode::CREATED, headers, answer).into_response())
        }
    }
}

/// The per-client-IP signup limit.
fn check_signup_limit(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let Some(limiter) = state.signup_limiter.as_ref() else { return Ok(()) };
    let Some(peer) = peer_of(request.extensions()) else {
        // Not served through the server loop (a test calling the router directly): no peer.
        return Ok(());
    };
    let client = client_ip(peer.ip(), request.headers(), &state.trusted_proxies);
    limiter.try_acquire(limit_key(client), Instant::now()).map_err(|retry_after| {
        tracing::info!(client = %client, "signup refused by the per-IP limit");
        ApiError::rate_limited(&state.metrics, "signup_ip", retry_after)
    })
}

/// `POST /api/v1/customers`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_customer))
}
