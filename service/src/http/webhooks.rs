//! `POST /api/webhooks/stripe`: the delivery, its `Stripe-Signature` header checked before its
//! body is read, and the body handed to [`crate::webhooks`], which verifies and applies it.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Request, State};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::http::openapi::RequestTimeout;
use crate::http::request::read_body;
use crate::state::AppState;
use crate::webhooks::{self, BODY_LIMIT, WebhookReceipt};

// Stripe's wire form of an event, for the document: the handler cannot read the body into a type
// before the signature over its exact bytes is verified, and then reads these four fields
// (`crate::webhooks::events::StripeEvent::parse`); the rest of an event is Stripe's.
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

/// Receives a Stripe event, signed with `Stripe-Signature`.
#[utoipa::path(
    post,
    path = "/api/webhooks/stripe",
    tag = "webhooks",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256 of `t.body`>`, as Stripe signs deliveries")),
    request_body(content = StripeEvent, description = "The event, exactly as Stripe sent it (the signature covers these bytes)"),
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
    // The header first: a malformed, oversized or stale one is refused before the body is read.
    let signature = webhooks::check_signature_header(&state, request.headers().get("stripe-signature"))?;
    let body = read_body(request, &state, BODY_LIMIT).await?;
    webhooks::receive(&state, signature, body).await.map(Json)
}

/// `POST /api/webhooks/stripe`, with its own body limit.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_stripe_event).layer(DefaultBodyLimit::max(BODY_LIMIT)))
}
