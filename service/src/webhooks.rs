//! Stripe webhooks: `POST /api/webhooks/stripe`.
//!
//! The raw body is verified against `Stripe-Signature` ([`signature`]) before anything is
//! parsed; a bad or stale signature is a 400 and writes nothing. Each event is then applied
//! at most once: its id is inserted into `stripe_events` in the same transaction as its
//! effects, so a second delivery (even a concurrent one, which waits on the first's row)
//! finds it and changes nothing. Unknown event types and unknown customers are answered 200
//! (Stripe would retry anything else forever), logged and counted.

pub mod events;
pub mod signature;

use axum::Json;
use axum::extract::{Request, State};
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::http::openapi::RequestTimeout;
use crate::http::openapi::bodies::StripeEvent as StripeEventBody;
use crate::http::request::read_body;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use events::Outcome;
use signature::{SignatureError, SignatureHeader};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Largest webhook body accepted (Stripe's events, an invoice with its lines, can outgrow the
/// API's body limit).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Payloads above this are verified on a blocking thread, off the async workers.
const VERIFY_INLINE_UP_TO: usize = 64 * 1024;

/// The answer to a delivery Stripe made: 200 means "do not send it again".
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    pub received: bool,
    /// The event's id.
    pub event: String,
    /// `applied`, `duplicate` (applied before) or `ignored` (a type or customer this service does
    /// not act on).
    pub outcome: String,
}

/// Receives a Stripe event, signed with `Stripe-Signature`.
#[utoipa::path(
    post,
    path = "/api/webhooks/stripe",
    tag = "webhooks",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256 of `t.body`>`, as Stripe signs deliveries")),
    request_body(content = StripeEventBody, description = "The event, exactly as Stripe sent it (the signature covers these bytes)"),
    responses(
        (status = 200, description = "Received: applied, a duplicate, or ignored", body = WebhookReceipt),
        (status = 400, description = "A missing, malformed, stale or wrong signature (`invalid_signature`), or a body that is not a Stripe event (`malformed_json`); nothing is written", body = ErrorBody),
        (status = 408, response = RequestTimeout),
        (status = 413, description = "The body is larger than 1 MiB (`payload_too_large`)", body = ErrorBody),
    ),
)]
pub async fn receive_stripe_event(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let secrets = &state.config.webhooks.secrets;
    if secrets.is_empty() {
        return Err(refused(&state, SignatureError::NoSecrets));
    }
    // The header first: a malformed, oversized or stale one is refused before the body is read.
    // Signatures are about real time, whatever the business clock says.
    let header = match request.headers().get("stripe-signature").map(|value| value.to_str()) {
        None => None,
        Some(Ok(text)) => Some(text),
        Some(Err(_)) => return Err(refused(&state, SignatureError::Malformed)),
    };
    let signature = SignatureHeader::parse(header, Utc::now().timestamp(), state.config.webhooks.tolerance_secs)
        .map_err(|err| refused(&state, err))?;
    let body = read_body(request, &state, BODY_LIMIT).await?;
    let verified = if body.len() <= VERIFY_INLINE_UP_TO {
        signature.verify(&body, secrets)
    } else {
        let (payload, secrets) = (body.clone(), secrets.clone());
        tokio::task::spawn_blocking(move || signature.verify(&payload, &secrets))
            .await
            .map_err(|err| ApiError::Internal(format!("the signature check failed: {err}")))?
    };
    verified.map_err(|err| refused(&state, err))?;
    let event: Value = serde_json::from_slice(&body).map_err(|err| ApiError::MalformedJson(err.to_string()))?;
    let event = events::StripeEvent::parse(&event)?;

    let outcome = events::apply(&state, &event).await;
    let label = match &outcome {
        Ok(Outcome::Applied) => "applied",
        Ok(Outcome::Duplicate) => "duplicate",
        Ok(Outcome::Ignored(_)) => "ignored",
        Err(_) => "failed",
    };
    state.metrics.webhook(label);
    let outcome = outcome?;
    match &outcome {
        Outcome::Ignored(reason) => {
            tracing::info!(event = %event.id, kind = %event.kind, reason = %reason, "Stripe event ignored")
        }
        other => tracing::info!(event = %event.id, kind = %event.kind, outcome = ?other, "Stripe event"),
    }
    Ok(Json(WebhookReceipt { received: true, event: event.id, outcome: label.to_string() }))
}

/// A delivery refused for its signature: counted, logged, answered 400.
fn refused(state: &AppState, err: SignatureError) -> ApiError {
    state.metrics.webhook("bad_signature");
    if err == SignatureError::NoSecrets {
        tracing::error!("a Stripe webhook arrived but STRIPE_WEBHOOK_SECRETS is empty");
    } else {
        tracing::warn!(error = %err, "refused a Stripe webhook");
    }
    ApiError::BadSignature(err.to_string())
}

/// `POST /api/webhooks/stripe`, with its own body limit.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_stripe_event).layer(DefaultBodyLimit::max(BODY_LIMIT)))
}
