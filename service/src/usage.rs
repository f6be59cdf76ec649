//! The usage summary (`GET /api/v1/usage`).
//!
//! Balance, plan, the price of a fix beyond the credits, the newest ledger entries (paginated
//! with `limit` and `before`), and warnings a dashboard can show as they are.

use serde::Serialize;

use crate::billing::subscription::live_subscription;
use crate::domain::{Cents, CustomerId, Plan};
use crate::error::ApiError;
use crate::ledger::{self, LedgerEntry};
use crate::pricing::fix_price;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Warning {
    /// `low_credits`, `critical` (nothing can pay for the next fix) or `payment_failed`.
    #[schema(value_type = String, example = "low_credits")]
    pub code: &'static str,
    pub message: String,
}

/// The customer's live Pro subscription, as far as the service knows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionState {
    pub stripe_subscription_id: String,
    pub status: String,
    pub cancel_at_period_end: bool,
    pub current_period_end: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageSummary {
    pub customer_id: CustomerId,
    pub email: String,
    pub source: String,
    pub plan: Plan,
    pub credit_balance: i32,
    pub per_fix_rate_cents: Cents,
    pub has_payment_method: bool,
    pub subscription: Option<SubscriptionState>,
    pub transactions: Vec<LedgerEntry>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
    pub warnings: Vec<Warning>,
}

/// Ledger entries on a page when the client does not say.
pub const DEFAULT_PAGE: i64 = 50;
/// Most ledger entries on a page.
pub const MAX_PAGE: i64 = 200;

/// The customer's balance, plan, per-fix rate, subscription, `limit` ledger entries (older than
/// entry `before`, if given) and warnings.
pub async fn summary(
    state: &AppState,
    customer: CustomerId,
    limit: i64,
    before: Option<i64>,
) -> Result<UsageSummary, ApiError> {
    // One snapshot for every read: in autocommit each statement saw its own moment, so a summary
    // read while a subscription event committed could show the plan of one moment and the
    // subscription's status of another (`unpaid` with plan `pro`, seen by the unpaid journey).
    let mut conn = state.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
    let row = sqlx::query!(
        r#"SELECT email, source, plan AS "plan: Plan", default_payment_method IS NOT NULL AS "has_payment_method!"
           FROM customers WHERE id = $1"#,
        customer.0
    )
    .fetch_one(&mut *conn)
    .await?;
    let plan = row.plan;
    let balance = ledger::balance(&mut conn, customer).await?;
    let transactions = ledger::entries(&mut conn, customer, limit + 1, before).await?;
    let has_more = transactions.len() as i64 > limit;
    let transactions: Vec<LedgerEntry> = transactions.into_iter().take(limit as usize).collect();
    let has_payment_method = row.has_payment_method;
    let subscription = live_subscription(&mut conn, customer).await?.map(
        |(stripe_subscription_id, status, cancel_at_period_end, current_period_end)| SubscriptionState {
            stripe_subscription_id,
            status,
            cancel_at_period_end,
            current_period_end,
        },
    );
    conn.commit().await?;
    let mut warnings = warnings(balance, has_payment_method, state.config.usage.low_credit_threshold);
    if subscription.as_ref().is_some_and(|s| s.status == "past_due") {
        warnings.push(Warning {
            code: "payment_failed",
            message: "the last Pro renewal payment failed and the subscription is past due: update the payment method with POST /api/v1/billing/payment-method".into(),
        });
    }
    Ok(UsageSummary {
        customer_id: customer,
        email: row.email,
        source: row.source,
        plan,
        credit_balance: balance,
        per_fix_rate_cents: fix_price(plan),
        has_payment_method,
        subscription,
        next_before: if has_more { transactions.last().map(|entry| entry.id) } else { None },
        transactions,
        warnings,
    })
}

/// `critical` when nothing can pay for the next fix; `low_credits` when the balance is at or
/// below the threshold.
pub fn warnings(balance: i32, has_payment_method: bool, low_threshold: i32) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if balance == 0 && !has_payment_method {
        warnings.push(Warning {
            code: "critical",
            message: "no credits left and no payment method: fixes are refused until you add a payment method or subscribe to Pro".into(),
        });
    } else if balance <= low_threshold {
        warnings.push(Warning { code: "low_credits", message: format!("{balance} credit(s) left") });
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_follow_the_balance_and_the_payment_method() {
        let codes = |b, pm| warnings(b, pm, 2).iter().map(|w| w.code).collect::<Vec<_>>();
        assert_eq!(codes(5, false), Vec::<&str>::new());
        assert_eq!(codes(2, false), ["low_credits"]);
        assert_eq!(codes(0, false), ["critical"]);
        assert_eq!(codes(0, true), ["low_credits"]);
        assert_eq!(codes(3, true), Vec::<&str>::new());
    }
}
