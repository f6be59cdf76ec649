//! Fixes: `POST /api/v1/fixes` records one deployed fix and pays for it.
//!
//! A fix is paid with one credit when the customer has any. The customer's row is locked for
//! the transaction (see [`crate::ledger`]), so concurrent fixes for one customer consume
//! exactly the credits there are and never drive the balance below zero.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::api_keys::Authenticated;
use crate::app::AppState;
use crate::error::ApiError;
use crate::ledger::{self, CreditSource};
use crate::request::{Fields, JsonObject};

/// Longest fix description kept.
const MAX_DESCRIPTION_CHARS: usize = 2_000;

#[derive(Debug, Serialize)]
pub struct RecordedFix {
    pub fix_id: Uuid,
    pub paid_with: &'static str,
    pub charged_cents: i64,
    pub credit_balance: i32,
    pub created_at: DateTime<Utc>,
}

pub const NO_CREDITS_NO_PAYMENT_METHOD: &str = "no credits left and no payment method on file: add a card with POST /api/v1/billing/payment-method (with \"billing_consent\": true) or subscribe to Pro with POST /api/v1/billing/subscription";

pub async fn record_fix(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonObject,
) -> Result<(StatusCode, Json<RecordedFix>), ApiError> {
    let mut fields = Fields::new(body);
    let description = fields.optional_str("description");
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        fields.error(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        );
    }
    fields.finish()?;

    let result = pay_with_credit(&state, auth, description.as_deref()).await;
    state.metrics.fix(match &result {
        Ok(_) => "credit",
        Err(ApiError::PaymentRequired { .. }) => "refused",
        Err(_) => "failed",
    });
    Ok((StatusCode::CREATED, Json(result?)))
}

async fn pay_with_credit(
    state: &AppState,
    auth: Authenticated,
    description: Option<&str>,
) -> Result<RecordedFix, ApiError> {
    let now = state.clock.now();
    let fix_id = Uuid::new_v4();
    let mut tx = state.pool.begin().await?;
    ledger::lock_customer(&mut tx, auth.customer).await?;
    if ledger::balance(&mut tx, auth.customer).await? == 0 {
        return Err(ApiError::PaymentRequired {
            code: "payment_required",
            message: NO_CREDITS_NO_PAYMENT_METHOD.into(),
        });
    }
    let entry = ledger::append(
        &mut tx,
        auth.customer,
        -1,
        CreditSource::Fix,
        Some(&fix_id.to_string()),
        now,
    )
    .await
    .map_err(|err| ApiError::Internal(err.to_string()))?;
    sqlx::query(
        "INSERT INTO fixes (id, customer_id, description, paid_with, ledger_entry_id, created_at)
         VALUES ($1, $2, $3, 'credit', $4, $5)",
    )
    .bind(fix_id)
    .bind(auth.customer.0)
    .bind(description)
    .bind(entry.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    state.metrics.credits_consumed(1);
    Ok(RecordedFix {
        fix_id,
        paid_with: "credit",
        charged_cents: 0,
        credit_balance: entry.balance_after,
        created_at: now,
    })
}
