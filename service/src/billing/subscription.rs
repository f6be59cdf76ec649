//! The Pro subscription: `POST /api/v1/billing/subscription` and
//! `DELETE /api/v1/billing/subscription?at_period_end=true|false`.
//!
//! Subscribing creates a Stripe subscription on the Pro price with the default payment
//! method. Credits are not granted here: 60 arrive with each paid invoice, through the
//! `invoice.paid` webhook. Cancelling immediately downgrades to pay-as-you-go at once;
//! cancelling at period end keeps Pro until Stripe says the subscription is deleted.
//!
//! Both converge on Stripe's state rather than on the stored copy, which can be behind (a
//! subscription cancelled from the Dashboard whose event is late or lost, a concurrent cancel):
//! when Stripe refuses a cancellation, or does not answer, the subscription is fetched, and if
//! Stripe has ended it (or has no such subscription), it is stored as ended, the customer is
//! downgraded, and the cancel answers 200 — as does a cancel of a subscription already ended
//! here. Subscribing while a live subscription is stored asks Stripe the same way before
//! answering 409, so an ended one does not block a new one.

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{BillingProfile, set_plan};
use crate::domain::{CustomerId, Plan};
use crate::error::ApiError;
use crate::ledger;
use crate::state::AppState;
use crate::stripe::{Form, StripeError, StripeSubscription, path_segment};

/// Statuses in which a subscription counts as the customer's live one: it can be cancelled,
/// and the customer cannot start another beside it.
pub const LIVE_STATUSES: [&str; 4] = ["active", "past_due", "trialing", "unpaid"];

/// Statuses of a live subscription that give Pro pricing ($15 a fix beyond the credits).
///
/// `past_due` keeps Pro: Stripe is still collecting the renewal (its retries; the usage summary
/// warns `payment_failed`), and nothing was granted for the unpaid invoice, so the customer only
/// keeps the cheaper rate for fixes it pays for one by one. `unpaid` does not: Stripe has stopped
/// trying, so fixes beyond the credits cost the pay-as-you-go $29 until an invoice is paid (the
/// subscription is `active` again, and Pro with it). `incomplete` never was Pro.
pub const PRO_PRICED_STATUSES: [&str; 3] = ["active", "past_due", "trialing"];

/// Whether a subscription in `status` gives its customer Pro pricing.
pub fn gives_pro_pricing(status: &str) -> bool {
    PRO_PRICED_STATUSES.contains(&status)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub stripe_subscription_id: String,
    pub status: String,
    pub cancel_at_period_end: bool,
    pub current_period_end: Option<DateTime<Utc>>,
    pub plan: Plan,
    pub note: String,
}

/// The customer's live subscription: (stripe id, status, cancel_at_period_end, period end).
pub async fn live_subscription(
    conn: &mut PgConnection,
    customer: CustomerId,
) -> Result<Option<(String, String, bool, Option<DateTime<Utc>>)>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT stripe_subscription_id, status, cancel_at_period_end, current_period_end FROM subscriptions
         WHERE customer_id = $1 AND status = ANY($2) ORDER BY created_at DESC LIMIT 1",
        customer.0,
        &LIVE_STATUSES[..] as _
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| (row.stripe_subscription_id, row.status, row.cancel_at_period_end, row.current_period_end)))
}

pub fn from_unix(seconds: Option<i64>) -> Option<DateTime<Utc>> {
    seconds.and_then(|s| Utc.timestamp_opt(s, 0).single())
}

/// Subscribes the customer to Pro ($599 a month; 60 credits with each paid invoice, granted by
/// the webhook). Says whether Stripe made the subscription now (rather than replaying one a
/// retried request made).
pub async fn subscribe_to_pro(state: &AppState, customer: CustomerId) -> Result<(bool, SubscriptionView), ApiError> {
    let (profile, earlier) = ready_to_subscribe(state, customer).await?;

    let price = state.pro_price.id(&state.stripe).await?;
    let form = Form::new()
        .set("customer", &profile.stripe_customer_id)
        .set("items[0][price]", &price)
        // No `default_payment_method` on the subscription: renewals then charge the customer's
        // default, so a card changed later (POST /billing/payment-method) is the one used.
        .set("expand[0]", "latest_invoice")
        .metadata("customer_id", customer);
    // Same customer, same count of earlier subscriptions → same key: a retry replays.
    let key = format!("subscribe-{}-{earlier}", customer);
    let (subscription, replayed): (StripeSubscription, bool) =
        state.stripe.post_noting_replay("/v1/subscriptions", form, &key).await?;

    let (_, plan) = record_subscription(state, customer, &subscription, profile.plan).await?;
    if !gives_pro_pricing(&subscription.status) {
        return Err(ApiError::PaymentRequired {
            code: "subscription_payment_failed",
            message: format!(
                "the first payment for Pro failed (subscription {} is `{}`): add another payment method with POST /api/v1/billing/payment-method and subscribe again",
                subscription.id, subscription.status
            ),
        });
    }
    // Whether Stripe made it now, not whether the row is new here: Stripe's `customer.subscription.created` can
    // store it before this request does (issue 19: a first subscription was answered 200 on a busy machine).
    tracing::info!(customer = %customer, subscription = %subscription.id, "subscribed to Pro");
    Ok((
        !replayed,
        SubscriptionView {
            stripe_subscription_id: subscription.id.clone(),
            status: subscription.status.clone(),
            cancel_at_period_end: subscription.cancel_at_period_end,
            current_period_end: from_unix(subscription.period_end()),
            plan,
            note: "60 credits are granted when each invoice is paid".into(),
        },
    ))
}

/// Whether `customer` may subscribe: no live subscription (one stored here is first checked
/// with Stripe, where it may have ended) and a default payment method. Returns the billing
/// profile and how many subscriptions the customer had before (part of Stripe's idempotency key).
async fn ready_to_subscribe(state: &AppState, customer: CustomerId) -> Result<(BillingProfile, i64), ApiError> {
    // A live subscription stored here may have ended in Stripe already: ask before refusing.
    let stored = live_subscription(&mut *state.pool.acquire().await?, customer).await?;
    if let Some((subscription_id, ..)) = stored {
        converge_on_stripe(state, customer, &subscription_id).await?;
    }
    let mut tx = state.pool.begin().await?;
    ledger::lock_customer(&mut tx, customer).await?;
    if live_subscription(&mut tx, customer).await?.is_some() {
        return Err(ApiError::Conflict {
            code: "already_subscribed",
            message: "this customer already has a Pro subscription: see GET /api/v1/usage; cancel it with DELETE /api/v1/billing/subscription".into(),
        });
    }
    let profile = BillingProfile::load(&mut tx, customer).await?;
    let earlier =
        sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM subscriptions WHERE customer_id = $1"#, customer.0)
            .fetch_one(&mut *tx)
            .await?;
    tx.rollback().await?;
    if profile.default_payment_method.is_none() {
        return Err(ApiError::PaymentRequired {
            code: "payment_method_required",
            message: "Pro needs a payment method: add one with POST /api/v1/billing/payment-method (with \"billing_consent\": true) first".into(),
        });
    }
    Ok((profile, earlier))
}

/// Stores a subscription Stripe made (once: a retry finds it stored) and, when it gives Pro
/// pricing, puts the customer on Pro. Returns whether it was new here (a webhook may have stored it first) and the
/// customer's plan.
async fn record_subscription(
    state: &AppState,
    customer: CustomerId,
    subscription: &StripeSubscription,
    plan_before: Plan,
) -> Result<(bool, Plan), ApiError> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    ledger::lock_customer(&mut tx, customer).await?;
    let inserted = sqlx::query!(
        "INSERT INTO subscriptions (id, customer_id, stripe_subscription_id, status, cancel_at_period_end, current_period_end, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (stripe_subscription_id) DO NOTHING",
        Uuid::new_v4(),
        customer.0,
        &subscription.id,
        &subscription.status,
        subscription.cancel_at_period_end,
        from_unix(subscription.period_end()),
        now
    )
    .execute(&mut *tx)
    .await?;
    let plan = if gives_pro_pricing(&subscription.status) {
        set_plan(&mut tx, customer, Plan::Pro).await?;
        Plan::Pro
    } else {
        plan_before
    };
    tx.commit().await?;
    Ok((inserted.rows_affected() == 1, plan))
}

/// Cancels the customer's Pro subscription: at once (pay-as-you-go from now), or, with
/// `at_period_end`, when the period ends. Converges on Stripe's state: a subscription Stripe
/// already ended is stored as ended and answered as such; 404 when there never was one.
pub async fn cancel(state: &AppState, customer: CustomerId, at_period_end: bool) -> Result<SubscriptionView, ApiError> {
    let live = live_subscription(&mut *state.pool.acquire().await?, customer).await?;
    let Some((subscription_id, _, _, _)) = live else {
        // Nothing live here. When the latest subscription has ended, the cancellation is done:
        // a retried cancel, or one of several sent at once, is told so.
        let latest = latest_subscription(&mut *state.pool.acquire().await?, customer).await?;
        return match latest {
            Some((subscription_id, status, cancel_at_period_end, period_end)) if status == "canceled" => {
                let plan = BillingProfile::load(&mut *state.pool.acquire().await?, customer).await?.plan;
                Ok(ended_view(subscription_id, cancel_at_period_end, period_end, plan))
            }
            _ => Err(ApiError::NotFound("this customer has no live subscription to cancel".into())),
        };
    };

    let path = format!("/v1/subscriptions/{}", path_segment(&subscription_id));
    let asked: Result<StripeSubscription, StripeError> = if at_period_end {
        let form = Form::new().set("cancel_at_period_end", "true");
        state.stripe.post(&path, form, &format!("cancel-at-period-end-{subscription_id}")).await
    } else {
        state.stripe.delete(&path).await
    };
    let subscription = match asked {
        Ok(subscription) => Some(subscription),
        // Refused (already canceled, say) or unanswered: what Stripe has now decides.
        Err(error) => match fetch_subscription(state, &subscription_id).await {
            Ok(Some(current)) if current.status == "canceled" => Some(current),
            Ok(Some(current)) if at_period_end && current.cancel_at_period_end => Some(current),
            // Stripe has no such subscription: nothing bills the customer for it.
            Ok(None) => None,
            _ => return Err(error.into()),
        },
    };

    let now = state.clock.now();
    match subscription {
        Some(subscription) if subscription.status != "canceled" && at_period_end => {
            sqlx::query!(
                "UPDATE subscriptions SET cancel_at_period_end = true, updated_at = $2 WHERE stripe_subscription_id = $1",
                &subscription_id,
                now
            )
            .execute(&state.pool)
            .await?;
            tracing::info!(customer = %customer, subscription = %subscription_id, "Pro cancelled at period end");
            Ok(SubscriptionView {
                stripe_subscription_id: subscription_id,
                status: subscription.status.clone(),
                cancel_at_period_end: true,
                current_period_end: from_unix(subscription.period_end()),
                plan: Plan::Pro,
                note: "Pro pricing stays until the period ends, then pay-as-you-go".into(),
            })
        }
        Some(subscription) if subscription.status != "canceled" => Err(ApiError::Internal(format!(
            "Stripe answered the cancellation of {subscription_id} with status `{}`",
            subscription.status
        ))),
        ended => {
            let plan = end_subscription(state, customer, &subscription_id, now).await?;
            tracing::info!(customer = %customer, subscription = %subscription_id, "Pro cancelled now");
            let (cancel_at_period_end, period_end) =
                ended.map_or((false, None), |ended| (ended.cancel_at_period_end, from_unix(ended.period_end())));
            Ok(ended_view(subscription_id, cancel_at_period_end, period_end, plan))
        }
    }
}

/// What a cancel answers for a subscription that has ended.
fn ended_view(
    stripe_subscription_id: String,
    cancel_at_period_end: bool,
    current_period_end: Option<DateTime<Utc>>,
    plan: Plan,
) -> SubscriptionView {
    SubscriptionView {
        stripe_subscription_id,
        status: "canceled".into(),
        cancel_at_period_end,
        current_period_end,
        plan,
        note: "cancelled: fixes beyond the credits are charged at the pay-as-you-go rate".into(),
    }
}

/// A subscription as Stripe has it now; `None` when Stripe has no such subscription.
async fn fetch_subscription(state: &AppState, id: &str) -> Result<Option<StripeSubscription>, StripeError> {
    match state.stripe.get(&format!("/v1/subscriptions/{}", path_segment(id))).await {
        Ok(subscription) => Ok(Some(subscription)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

/// Asks Stripe about a subscription stored as live and, when Stripe has ended it (or has none),
/// stores it as ended and downgrades the customer. A Stripe that cannot answer is an error.
async fn converge_on_stripe(state: &AppState, customer: CustomerId, subscription_id: &str) -> Result<(), ApiError> {
    match fetch_subscription(state, subscription_id).await? {
        Some(current) if current.status != "canceled" => Ok(()),
        _ => {
            let plan = end_subscription(state, customer, subscription_id, state.clock.now()).await?;
            tracing::info!(%customer, subscription = subscription_id, plan = plan.as_str(), "a subscription Stripe had ended is stored as ended");
            Ok(())
        }
    }
}

/// Stores a subscription as canceled and moves the customer off Pro, in one transaction.
async fn end_subscription(
    state: &AppState,
    customer: CustomerId,
    subscription_id: &str,
    now: DateTime<Utc>,
) -> Result<Plan, ApiError> {
    let mut tx = state.pool.begin().await?;
    ledger::lock_customer(&mut tx, customer).await?;
    mark_canceled(&mut tx, subscription_id, now).await?;
    let plan = downgrade_after_pro(&mut tx, customer).await?;
    tx.commit().await?;
    Ok(plan)
}

/// The customer's most recent subscription, live or not: (stripe id, status,
/// cancel_at_period_end, period end).
async fn latest_subscription(
    conn: &mut PgConnection,
    customer: CustomerId,
) -> Result<Option<(String, String, bool, Option<DateTime<Utc>>)>, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT stripe_subscription_id, status, cancel_at_period_end, current_period_end FROM subscriptions
         WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 1",
        customer.0
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| (row.stripe_subscription_id, row.status, row.cancel_at_period_end, row.current_period_end)))
}

/// Marks a subscription canceled (terminal: nothing moves it back).
pub async fn mark_canceled(
    conn: &mut PgConnection,
    stripe_subscription_id: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE subscriptions SET status = 'canceled', updated_at = $2 WHERE stripe_subscription_id = $1",
        stripe_subscription_id,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// After Pro ends (or stops giving Pro pricing, see [`PRO_PRICED_STATUSES`]): pay-as-you-go
/// with a payment method on file, else back to trial pricing. A customer who still has another
/// subscription with Pro pricing stays Pro.
pub async fn downgrade_after_pro(conn: &mut PgConnection, customer: CustomerId) -> Result<Plan, ApiError> {
    let still_pro = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM subscriptions WHERE customer_id = $1 AND status = ANY($2)) AS "pro!""#,
        customer.0,
        &PRO_PRICED_STATUSES[..] as _
    )
    .fetch_one(&mut *conn)
    .await?;
    if still_pro {
        set_plan(conn, customer, Plan::Pro).await?;
        return Ok(Plan::Pro);
    }
    let profile = BillingProfile::load(conn, customer).await?;
    let plan = if profile.default_payment_method.is_some() { Plan::PayAsYouGo } else { Plan::Trial };
    set_plan(conn, customer, plan).await?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_due_keeps_pro_pricing_and_unpaid_does_not() {
        for pro in ["active", "trialing", "past_due"] {
            assert!(gives_pro_pricing(pro), "{pro}");
        }
        for not_pro in ["unpaid", "incomplete", "incomplete_expired", "canceled", "paused"] {
            assert!(!gives_pro_pricing(not_pro), "{not_pro}");
        }
        assert!(PRO_PRICED_STATUSES.iter().all(|status| LIVE_STATUSES.contains(status)));
    }
}
