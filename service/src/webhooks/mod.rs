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
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::Utc;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiError;
use events::Outcome;

pub async fn receive_stripe_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let header = headers.get("stripe-signature").and_then(|value| value.to_str().ok());
    // Signatures are about real time, whatever the business clock says.
    let verified = signature::verify(
        &body,
        header,
        &state.config.stripe_webhook_secrets,
        Utc::now().timestamp(),
        state.config.webhook_tolerance_secs,
    );
    if let Err(err) = verified {
        state.metrics.webhook("bad_signature");
        if err == signature::SignatureError::NoSecrets {
            tracing::error!("a Stripe webhook arrived but STRIPE_WEBHOOK_SECRETS is empty");
        } else {
            tracing::warn!(error = %err, "refused a Stripe webhook");
        }
        return Err(ApiError::BadSignature(err.to_string()));
    }
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
    Ok(Json(json!({ "received": true, "event": event.id, "outcome": label })))
}
