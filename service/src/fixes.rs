//! Fixes: recording one deployed fix and paying for it (`POST /api/v1/fixes`), and where a fix
//! is (`GET /api/v1/fixes/{id}`: a client told "outcome unknown" looks here).
//!
//! A fix is paid with one credit when the customer has any; beyond the credits it is charged
//! to the default payment method at the plan's rate ($29 pay-as-you-go, $15 Pro); with
//! neither it is refused with 402 and nothing is written. The customer's row is locked while
//! this is decided (see [`crate::ledger`]), so concurrent fixes consume exactly the credits
//! there are.
//!
//! A charged fix follows [`crate::billing::charges`]: the fix (`pending`) and its charge
//! (`pending`, with the Stripe idempotency key that names its one PaymentIntent) are recorded
//! in the transaction that decides to charge, the lock is released, then Stripe is called and
//! both are settled. Stripe is never called before the fix exists, so a fix that cannot be
//! stored is never charged.
//!
//! A client `Idempotency-Key` makes the fix id deterministic: a retry finds its fix and answers
//! with it — paid, or still being charged, in which case it settles the pending charge (never a
//! credit instead) — and a retry with a different body under the same key is refused (422).

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::billing::BillingProfile;
use crate::billing::charges::{self, Attempt, ChargeOutcome, NewCharge, SettledBy, failure};
use crate::domain::{Cents, CustomerId};
use crate::error::ApiError;
use crate::idempotency::{self, ClientKey};
use crate::ledger::{self, CreditSource};
use crate::pricing::fix_price;
use crate::state::AppState;

/// The route, as idempotency keys record it.
const ROUTE: &str = "POST /api/v1/fixes";

/// A fix's description: at most 2,000 characters, no control characters but line breaks and
/// tabs (a NUL, say, could never be stored: it is refused before anything happens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixDescription(String);

impl FixDescription {
    pub const MAX_CHARS: usize = 2_000;

    pub fn parse(raw: &str) -> Result<FixDescription, String> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if raw.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err("must not contain control characters (line breaks and tabs are fine)".into());
        }
        Ok(FixDescription(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a fix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum FixStatus {
    /// Its charge was sent to Stripe and has not settled yet.
    Pending,
    Paid,
    /// Its charge failed: nothing was taken or charged.
    Failed,
}

/// How a fix is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum PaidWith {
    Credit,
    Charge,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordedFix {
    pub fix_id: Uuid,
    pub status: FixStatus,
    pub paid_with: PaidWith,
    pub charged_cents: i64,
    pub stripe_payment_intent_id: Option<String>,
    pub credit_balance: i32,
    pub created_at: DateTime<Utc>,
}

pub const NO_CREDITS_NO_PAYMENT_METHOD: &str = "no credits left and no payment method on file: add a card with POST /api/v1/billing/payment-method (with \"billing_consent\": true) or subscribe to Pro with POST /api/v1/billing/subscription";

/// Records a fix of `customer` and pays for it (see the module documentation), counted in the
/// metrics by how it went: 201 for a fix paid now, 200 for a keyed retry of one paid before.
pub async fn record_fix(
    state: &AppState,
    customer: CustomerId,
    description: Option<&FixDescription>,
    key: Option<&ClientKey>,
) -> Result<(StatusCode, RecordedFix), ApiError> {
    let fix_id = match key {
        Some(key) => fix_id_for(customer, key),
        None => Uuid::new_v4(),
    };
    let result = pay_for_fix(state, customer, fix_id, description, key).await;
    state.metrics.fix(match &result {
        Ok((_, fix)) if fix.paid_with == PaidWith::Credit => "credit",
        Ok(_) => "charge",
        Err(ApiError::PaymentRequired { .. }) => "refused",
        Err(ApiError::CardDeclined { .. }) => "declined",
        Err(ApiError::PaymentOutcomeUnknown(_)) => "pending",
        Err(_) => "failed",
    });
    result
}

/// One of the customer's fixes as it stands, by the id the client gave; 404 for anything else.
/// It only reads: a pending charge is settled elsewhere.
pub async fn fix_as_it_stands(state: &AppState, customer: CustomerId, id: &str) -> Result<RecordedFix, ApiError> {
    let not_found = || ApiError::NotFound("no such fix for this customer".into());
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let fix = find_fix(&mut *state.pool.acquire().await?, customer, id).await?.ok_or_else(not_found)?;
    Ok(fix.view)
}

/// The same client key always names the same fix of the same customer.
fn fix_id_for(customer: CustomerId, client_key: &ClientKey) -> Uuid {
    let digest = Sha256::new().chain_update(customer.0.as_bytes()).chain_update(client_key.as_str()).finalize();
    let bytes: [u8; 16] = digest[..16].try_into().unwrap_or_default();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

async fn pay_for_fix(
    state: &AppState,
    customer: CustomerId,
    fix_id: Uuid,
    description: Option<&FixDescription>,
    key: Option<&ClientKey>,
) -> Result<(StatusCode, RecordedFix), ApiError> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    ledger::lock_customer(&mut tx, customer).await?;
    if let Some(key) = key {
        let fingerprint = idempotency::fingerprint(ROUTE, &[description.map_or("\u{0}none", FixDescription::as_str)]);
        idempotency::remember(&mut tx, &customer.to_string(), key, ROUTE, &fingerprint, now).await?;
    }
    let existing = find_fix(&mut tx, customer, fix_id).await?;
    match existing {
        Some(fix) if fix.view.status == FixStatus::Paid => {
            tx.rollback().await?;
            return Ok((StatusCode::OK, fix.view));
        }
        Some(ref fix) if fix.view.status == FixStatus::Pending => {
            // Never a credit instead: the charge may have been made. Settle it.
            tx.rollback().await?;
            let charge_id =
                fix.charge_id.ok_or_else(|| ApiError::Internal(format!("pending fix {fix_id} without a charge")))?;
            let charge = charges::find(&mut *state.pool.acquire().await?, charge_id)
                .await?
                .ok_or_else(|| ApiError::Internal(format!("charge {charge_id} of fix {fix_id} is gone")))?;
            let amount = Cents(charge.amount_cents);
            let outcome = charges::settle_pending(state, charge).await;
            return answer_charge(state, customer, fix_id, amount, outcome, key.is_some(), StatusCode::OK).await;
        }
        // A new fix, or one whose charge failed: pay for it now.
        _ => {}
    }

    if ledger::balance(&mut tx, customer).await? > 0 {
        let entry = ledger::append(&mut tx, customer, -1, CreditSource::Fix, Some(&fix_id.to_string()), now)
            .await
            .map_err(|err| ApiError::Internal(err.to_string()))?;
        let row =
            FixRow { id: fix_id, customer, description, paid_with: PaidWith::Credit, status: FixStatus::Paid, now };
        upsert_fix(&mut tx, &row, Some(entry.id), None).await?;
        tx.commit().await?;
        if entry.balance_after == 0 {
            // The last credit is gone: what the auth cache knows of this customer's standing is stale.
            state.api_key_cache.invalidate_customer(customer);
        }
        state.metrics.credits_consumed(1);
        let view = RecordedFix {
            fix_id,
            status: FixStatus::Paid,
            paid_with: PaidWith::Credit,
            charged_cents: 0,
            stripe_payment_intent_id: None,
            credit_balance: entry.balance_after,
            created_at: existing.map_or(now, |fix| fix.view.created_at),
        };
        return Ok((StatusCode::CREATED, view));
    }

    let profile = BillingProfile::load(&mut tx, customer).await?;
    let Some(payment_method) = profile.default_payment_method.as_deref() else {
        return Err(ApiError::PaymentRequired {
            code: "payment_required",
            message: NO_CREDITS_NO_PAYMENT_METHOD.into(),
        });
    };
    let amount = fix_price(profile.plan);
    let new_charge = NewCharge {
        customer,
        fix_id,
        amount,
        plan: profile.plan,
        stripe_customer_id: &profile.stripe_customer_id,
        payment_method,
    };
    let charge = charges::insert_pending(&mut tx, new_charge, now, state.config.reconciler.after()).await?;
    let row =
        FixRow { id: fix_id, customer, description, paid_with: PaidWith::Charge, status: FixStatus::Pending, now };
    upsert_fix(&mut tx, &row, None, Some(charge.id)).await?;
    tx.commit().await?;

    let outcome = charges::execute(state, charge, Attempt::First, SettledBy::Request).await;
    answer_charge(state, customer, fix_id, amount, outcome, key.is_some(), StatusCode::CREATED).await
}

/// The answer to a request whose fix was charged: the fix, or why it is not paid.
async fn answer_charge(
    state: &AppState,
    customer: CustomerId,
    fix_id: Uuid,
    amount: Cents,
    outcome: ChargeOutcome,
    had_key: bool,
    paid_status: StatusCode,
) -> Result<(StatusCode, RecordedFix), ApiError> {
    match outcome {
        ChargeOutcome::Succeeded { payment_intent } => {
            tracing::info!(customer = %customer, fix = %fix_id, amount = amount.0, %payment_intent, "fix charged");
            let fix = find_fix(&mut *state.pool.acquire().await?, customer, fix_id)
                .await?
                .ok_or_else(|| ApiError::Internal(format!("fix {fix_id} is gone")))?;
            Ok((paid_status, fix.view))
        }
        ChargeOutcome::Failed { code, message: _, declined: false } if code == failure::NOT_ATTEMPTED => {
            Err(ApiError::Busy {
                message: "the service is busy talking to the payment provider: nothing was charged and the fix is not recorded as paid; retry in a moment".into(),
                retry_after_secs: 1,
            })
        }
        ChargeOutcome::Failed { code, message, declined: true } => {
            Err(ApiError::CardDeclined { message: charges::declined_message(&code, &message), decline_code: code })
        }
        ChargeOutcome::Failed { code, message, declined: false } => Err(ApiError::PaymentRequired {
            code: "payment_failed",
            message: format!("the charge of {amount} for fix {fix_id} was not made ({code}: {message}); retry the request"),
        }),
        ChargeOutcome::Unknown { reason } => {
            let retry = if had_key {
                "retry this request with the same Idempotency-Key to get the result (it is never charged twice)"
            } else {
                "this request had no Idempotency-Key, so do not simply send it again (that would be a new fix): read the outcome with GET /api/v1/fixes/{id}, and send an Idempotency-Key next time"
            };
            Err(ApiError::PaymentOutcomeUnknown(format!(
                "the charge of {amount} for fix {fix_id} was sent to the payment provider, which did not say how it went ({reason}). It is recorded and will be settled shortly: {}",
                retry.replace("{id}", &fix_id.to_string())
            )))
        }
    }
}

/// A fix row to write.
struct FixRow<'a> {
    id: Uuid,
    customer: CustomerId,
    description: Option<&'a FixDescription>,
    paid_with: PaidWith,
    status: FixStatus,
    now: DateTime<Utc>,
}

/// Inserts the fix, or — a retry of a fix whose charge failed — pays it anew.
async fn upsert_fix(
    conn: &mut PgConnection,
    row: &FixRow<'_>,
    ledger_entry: Option<i64>,
    charge: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO fixes (id, customer_id, description, paid_with, status, ledger_entry_id, charge_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET paid_with = EXCLUDED.paid_with, status = EXCLUDED.status,
             ledger_entry_id = EXCLUDED.ledger_entry_id, charge_id = EXCLUDED.charge_id
         WHERE fixes.status = 'failed'",
        row.id,
        row.customer.0,
        row.description.map(FixDescription::as_str),
        row.paid_with as _,
        row.status as _,
        ledger_entry,
        charge,
        row.now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored fix: what the API shows, and its current charge.
struct StoredFix {
    view: RecordedFix,
    charge_id: Option<Uuid>,
}

struct FixRecord {
    status: FixStatus,
    paid_with: PaidWith,
    created_at: DateTime<Utc>,
    charge_id: Option<Uuid>,
    amount_cents: Option<i64>,
    stripe_payment_intent_id: Option<String>,
    balance_after: Option<i32>,
}

/// A fix of this customer, by id.
async fn find_fix(conn: &mut PgConnection, customer: CustomerId, fix_id: Uuid) -> Result<Option<StoredFix>, ApiError> {
    let record = sqlx::query_as!(
        FixRecord,
        r#"SELECT f.status AS "status: FixStatus", f.paid_with AS "paid_with: PaidWith", f.created_at, f.charge_id,
                  c.amount_cents AS "amount_cents?", c.stripe_payment_intent_id AS "stripe_payment_intent_id?",
                  l.balance_after AS "balance_after?"
           FROM fixes f LEFT JOIN charges c ON c.id = f.charge_id LEFT JOIN ledger_entries l ON l.id = f.ledger_entry_id
           WHERE f.id = $1 AND f.customer_id = $2"#,
        fix_id,
        customer.0
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(record) = record else { return Ok(None) };
    let balance = match record.balance_after {
        Some(balance) => balance,
        None => ledger::balance(conn, customer).await?,
    };
    let charged = record.paid_with == PaidWith::Charge && record.status == FixStatus::Paid;
    Ok(Some(StoredFix {
        view: RecordedFix {
            fix_id,
            status: record.status,
            paid_with: record.paid_with,
            charged_cents: if charged { record.amount_cents.unwrap_or(0) } else { 0 },
            stripe_payment_intent_id: record.stripe_payment_intent_id,
            credit_balance: balance,
            created_at: record.created_at,
        },
        charge_id: record.charge_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_refuses_control_characters_but_keeps_line_breaks() {
        assert!(FixDescription::parse("fixed the build\n\tand the tests").is_ok());
        for bad in ["nul\u{0}byte", "bell\u{7}", "escape\u{1b}[31m", "del\u{7f}", "c1\u{85}"] {
            assert!(FixDescription::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(FixDescription::parse(&"x".repeat(2_001)).is_err());
        assert!(FixDescription::parse(&"é".repeat(2_000)).is_ok());
    }

    #[test]
    fn one_key_names_one_fix_per_customer() {
        let key = ClientKey::parse(b"retry-me").unwrap();
        let (a, b) = (CustomerId(Uuid::new_v4()), CustomerId(Uuid::new_v4()));
        assert_eq!(fix_id_for(a, &key), fix_id_for(a, &key));
        assert_ne!(fix_id_for(a, &key), fix_id_for(b, &key));
    }
}
