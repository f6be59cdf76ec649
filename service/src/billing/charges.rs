//! Charging a fix beyond the credits: one off-session PaymentIntent on the customer's default
//! payment method, at the plan's rate ($29 pay-as-you-go, $15 Pro).
//!
//! The PaymentIntent's idempotency key is the fix id, so a retried request (same client
//! `Idempotency-Key`, hence same fix id) never charges twice. A decline changes nothing here:
//! no credit consumed, no fix, no charge row; the caller answers 402 with the reason.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{Cents, CustomerId, Plan};
use crate::stripe::{Form, StripeClient, StripeError, StripePaymentIntent};

/// A successful charge.
#[derive(Debug, Clone, Serialize)]
pub struct Charge {
    pub id: Uuid,
    pub amount_cents: Cents,
    pub stripe_payment_intent_id: String,
}

/// Charges `amount` for `fix_id` in Stripe.
pub async fn charge_in_stripe(
    stripe: &StripeClient,
    stripe_customer: &str,
    payment_method: &str,
    amount: Cents,
    fix_id: Uuid,
    customer: CustomerId,
) -> Result<StripePaymentIntent, StripeError> {
    let form = Form::new()
        .set("amount", amount.0)
        .set("currency", "usd")
        .set("customer", stripe_customer)
        .set("payment_method", payment_method)
        .set("confirm", "true")
        .set("off_session", "true")
        .set("description", format!("Fix {fix_id}"))
        .metadata("fix_id", fix_id)
        .metadata("customer_id", customer);
    stripe.post("/v1/payment_intents", form, &format!("fix-charge-{fix_id}")).await
}

/// Records a successful charge (in the caller's transaction).
pub async fn record_charge(
    conn: &mut PgConnection,
    customer: CustomerId,
    fix_id: Uuid,
    amount: Cents,
    plan: Plan,
    intent: &StripePaymentIntent,
    now: DateTime<Utc>,
) -> Result<Charge, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO charges (id, customer_id, fix_id, amount_cents, currency, plan, stripe_payment_intent_id, created_at)
         VALUES ($1, $2, $3, $4, 'usd', $5, $6, $7)",
    )
    .bind(id)
    .bind(customer.0)
    .bind(fix_id)
    .bind(amount.0)
    .bind(plan.as_str())
    .bind(&intent.id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(Charge { id, amount_cents: amount, stripe_payment_intent_id: intent.id.clone() })
}
