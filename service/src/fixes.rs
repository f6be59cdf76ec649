//! Fixes: `POST /api/v1/fixes` records one deployed fix and pays for it.
//!
//! A fix is paid with one credit when the customer has any; beyond the credits it is charged
//! to the default payment method at the plan's rate ($29 pay-as-you-go, $15 Pro); with
//! neither it is refused with 402. The customer's row is locked while the credit is taken
//! (see [`crate::ledger`]), so concurrent fixes consume exactly the credits there are.
//!
//! The lock is not held across the Stripe call: a charge is decided under the lock, made
//! outside it, and recorded in a second transaction. A client `Idempotency-Key` makes the
//! fix id deterministic, so a retried request finds the fix already recorded, or re-sends
//! the charge with the same Stripe idempotency key, and is never charged twice.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::api_keys::Authenticated;
use crate::app::AppState;
use crate::billing::BillingProfile;
use crate::billing::charges::{charge_in_stripe, record_charge};
use crate::domain::CustomerId;
use crate::error::ApiError;
use crate::ledger::{self, CreditSource};
use crate::request::{Fields, JsonObject};
use crate::stripe::StripePaymentIntent;
use crate::usage::fix_price;

/// Longest fix description kept.
const MAX_DESCRIPTION_CHARS: usize = 2_000;

#[derive(Debug, Serialize)]
pub struct RecordedFix {
    pub fix_id: Uuid,
    pub paid_with: String,
    pub charged_cents: i64,
    pub stripe_payment_intent_id: Option<String>,
    pub credit_balance: i32,
    pub created_at: DateTime<Utc>,
}

pub const NO_CREDITS_NO_PAYMENT_METHOD: &str = "no credits left and no payment method on file: add a card with POST /api/v1/billing/payment-method (with \"billing_consent\": true) or subscribe to Pro with POST /api/v1/billing/subscription";

pub async fn record_fix(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<(StatusCode, Json<RecordedFix>), ApiError> {
    let mut fields = Fields::new(body);
    let description = fields.optional_str("description");
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
        fields.error("description", format!("must be at most {MAX_DESCRIPTION_CHARS} characters"));
    }
    fields.finish()?;
    let client_key = headers.get("idempotency-key").and_then(|value| value.to_str().ok());
    let fix_id = match client_key {
        Some(key) => fix_id_for(auth.customer, key),
        None => Uuid::new_v4(),
    };

    let result = pay_for_fix(&state, auth.customer, fix_id, description.as_deref()).await;
    state.metrics.fix(match &result {
        Ok((_, fix)) if fix.paid_with == "credit" => "credit",
        Ok(_) => "charge",
        Err(ApiError::PaymentRequired { .. }) => "refused",
        Err(ApiError::Stripe(err)) if err.is_card_error() => "declined",
        Err(_) => "failed",
    });
    match &result {
        Ok((StatusCode::CREATED, fix)) if fix.paid_with == "charge" => state.metrics.charge("ok"),
        Err(ApiError::Stripe(err)) if err.is_card_error() => state.metrics.charge("declined"),
        _ => {}
    }
    let (status, fix) = result?;
    Ok((status, Json(fix)))
}

/// The same client key always names the same fix of the same customer.
fn fix_id_for(customer: CustomerId, client_key: &str) -> Uuid {
    let digest = Sha256::new().chain_update(customer.0.as_bytes()).chain_update(client_key.as_bytes()).finalize();
    let bytes: [u8; 16] = digest[..16].try_into().unwrap_or_default();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

async fn pay_for_fix(
    state: &AppState,
    customer: CustomerId,
    fix_id: Uuid,
    description: Option<&str>,
) -> Result<(StatusCode, RecordedFix), ApiError> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    ledger::lock_customer(&mut tx, customer).await?;
    if let Some(existing) = find_fix(&mut tx, customer, fix_id).await? {
        return Ok((StatusCode::OK, existing));
    }
    if ledger::balance(&mut tx, customer).await? > 0 {
        let entry = ledger::append(&mut tx, customer, -1, CreditSource::Fix, Some(&fix_id.to_string()), now)
            .await
            .map_err(|err| ApiError::Internal(err.to_string()))?;
        insert_fix(&mut tx, customer, fix_id, description, Some(entry.id), None, now).await?;
        tx.commit().await?;
        if entry.balance_after == 0 {
            // The last credit is gone: what the auth cache knows of this customer's standing is stale.
            state.api_key_cache.invalidate_customer(customer);
        }
        state.metrics.credits_consumed(1);
        return Ok((
            StatusCode::CREATED,
            RecordedFix {
                fix_id,
                paid_with: "credit".into(),
                charged_cents: 0,
                stripe_payment_intent_id: None,
                credit_balance: entry.balance_after,
                created_at: now,
            },
        ));
    }
    let profile = BillingProfile::load(&mut tx, customer).await?;
    // Release the lock before calling Stripe.
    tx.rollback().await?;
    let Some(payment_method) = profile.default_payment_method.as_deref() else {
        return Err(ApiError::PaymentRequired {
            code: "payment_required",
            message: NO_CREDITS_NO_PAYMENT_METHOD.into(),
        });
    };

    let amount = fix_price(profile.plan);
    let intent =
        charge_in_stripe(&state.stripe, &profile.stripe_customer_id, payment_method, amount, fix_id, customer).await?;
    if intent.status != "succeeded" {
        return Err(ApiError::PaymentRequired {
            code: "payment_incomplete",
            message: format!(
                "the charge of {amount} for this fix is `{}` in Stripe, not paid: update the payment method with POST /api/v1/billing/payment-method",
                intent.status
            ),
        });
    }

    let recorded = record_charged_fix(state, customer, fix_id, description, &profile, &intent, now).await;
    let (status, balance) = match recorded {
        Ok(Recorded::New(balance)) => (StatusCode::CREATED, balance),
        Ok(Recorded::AlreadyThere(existing)) => return Ok((StatusCode::OK, existing)),
        Err(err) => {
            // Money moved but the fix is not recorded: say so loudly, with what reconciles it.
            // A retry with the same Idempotency-Key replays the charge and records it.
            tracing::error!(customer = %customer, fix = %fix_id, payment_intent = %intent.id, error = %err,
                "a fix was charged in Stripe but could not be recorded");
            return Err(err);
        }
    };
    tracing::info!(customer = %customer, fix = %fix_id, amount = amount.0, payment_intent = %intent.id, "fix charged");
    Ok((
        status,
        RecordedFix {
            fix_id,
            paid_with: "charge".into(),
            charged_cents: amount.0,
            stripe_payment_intent_id: Some(intent.id),
            credit_balance: balance,
            created_at: now,
        },
    ))
}

enum Recorded {
    /// Recorded now; the credit balance.
    New(i32),
    /// A concurrent retry of the same request recorded it first (Stripe replayed the charge).
    AlreadyThere(RecordedFix),
}

/// Records a charged fix and its charge in one transaction.
async fn record_charged_fix(
    state: &AppState,
    customer: CustomerId,
    fix_id: Uuid,
    description: Option<&str>,
    profile: &BillingProfile,
    intent: &StripePaymentIntent,
    now: DateTime<Utc>,
) -> Result<Recorded, ApiError> {
    let mut tx = state.pool.begin().await?;
    ledger::lock_customer(&mut tx, customer).await?;
    if let Some(existing) = find_fix(&mut tx, customer, fix_id).await? {
        return Ok(Recorded::AlreadyThere(existing));
    }
    let amount = fix_price(profile.plan);
    let charge = record_charge(&mut tx, customer, fix_id, amount, profile.plan, intent, now).await?;
    insert_fix(&mut tx, customer, fix_id, description, None, Some(charge.id), now).await?;
    let balance = ledger::balance(&mut tx, customer).await?;
    tx.commit().await?;
    Ok(Recorded::New(balance))
}

async fn insert_fix(
    conn: &mut PgConnection,
    customer: CustomerId,
    fix_id: Uuid,
    description: Option<&str>,
    ledger_entry: Option<i64>,
    charge: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO fixes (id, customer_id, description, paid_with, ledger_entry_id, charge_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(fix_id)
    .bind(customer.0)
    .bind(description)
    .bind(if charge.is_some() { "charge" } else { "credit" })
    .bind(ledger_entry)
    .bind(charge)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A fix already recorded under this id (a retried request).
async fn find_fix(
    conn: &mut PgConnection,
    customer: CustomerId,
    fix_id: Uuid,
) -> Result<Option<RecordedFix>, ApiError> {
    let row = sqlx::query(
        "SELECT f.paid_with, f.created_at, c.amount_cents, c.stripe_payment_intent_id, l.balance_after
         FROM fixes f LEFT JOIN charges c ON c.id = f.charge_id LEFT JOIN ledger_entries l ON l.id = f.ledger_entry_id
         WHERE f.id = $1 AND f.customer_id = $2",
    )
    .bind(fix_id)
    .bind(customer.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let balance_then: Option<i32> = row.try_get("balance_after")?;
    let balance = match balance_then {
        Some(balance) => balance,
        None => ledger::balance(conn, customer).await?,
    };
    Ok(Some(RecordedFix {
        fix_id,
        paid_with: row.try_get("paid_with")?,
        charged_cents: row.try_get::<Option<i64>, _>("amount_cents")?.unwrap_or(0),
        stripe_payment_intent_id: row.try_get("stripe_payment_intent_id")?,
        credit_balance: balance,
        created_at: row.try_get("created_at")?,
    }))
}
