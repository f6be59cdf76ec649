//! The reconciler: settles charges left pending — a crash between the charge and its
//! settlement, a timeout, a Stripe 5xx after the charge was made — by asking Stripe.
//!
//! Every `RECONCILE_INTERVAL_MS` it claims the pending charges whose `next_reconcile_at` has
//! come (`RECONCILE_AFTER_MS` after they were recorded, so a request still in flight is left
//! alone), pushing `next_reconcile_at` forward with a backoff first: the claim is a lease, held
//! by no open transaction, and any number of instances can run side by side. For each one it
//!
//! - re-sends the PaymentIntent request with the charge's own idempotency key and parameters:
//!   Stripe answers with the outcome of the original request if it ran (the same succeeded
//!   PaymentIntent, or the same decline), and carries it out now if it never arrived — which
//!   finishes the charge the customer's fix was recorded for;
//! - for a charge older than Stripe keeps idempotency keys (24 hours; here 23, to be safe),
//!   where a re-send could charge twice, it looks for the PaymentIntent by its metadata
//!   (`charge_id`) among the customer's PaymentIntents instead, and settles the charge
//!   `failed` (`never_reached_stripe`) when there is none.
//!
//! Both are [`charges::ask_stripe`], which a keyed retry of a fix uses too.
//!
//! The `payment_intent.succeeded` and `payment_intent.payment_failed` webhooks settle charges
//! too ([`crate::webhooks::events`]); whichever comes first wins.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::charges::{self, Charge, ChargeOutcome, SettledBy};
use crate::background::{Background, Stop};
use crate::domain::ChargeStatus;
use crate::domain::Plan;
use crate::state::AppState;

/// Charges claimed per round.
const BATCH: i64 = 20;
/// Longest wait between two looks at one charge.
const MAX_BACKOFF_SECS: f64 = 3_600.0;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub claimed: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// Still unknown: looked at again after a backoff.
    pub still_pending: usize,
}

/// One round: claims the due pending charges and settles what Stripe says about them.
pub async fn reconcile_due(state: &AppState) -> Result<ReconcileReport, sqlx::Error> {
    let now = state.clock.now();
    let claimed = claim_due(state, now).await?;
    let mut report = ReconcileReport { claimed: claimed.len(), ..Default::default() };
    for charge in claimed {
        let charge_id = charge.id;
        // Counted in the metrics by whoever settles it (this round, or a webhook first).
        match charges::ask_stripe(state, charge, now, SettledBy::Reconciler).await {
            ChargeOutcome::Succeeded { .. } => report.succeeded += 1,
            ChargeOutcome::Failed { .. } => report.failed += 1,
            ChargeOutcome::Unknown { reason } => {
                report.still_pending += 1;
                tracing::warn!(charge = %charge_id, %reason, "a pending charge is still unknown; looking again later");
            }
        }
    }
    let pending = sqlx::query_scalar!(r#"SELECT count(*) AS "pending!" FROM charges WHERE status = 'pending'"#)
        .fetch_one(&state.pool)
        .await?;
    state.metrics.set_pending_charges(pending);
    if report.claimed > 0 {
        tracing::info!(?report, "reconciler round");
    }
    Ok(report)
}

/// Claims due charges by pushing their next look forward (a lease), in a short transaction.
async fn claim_due(state: &AppState, now: DateTime<Utc>) -> Result<Vec<Charge>, sqlx::Error> {
    let base_secs = (state.config.reconciler.after_ms as f64 / 1000.0).max(1.0);
    sqlx::query_as!(
        Charge,
        r#"UPDATE charges SET reconcile_attempts = reconcile_attempts + 1,
               next_reconcile_at = $1 + make_interval(secs => least($3, $2 * power(2, reconcile_attempts)))
           WHERE id IN (SELECT id FROM charges WHERE status = 'pending' AND next_reconcile_at <= $1
                        ORDER BY next_reconcile_at LIMIT $4 FOR UPDATE SKIP LOCKED)
           RETURNING id, customer_id, fix_id, amount_cents, currency, plan AS "plan: Plan", status AS "status: ChargeStatus",
             stripe_idempotency_key, stripe_customer_id, payment_method, stripe_payment_intent_id, failure_code,
             failure_message, created_at"#,
        now,
        base_secs,
        MAX_BACKOFF_SECS,
        BATCH
    )
    .fetch_all(&state.pool)
    .await
}

/// The running reconciler.
pub struct Reconciler(Background);

impl Reconciler {
    /// Starts the reconciler, or says that it is off (`RECONCILE_INTERVAL_MS=0`) and returns `None`.
    pub fn start(state: AppState) -> Option<Reconciler> {
        if state.config.reconciler.interval_ms == 0 {
            tracing::warn!(
                "RECONCILE_INTERVAL_MS=0: the charge reconciler is off; pending charges wait for webhooks and retries"
            );
            return None;
        }
        Some(Reconciler(Background::spawn("charge reconciler", |stop| run(state, stop))))
    }

    /// Asks the reconciler to stop and waits until it has (a round in progress finishes).
    pub async fn stop(self) {
        self.0.stop().await;
    }
}

async fn run(state: AppState, mut stop: Stop) {
    let interval = Duration::from_millis(state.config.reconciler.interval_ms);
    tracing::info!(?interval, after_ms = state.config.reconciler.after_ms, "charge reconciler started");
    loop {
        loop {
            match reconcile_due(&state).await {
                Ok(report) if report.claimed as i64 >= BATCH && !stop.requested() => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "reconciler round failed; trying again at the next interval");
                    break;
                }
            }
        }
        if stop.pause(interval).await {
            break;
        }
    }
    tracing::info!("charge reconciler stopped");
}
