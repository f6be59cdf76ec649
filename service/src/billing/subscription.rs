//! The Pro subscription: `POST /api/v1/billing/subscription` and
//! `DELETE /api/v1/billing/subscription?at_period_end=true|false`.
//!
//! Subscribing creates a Stripe subscription on the Pro price with the default payment
//! method. Credits are not granted here: 60 arrive with each paid invoice, through the
//! `invoice.paid` webhook. Cancelling immediately downgrades to pay-as-you-go at once;
//! cancelling at period end keeps Pro until Stripe says the subscription is deleted.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::pro_price::pro_price_id;
use super::{BillingProfile, set_plan};
use crate::api_keys::Authenticated;
use crate::app::AppState;
use crate::domain::{CustomerId, Plan};
use crate::error::{ApiError, ErrorBody};
use crate::ledger;
use crate::openapi::bodies::{JsonBodyRejections, SubscriptionRequest};
use crate::openapi::{PaymentProviderFailed, ValidationFailed};
use crate::request::{Fields, JsonObject, StrictQuery};
use crate::stripe::{Form, StripeSubscription, path_segment};
use utoipa::IntoParams;

/// Statuses in which a subscription counts as the customer's live one.
pub const LIVE_STATUSES: [&str; 4] = ["active", "past_due", "trialing", "unpaid"];

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

/// Subscribes to Pro ($599 a month; 60 credits with each paid invoice, granted by the webhook).
#[utoipa::path(
    post,
    path = "/api/v1/billing/subscription",
    tag = "billing",
    request_body = SubscriptionRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Subscribed: the plan is Pro", body = SubscriptionView),
        (status = 200, description = "A retry that Stripe answered with the subscription already made", body = SubscriptionView),
        (status = 402, description = "No payment method (`payment_method_required`), or the first payment failed (`subscription_payment_failed`, `card_declined`)", body = ErrorBody),
        (status = 409, description = "Already subscribed (`already_subscribed`)", body = ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 502, response = PaymentProviderFailed),
        JsonBodyRejections,
    ),
)]
pub async fn subscribe(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonObject,
) -> Result<(StatusCode, Json<SubscriptionView>), ApiError> {
    let mut fields = Fields::new(body);
    let plan = fields.required_str("plan");
    if plan.as_deref().is_some_and(|plan| plan != "pro") {
        fields.error("plan", "must be \"pro\", the only plan with a subscription");
    }
    fields.finish()?;

    let mut tx = state.pool.begin().await?;
    ledger::lock_customer(&mut tx, auth.customer).await?;
    if live_subscription(&mut tx, auth.customer).await?.is_some() {
        return Err(ApiError::Conflict {
            code: "already_subscribed",
            message: "this customer already has a Pro subscription: see GET /api/v1/usage; cancel it with DELETE /api/v1/billing/subscription".into(),
        });
    }
    let profile = BillingProfile::load(&mut tx, auth.customer).await?;
    let earlier = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM subscriptions WHERE customer_id = $1"#,
        auth.customer.0
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.rollback().await?;
    if profile.default_payment_method.is_none() {
        return Err(ApiError::PaymentRequired {
            code: "payment_method_required",
            message: "Pro needs a payment method: add one with POST /api/v1/billing/payment-method (with \"billing_consent\": true) first".into(),
        });
    };

    let price = pro_price_id(&state).await?;
    let form = Form::new()
        .set("customer", &profile.stripe_customer_id)
        .set("items[0][price]", &price)
        // No `default_payment_method` on the subscription: renewals then charge the customer's
        // default, so a card changed later (POST /billing/payment-method) is the one used.
        .set("expand[0]", "latest_invoice")
        .metadata("customer_id", auth.customer);
    // Same customer, same count of earlier subscriptions → same key: a retry replays.
    let key = format!("subscribe-{}-{earlier}", auth.customer);
    let subscription: StripeSubscription = state.stripe.post("/v1/subscriptions", form, &key).await?;

    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    ledger::lock_customer(&mut tx, auth.customer).await?;
    let inserted = sqlx::query!(
        "INSERT INTO subscriptions (id, customer_id, stripe_subscription_id, status, cancel_at_period_end, current_period_end, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (stripe_subscription_id) DO NOTHING",
        Uuid::new_v4(),
        auth.customer.0,
        &subscription.id,
        &subscription.status,
        subscription.cancel_at_period_end,
        from_unix(subscription.period_end()),
        now
    )
    .execute(&mut *tx)
    .await?;
    let active = LIVE_STATUSES.contains(&subscription.status.as_str());
    let plan = if active {
        set_plan(&mut tx, auth.customer, Plan::Pro).await?;
        Plan::Pro
    } else {
        profile.plan
    };
    tx.commit().await?;

    if !active {
        return Err(ApiError::PaymentRequired {
            code: "subscription_payment_failed",
            message: format!(
                "the first payment for Pro failed (subscription {} is `{}`): add another payment method with POST /api/v1/billing/payment-method and subscribe again",
                subscription.id, subscription.status
            ),
        });
    }
    let status = if inserted.rows_affected() == 1 { StatusCode::CREATED } else { StatusCode::OK };
    tracing::info!(customer = %auth.customer, subscription = %subscription.id, "subscribed to Pro");
    Ok((
        status,
        Json(SubscriptionView {
            stripe_subscription_id: subscription.id.clone(),
            status: subscription.status.clone(),
            cancel_at_period_end: subscription.cancel_at_period_end,
            current_period_end: from_unix(subscription.period_end()),
            plan,
            note: "60 credits are granted when each invoice is paid".into(),
        }),
    ))
}

/// The query string of `DELETE /api/v1/billing/subscription` (any other parameter, or one
/// given twice, is 422).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelQuery {
    /// `true`: Pro until the period ends; `false` (the default): pay-as-you-go at once.
    #[param(nullable = false)]
    pub at_period_end: Option<bool>,
}

/// Cancels Pro, at once or at the end of the period.
#[utoipa::path(
    delete,
    path = "/api/v1/billing/subscription",
    tag = "billing",
    params(CancelQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Cancelled", body = SubscriptionView),
        (status = 404, description = "No live subscription to cancel (`not_found`)", body = ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 502, response = PaymentProviderFailed),
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Authenticated,
    uri: Uri,
) -> Result<Json<SubscriptionView>, ApiError> {
    let at_period_end = StrictQuery::parse(uri.query(), &["at_period_end"])?.bool("at_period_end", false)?;
    let live = live_subscription(&mut *state.pool.acquire().await?, auth.customer).await?;
    let Some((subscription_id, _, _, _)) = live else {
        return Err(ApiError::NotFound("this customer has no live subscription to cancel".into()));
    };

    let now = state.clock.now();
    if at_period_end {
        let form = Form::new().set("cancel_at_period_end", "true");
        let key = format!("cancel-at-period-end-{subscription_id}");
        let updated: StripeSubscription =
            state.stripe.post(&format!("/v1/subscriptions/{}", path_segment(&subscription_id)), form, &key).await?;
        sqlx::query!(
            "UPDATE subscriptions SET cancel_at_period_end = true, updated_at = $2 WHERE stripe_subscription_id = $1",
            &subscription_id,
            now
        )
        .execute(&state.pool)
        .await?;
        tracing::info!(customer = %auth.customer, subscription = %subscription_id, "Pro cancelled at period end");
        return Ok(Json(SubscriptionView {
            stripe_subscription_id: subscription_id,
            status: updated.status.clone(),
            cancel_at_period_end: true,
            current_period_end: from_unix(updated.period_end()),
            plan: Plan::Pro,
            note: "Pro pricing stays until the period ends, then pay-as-you-go".into(),
        }));
    }

    let cancelled: StripeSubscription =
        state.stripe.delete(&format!("/v1/subscriptions/{}", path_segment(&subscription_id))).await?;
    let mut tx = state.pool.begin().await?;
    ledger::lock_customer(&mut tx, auth.customer).await?;
    mark_canceled(&mut tx, &subscription_id, now).await?;
    let plan = downgrade_after_pro(&mut tx, auth.customer).await?;
    tx.commit().await?;
    tracing::info!(customer = %auth.customer, subscription = %subscription_id, "Pro cancelled now");
    Ok(Json(SubscriptionView {
        stripe_subscription_id: subscription_id,
        status: cancelled.status.clone(),
        cancel_at_period_end: false,
        current_period_end: from_unix(cancelled.period_end()),
        plan,
        note: "cancelled now: fixes beyond the credits are charged at the pay-as-you-go rate".into(),
    }))
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

/// After Pro ends: pay-as-you-go with a payment method on file, else back to trial pricing.
/// A customer who still has another live subscription stays Pro.
pub async fn downgrade_after_pro(conn: &mut PgConnection, customer: CustomerId) -> Result<Plan, ApiError> {
    if live_subscription(conn, customer).await?.is_some() {
        return Ok(Plan::Pro);
    }
    let profile = BillingProfile::load(conn, customer).await?;
    let plan = if profile.default_payment_method.is_some() { Plan::PayAsYouGo } else { Plan::Trial };
    set_plan(conn, customer, plan).await?;
    Ok(plan)
}
