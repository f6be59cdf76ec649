//! Stripe webhooks (`POST /api/webhooks/stripe`).
//!
//! The raw body is verified against `Stripe-Signature` ([`signature`]) before anything is
//! parsed; a bad or stale signature is a 400 and writes nothing. Each event is then applied
//! at most once: its id is inserted into `stripe_events` in the same transaction as its
//! effects, so a second delivery (even a concurrent one, which waits on the first's row)
//! finds it and changes nothing. Unknown event types and unknown customers are answered 200
//! (Stripe would retry anything else forever), logged and counted.

pub mod events;
pub mod signature;

use axum::body::Bytes;
use axum::http::HeaderValue;
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;
use events::Outcome;
use signature::{SignatureError, SignatureHeader};

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

/// A delivery's `Stripe-Signature` header, parsed and checked before its body is read: a
/// missing, malformed, oversized or stale one (or no secrets to check it with) is refused at
/// once. Signatures are about real time, whatever the business clock says.
pub fn check_signature_header(state: &AppState, header: Option<&HeaderValue>) -> Result<SignatureHeader, ApiError> {
    if state.config.webhooks.secrets.is_empty() {
        return Err(refused(state, SignatureError::NoSecrets));
    }
    let header = match header.map(|value| value.to_str()) {
        None => None,
        Some(Ok(text)) => Some(text),
        Some(Err(_)) => return Err(refused(state, SignatureError::Malformed)),
    };
    SignatureHeader::parse(header, Utc::now().timestamp(), state.config.webhooks.tolerance_secs)
        .map_err(|err| refused(state, err))
}

/// Verifies a delivery's `body` against its `signature`, then applies the event at most once.
pub async fn receive(state: &AppState, signature: SignatureHeader, body: Bytes) -> Result<WebhookReceipt, ApiError> {
    let secrets = &state.config.webhooks.secrets;
    let verified = if body.len() <= VERIFY_INLINE_UP_TO {
        signature.verify(&body, secrets)
    } else {
        let (payload, secrets) = (body.clone(), secrets.clone());
        tokio::task::spawn_blocking(move || signature.verify(&payload, &secrets))
            .await
            .map_err(|err| ApiError::Internal(format!("the signature check failed: {err}")))?
    };
    verified.map_err(|err| refused(state, err))?;
    let event: Value = serde_json::from_slice(&body).map_err(|err| ApiError::MalformedJson(err.to_string()))?;
    let event = events::StripeEvent::parse(&event)?;

    let outcome = events::apply(state, &event).await;
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
    Ok(WebhookReceipt { received: true, event: event.id, outcome: label.to_string() })
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
