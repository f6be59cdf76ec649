//! A payment method (`POST /api/v1/billing/payment-method`): attach a card, make it the default,
//! record consent.
//!
//! Without `"billing_consent": true` nothing is stored and nothing is sent to Stripe. With it,
//! the card is attached to the Stripe customer and made the default for invoices and
//! off-session charges, the consent is recorded (what was agreed to, and when), and a trial
//! customer becomes pay-as-you-go.
//!
//! Each request is one intent, and its Stripe idempotency keys name that intent alone: a fresh
//! id per request, or one derived from the client's `Idempotency-Key`, so a retry replays and
//! a later change back to an earlier card (A, then B, then A again) really reaches Stripe. A key
//! of a (customer, card) pair would make Stripe replay the first "make A the default" and keep B.

use serde::Serialize;
use uuid::Uuid;

use super::{BillingProfile, set_plan};
use crate::domain::{CustomerId, Plan};
use crate::error::ApiError;
use crate::idempotency::{self, ClientKey, Remembered};
use crate::pricing;
use crate::state::AppState;
use crate::stripe::StripeError;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentMethodAdded {
    pub payment_method_id: String,
    pub brand: String,
    pub last4: String,
    pub plan: Plan,
    pub consent_text: String,
}

const ROUTE: &str = "POST /api/v1/billing/payment-method";

/// A payment method id or test token as Stripe writes them (`pm_…`).
pub fn parse_payment_method_id(raw: &str) -> Result<String, String> {
    let valid =
        raw.starts_with("pm_") && raw.len() <= 255 && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid { Ok(raw.to_string()) } else { Err("must be a Stripe payment method id such as pm_1Nx…".into()) }
}

/// Attaches `payment_method` to the customer's Stripe customer, makes it the default and records
/// the customer's consent to be charged (given: the request said so); a trial customer becomes
/// pay-as-you-go. A client `key` makes a retry replay at Stripe and here.
pub async fn add_payment_method(
    state: &AppState,
    customer: CustomerId,
    payment_method: &str,
    key: Option<&ClientKey>,
) -> Result<PaymentMethodAdded, ApiError> {
    let fingerprint = idempotency::fingerprint(ROUTE, &[payment_method]);
    let scope = customer.to_string();
    if let Some(key) = key {
        // Refuse a reused key before anything reaches Stripe.
        idempotency::check(&mut *state.pool.acquire().await?, &scope, key, ROUTE, &fingerprint).await?;
    }

    let profile = BillingProfile::load(&mut *state.pool.acquire().await?, customer).await?;
    let intent = match key {
        Some(key) => hex::encode(&idempotency::fingerprint(&scope, &[ROUTE, key.as_str()])[..16]),
        None => Uuid::new_v4().simple().to_string(),
    };
    let attached = state
        .stripe
        .attach_payment_method(payment_method, &profile.stripe_customer_id, &format!("pm-attach-{intent}"))
        .await
        .map_err(|err| refused_payment_method(err, payment_method))?;
    state
        .stripe
        .set_default_payment_method(&profile.stripe_customer_id, &attached.id, &format!("pm-default-{intent}"))
        .await?;

    let now = state.clock.now();
    let consent_text = pricing::consent_text();
    let mut tx = state.pool.begin().await?;
    crate::ledger::lock_customer(&mut tx, customer).await?;
    let repeated = match key {
        Some(key) => {
            idempotency::remember(&mut tx, &scope, key, ROUTE, &fingerprint, now).await? == Remembered::Repeated
        }
        None => false,
    };
    let plan = BillingProfile::load(&mut tx, customer).await?.plan;
    let plan = if repeated {
        plan
    } else {
        sqlx::query!("UPDATE customers SET default_payment_method = $2 WHERE id = $1", customer.0, &attached.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "INSERT INTO billing_consents (id, customer_id, payment_method_id, consent_text, given_at) VALUES ($1, $2, $3, $4, $5)",
            Uuid::new_v4(),
            customer.0,
            &attached.id,
            &consent_text,
            now
        )
        .execute(&mut *tx)
        .await?;
        if plan == Plan::Trial {
            set_plan(&mut tx, customer, Plan::PayAsYouGo).await?;
            Plan::PayAsYouGo
        } else {
            plan
        }
    };
    tx.commit().await?;
    state.api_key_cache.invalidate_customer(customer);
    tracing::info!(customer = %customer, plan = plan.as_str(), "payment method added");

    let card = attached.card.unwrap_or_default();
    Ok(PaymentMethodAdded { payment_method_id: attached.id, brand: card.brand, last4: card.last4, plan, consent_text })
}

/// Stripe refusing the payment method itself (it does not exist, or belongs to another
/// customer) is the client's mistake, named on the field, not a failure of Stripe (502).
fn refused_payment_method(err: StripeError, payment_method: &str) -> ApiError {
    let StripeError::Api(api) = &err else { return err.into() };
    if api.kind != "invalid_request_error" {
        return err.into();
    }
    tracing::info!(error = %err, "Stripe refused a payment method");
    if api.status == 404 || api.code.as_deref() == Some("resource_missing") {
        ApiError::field(
            "payment_method_id",
            format!(
                "Stripe has no payment method `{payment_method}`: send the id of one created with Stripe (such as pm_1Nx…) or a test token such as pm_card_visa"
            ),
        )
    } else if api.status == 400 {
        ApiError::field(
            "payment_method_id",
            format!(
                "Stripe refused to attach `{payment_method}` to this customer (is it another customer's?): create a payment method for this customer and send its id"
            ),
        )
    } else {
        err.into()
    }
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
