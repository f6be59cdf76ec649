//! Charging a fix beyond the credits, so that money is never lost or doubled whatever fails.
//!
//! 1. **Record, then charge.** The transaction that decides to charge inserts the charge as
//!    `pending` ([`insert_pending`]) with everything the request to Stripe carries, including
//!    its Stripe idempotency key `charge-<charge id>`: one key names one PaymentIntent, and is
//!    never reused for another. Only after the commit is Stripe called ([`execute`]).
//! 2. **Settle from what Stripe says.** A succeeded PaymentIntent settles the charge
//!    `succeeded` (and its fix `paid`); a declined card, or a request Stripe refused as invalid,
//!    settles it `failed` (nothing was charged). Anything else — no answer, a timeout, a 5xx
//!    after Stripe may have charged — leaves it `pending`, and the client is told the outcome is
//!    unknown, never that nothing happened.
//! 3. **Whatever is left pending is settled later** by whoever gets there first: the same request
//!    retried with its `Idempotency-Key` ([`settle_pending`]), the reconciler
//!    ([`super::reconciler`]), which re-sends the request with the same key so Stripe answers
//!    with the original outcome, or the `payment_intent.*` webhooks. Settling is a compare-and-set
//!    on `status = 'pending'`, so the first answer wins and the others change nothing.
//!
//! The Stripe call runs on a task of its own, so a client that disconnects (or a request
//! timeout) cannot cancel it between the charge and its settlement. Stripe calls are bounded
//! (`STRIPE_MAX_CONCURRENCY`): a first attempt that gets no slot in time is settled `failed`
//! with `not_attempted` — nothing reached Stripe, so nothing changed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::app::AppState;
use crate::domain::{Cents, CustomerId, Plan};
use crate::stripe::{Form, StripeError, StripePaymentIntent};

/// Where a charge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ChargeStatus {
    /// Recorded, sent or about to be sent to Stripe; the outcome is not known yet.
    Pending,
    /// Stripe charged it.
    Succeeded,
    /// Nothing was charged (declined, refused, or never sent).
    Failed,
}

/// A charge as stored.
#[derive(Debug, Clone)]
pub struct Charge {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub fix_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    pub plan: Plan,
    pub status: ChargeStatus,
    pub stripe_idempotency_key: String,
    pub stripe_customer_id: Option<String>,
    pub payment_method: Option<String>,
    pub stripe_payment_intent_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What a charge came to, as far as is known.
#[derive(Debug, Clone)]
pub enum ChargeOutcome {
    Succeeded {
        payment_intent: String,
    },
    /// Nothing was charged; `code` is Stripe's decline code or why it was not attempted.
    Failed {
        code: String,
        message: String,
        declined: bool,
    },
    /// Stripe did not say (yet): the charge stays pending until it is settled.
    Unknown {
        reason: String,
    },
}

/// Why a failed charge failed, as stored in `failure_code`.
pub mod failure {
    /// Not sent: no Stripe slot was free in time.
    pub const NOT_ATTEMPTED: &str = "not_attempted";
    /// The reconciler found no PaymentIntent for a charge too old to re-send.
    pub const NEVER_REACHED_STRIPE: &str = "never_reached_stripe";
}

impl Charge {
    /// The charge's outcome from its stored row.
    pub fn outcome(&self) -> ChargeOutcome {
        match self.status {
            ChargeStatus::Succeeded => {
                ChargeOutcome::Succeeded { payment_intent: self.stripe_payment_intent_id.clone().unwrap_or_default() }
            }
            ChargeStatus::Failed => ChargeOutcome::Failed {
                code: self.failure_code.clone().unwrap_or_else(|| "failed".into()),
                message: self.failure_message.clone().unwrap_or_default(),
                declined: !matches!(
                    self.failure_code.as_deref(),
                    Some(failure::NOT_ATTEMPTED | failure::NEVER_REACHED_STRIPE)
                ),
            },
            ChargeStatus::Pending => ChargeOutcome::Unknown { reason: "Stripe has not answered yet".into() },
        }
    }

    /// The request that makes this charge's PaymentIntent: always the same parameters for the
    /// same charge, so a re-send with its key is recognised by Stripe as the same request.
    fn payment_intent_form(&self) -> Form {
        Form::new()
            .set("amount", self.amount_cents)
            .set("currency", &self.currency)
            .set("customer", self.stripe_customer_id.as_deref().unwrap_or_default())
            .set("payment_method", self.payment_method.as_deref().unwrap_or_default())
            .set("confirm", "true")
            .set("off_session", "true")
            .set("description", format!("Fix {}", self.fix_id))
            .metadata("charge_id", self.id)
            .metadata("fix_id", self.fix_id)
            .metadata("customer_id", self.customer_id)
    }
}

/// What a new pending charge is for.
pub struct NewCharge<'a> {
    pub customer: CustomerId,
    pub fix_id: Uuid,
    pub amount: Cents,
    pub plan: Plan,
    pub stripe_customer_id: &'a str,
    pub payment_method: &'a str,
}

/// Records a pending charge in the caller's transaction (the one that decided to charge).
/// `reconcile_after` is how long the request itself has before the reconciler looks at it.
pub async fn insert_pending(
    conn: &mut PgConnection,
    charge: NewCharge<'_>,
    now: DateTime<Utc>,
    reconcile_after: Duration,
) -> Result<Charge, sqlx::Error> {
    let id = Uuid::new_v4();
    let next_reconcile_at = now + chrono::Duration::from_std(reconcile_after).unwrap_or(chrono::Duration::MAX);
    sqlx::query_as!(
        Charge,
        r#"INSERT INTO charges (id, customer_id, fix_id, amount_cents, currency, plan, status, stripe_idempotency_key,
               stripe_customer_id, payment_method, next_reconcile_at, created_at)
           VALUES ($1, $2, $3, $4, 'usd', $5, 'pending', $6, $7, $8, $9, $10)
           RETURNING id, customer_id, fix_id, amount_cents, currency, plan AS "plan: Plan", status AS "status: ChargeStatus",
             stripe_idempotency_key, stripe_customer_id, payment_method, stripe_payment_intent_id, failure_code,
             failure_message, created_at"#,
        id,
        charge.customer.0,
        charge.fix_id,
        charge.amount.0,
        charge.plan as _,
        format!("charge-{id}"),
        charge.stripe_customer_id,
        charge.payment_method,
        next_reconcile_at,
        now
    )
    .fetch_one(conn)
    .await
}

/// A charge by id.
pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<Charge>, sqlx::Error> {
    sqlx::query_as!(
        Charge,
        r#"SELECT id, customer_id, fix_id, amount_cents, currency, plan AS "plan: Plan", status AS "status: ChargeStatus",
             stripe_idempotency_key, stripe_customer_id, payment_method, stripe_payment_intent_id, failure_code,
             failure_message, created_at
           FROM charges WHERE id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Whether this is the first time the charge's request is sent, or a re-send of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    First,
    Resend,
}

/// Sends the charge's PaymentIntent request to Stripe and settles the charge from the answer,
/// on a task of its own (a cancelled caller cannot interrupt it between the two).
pub async fn execute(state: &AppState, charge: Charge, attempt: Attempt) -> ChargeOutcome {
    let state = state.clone();
    let charge_id = charge.id;
    let task = tokio::spawn(async move { execute_to_the_end(&state, charge, attempt).await });
    task.await.unwrap_or_else(|error| {
        tracing::error!(charge = %charge_id, %error, "the charge task failed; the reconciler will settle the charge");
        ChargeOutcome::Unknown { reason: "the charge was interrupted".into() }
    })
}

async fn execute_to_the_end(state: &AppState, charge: Charge, attempt: Attempt) -> ChargeOutcome {
    let answer: Result<StripePaymentIntent, StripeError> =
        state.stripe.post("/v1/payment_intents", charge.payment_intent_form(), &charge.stripe_idempotency_key).await;
    let outcome = match answer {
        // Not sent this time: known to have changed nothing only if it was never sent before.
        Err(StripeError::Busy) if attempt == Attempt::First => ChargeOutcome::Failed {
            code: failure::NOT_ATTEMPTED.into(),
            message: "the service is busy: nothing was charged".into(),
            declined: false,
        },
        Err(StripeError::Busy) => ChargeOutcome::Unknown { reason: "no Stripe slot was free".into() },
        answer => outcome_of(answer),
    };
    if let ChargeOutcome::Unknown { reason } = &outcome {
        tracing::warn!(charge = %charge.id, fix = %charge.fix_id, %reason, "charge outcome unknown: left pending for the reconciler");
        return outcome;
    }
    settle_or_read(state, &charge, &outcome).await
}

/// What a customer whose charge was declined is told: the reason, and the way out. Built when
/// answering, so it reads the same whoever settled the charge (the request, the webhook, the
/// reconciler).
pub fn declined_message(code: &str, detail: &str) -> String {
    let detail = if detail.is_empty() { String::new() } else { format!(" {}", detail.trim_end_matches('.')) + "." };
    format!(
        "the card was declined ({code}):{detail} Nothing was charged. Add another payment method with POST /api/v1/billing/payment-method and retry."
    )
}

/// What Stripe's answer to a PaymentIntent request says about the charge.
pub fn outcome_of(answer: Result<StripePaymentIntent, StripeError>) -> ChargeOutcome {
    match answer {
        Ok(intent) => intent_outcome(&intent.id, &intent.status, None),
        Err(error) if error.proves_nothing_was_charged() => {
            let declined = error.is_card_error();
            ChargeOutcome::Failed {
                code: error.decline_code().unwrap_or("refused").to_string(),
                message: match &error {
                    StripeError::Api(details) => details.message.clone(),
                    other => other.to_string(),
                },
                declined,
            }
        }
        Err(error) => ChargeOutcome::Unknown { reason: error.to_string() },
    }
}

/// A PaymentIntent's status as an outcome.
pub fn intent_outcome(id: &str, status: &str, error_code: Option<&str>) -> ChargeOutcome {
    match status {
        "succeeded" => ChargeOutcome::Succeeded { payment_intent: id.to_string() },
        // Still moving: Stripe will settle it, and say so in a webhook.
        "processing" => ChargeOutcome::Unknown { reason: format!("PaymentIntent {id} is processing") },
        other => ChargeOutcome::Failed {
            code: error_code.unwrap_or(other).to_string(),
            message: format!(
                "the charge is `{other}` in Stripe, not paid: update the payment method with POST /api/v1/billing/payment-method"
            ),
            declined: true,
        },
    }
}

/// Settles the charge; when someone else settled it first, reads what they settled.
async fn settle_or_read(state: &AppState, charge: &Charge, outcome: &ChargeOutcome) -> ChargeOutcome {
    let settled = async {
        let mut tx = state.pool.begin().await?;
        settle(&mut tx, charge.id, outcome, state.clock.now()).await?;
        let stored = find(&mut tx, charge.id).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(stored)
    }
    .await;
    match settled {
        Ok(Some(stored)) => {
            state.metrics.charge_settled(stored.status, "request");
            stored.outcome()
        }
        Ok(None) => ChargeOutcome::Unknown { reason: format!("charge {} is gone", charge.id) },
        Err(error) => {
            tracing::error!(charge = %charge.id, %error, ?outcome, "could not record a charge's outcome; the reconciler will settle it");
            ChargeOutcome::Unknown { reason: "the outcome could not be recorded".into() }
        }
    }
}

/// Settles a pending charge (and its fix) with `outcome`, in the caller's transaction; true
/// when this call settled it, false when it was settled already (or the outcome is unknown).
pub async fn settle(
    conn: &mut PgConnection,
    charge_id: Uuid,
    outcome: &ChargeOutcome,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let (status, payment_intent, code, message) = match outcome {
        ChargeOutcome::Succeeded { payment_intent } => {
            (ChargeStatus::Succeeded, Some(payment_intent.as_str()), None, None)
        }
        ChargeOutcome::Failed { code, message, .. } => {
            (ChargeStatus::Failed, None, Some(code.as_str()), Some(message.as_str()))
        }
        ChargeOutcome::Unknown { .. } => return Ok(false),
    };
    let fix_id = sqlx::query_scalar!(
        "UPDATE charges SET status = $2, stripe_payment_intent_id = COALESCE($3, stripe_payment_intent_id),
             failure_code = $4, failure_message = $5, settled_at = $6, next_reconcile_at = NULL
         WHERE id = $1 AND status = 'pending'
         RETURNING fix_id",
        charge_id,
        status as _,
        payment_intent,
        code,
        message,
        now
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(fix_id) = fix_id else { return Ok(false) };
    let fix_status = if status == ChargeStatus::Succeeded { "paid" } else { "failed" };
    sqlx::query!("UPDATE fixes SET status = $2 WHERE id = $1 AND charge_id = $3", fix_id, fix_status, charge_id)
        .execute(&mut *conn)
        .await?;
    tracing::info!(charge = %charge_id, fix = %fix_id, ?outcome, "charge settled");
    Ok(true)
}

/// Waits for a pending charge to be settled by whoever is sending it, then, if it is still
/// pending once that request must have ended, re-sends it with its key: the answer of a
/// retried request that finds its fix's charge pending.
pub async fn settle_pending(state: &AppState, charge: Charge) -> ChargeOutcome {
    // The first request may still be waiting on Stripe for up to its timeout.
    let age = (state.clock.now() - charge.created_at).to_std().unwrap_or_default();
    let in_flight_for = (state.config.stripe_timeout() + Duration::from_secs(1)).saturating_sub(age);
    let deadline = tokio::time::Instant::now() + in_flight_for;
    let mut pause = Duration::from_millis(20);
    loop {
        match reload(&state.pool, charge.id).await {
            Ok(Some(stored)) if stored.status != ChargeStatus::Pending => return stored.outcome(),
            Ok(_) => {}
            Err(error) => return ChargeOutcome::Unknown { reason: error.to_string() },
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(tokio::time::Instant::now()))).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
    execute(state, charge, Attempt::Resend).await
}

async fn reload(pool: &PgPool, id: Uuid) -> Result<Option<Charge>, sqlx::Error> {
    find(&mut *pool.acquire().await?, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(status: u16, kind: &str) -> StripeError {
        StripeError::Api(Box::new(crate::stripe::StripeApiError {
            status,
            kind: kind.into(),
            code: Some("card_declined".into()),
            decline_code: Some("insufficient_funds".into()),
            message: "declined".into(),
            payment_intent: None,
        }))
    }

    #[test]
    fn only_a_succeeded_intent_is_a_success() {
        let ok = StripePaymentIntent { id: "pi_1".into(), status: "succeeded".into() };
        assert!(matches!(outcome_of(Ok(ok)), ChargeOutcome::Succeeded { payment_intent } if payment_intent == "pi_1"));
        let needs_action = StripePaymentIntent { id: "pi_2".into(), status: "requires_action".into() };
        assert!(matches!(outcome_of(Ok(needs_action)), ChargeOutcome::Failed { .. }));
        let processing = StripePaymentIntent { id: "pi_3".into(), status: "processing".into() };
        assert!(matches!(outcome_of(Ok(processing)), ChargeOutcome::Unknown { .. }));
    }

    #[test]
    fn a_decline_is_a_known_failure_and_a_server_error_is_unknown() {
        assert!(
            matches!(outcome_of(Err(api_error(402, "card_error"))), ChargeOutcome::Failed { declined: true, code, .. } if code == "insufficient_funds")
        );
        assert!(matches!(outcome_of(Err(api_error(500, "api_error"))), ChargeOutcome::Unknown { .. }));
        assert!(matches!(outcome_of(Err(StripeError::Transport("timed out".into()))), ChargeOutcome::Unknown { .. }));
        assert!(matches!(outcome_of(Err(api_error(409, "idempotency_error"))), ChargeOutcome::Unknown { .. }));
    }
}
