//! `POST /api/v1/billing/payment-method`: attach a card, make it the default, record consent.
//!
//! Without `"billing_consent": true` nothing is stored and nothing is sent to Stripe. With it,
//! the card is attached to the Stripe customer and made the default for invoices and
//! off-session charges, the consent is recorded (what was agreed to, and when), and a trial
//! customer becomes pay-as-you-go.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use uuid::Uuid;

use super::{BillingProfile, set_plan};
use crate::api_keys::Authenticated;
use crate::app::AppState;
use crate::domain::Plan;
use crate::error::ApiError;
use crate::request::{Fields, JsonObject};

/// The words the customer agrees to, stored with each consent.
pub const CONSENT_TEXT: &str = "I authorise charges to this payment method for fixes beyond my credits ($29 each on pay-as-you-go, $15 on Pro) and for the Pro subscription if I subscribe.";

#[derive(Debug, Serialize)]
pub struct PaymentMethodAdded {
    pub payment_method_id: String,
    pub brand: String,
    pub last4: String,
    pub plan: Plan,
    pub consent_text: &'static str,
}

/// A payment method id or test token as Stripe writes them (`pm_…`).
fn parse_payment_method_id(raw: &str) -> Result<String, String> {
    let valid =
        raw.starts_with("pm_") && raw.len() <= 255 && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid { Ok(raw.to_string()) } else { Err("must be a Stripe payment method id such as pm_1Nx…".into()) }
}

pub async fn add_payment_method(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonObject,
) -> Result<Json<PaymentMethodAdded>, ApiError> {
    let mut fields = Fields::new(body);
    let payment_method = fields.required_str("payment_method_id");
    let payment_method = fields.parse("payment_method_id", payment_method, parse_payment_method_id);
    match fields.optional_bool("billing_consent") {
        Some(true) => {}
        Some(false) | None => fields.error(
            "billing_consent",
            "must be true: the customer has to agree to be charged before a payment method is stored",
        ),
    }
    fields.finish()?;
    let payment_method = payment_method.ok_or_else(|| ApiError::Internal("field errors were not reported".into()))?;

    let profile = BillingProfile::load(&mut *state.pool.acquire().await?, auth.customer).await?;
    let attached = state.stripe.attach_payment_method(&payment_method, &profile.stripe_customer_id).await?;
    state.stripe.set_default_payment_method(&profile.stripe_customer_id, &attached.id).await?;

    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    crate::ledger::lock_customer(&mut tx, auth.customer).await?;
    let plan = BillingProfile::load(&mut tx, auth.customer).await?.plan;
    sqlx::query("UPDATE customers SET default_payment_method = $2 WHERE id = $1")
        .bind(auth.customer.0)
        .bind(&attached.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO billing_consents (id, customer_id, payment_method_id, consent_text, given_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(auth.customer.0)
    .bind(&attached.id)
    .bind(CONSENT_TEXT)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let plan = if plan == Plan::Trial {
        set_plan(&mut tx, auth.customer, Plan::PayAsYouGo).await?;
        Plan::PayAsYouGo
    } else {
        plan
    };
    tx.commit().await?;
    state.api_key_cache.invalidate_customer(auth.customer);
    tracing::info!(customer = %auth.customer, plan = plan.as_str(), "payment method added");

    let card = attached.card.unwrap_or_default();
    Ok(Json(PaymentMethodAdded {
        payment_method_id: attached.id,
        brand: card.brand,
        last4: card.last4,
        plan,
        consent_text: CONSENT_TEXT,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_method_ids_look_like_stripes() {
        assert!(parse_payment_method_id("pm_card_visa").is_ok());
        assert!(parse_payment_method_id("pm_1Nx9").is_ok());
        assert!(parse_payment_method_id("card_123").is_err());
        assert!(parse_payment_method_id("pm_../../customers").is_err());
    }
}
