//! What each Stripe event does to the service's state.
//!
//! Every handler runs inside the transaction that records the event id, and is written to be
//! safe in any order: a Pro grant is keyed by invoice (so `invoice.paid` and
//! `invoice.payment_succeeded` for one invoice grant once), subscription updates older than
//! the newest one applied are skipped, and a canceled subscription never comes back to life.

use serde_json::Value;
use sqlx::{PgConnection, Row};

use crate::app::AppState;
use crate::billing::set_plan;
use crate::billing::subscription::{LIVE_STATUSES, downgrade_after_pro, from_unix, mark_canceled};
use crate::domain::{CustomerId, Plan};
use crate::error::ApiError;
use crate::ledger::{self, CreditSource};

/// Credits granted for each paid Pro invoice.
pub const PRO_CREDITS_PER_INVOICE: i32 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Ignored(String),
}

/// The parts of an event every handler needs.
#[derive(Debug, Clone)]
pub struct StripeEvent {
    pub id: String,
    pub kind: String,
    pub created: i64,
    pub object: Value,
}

impl StripeEvent {
    pub fn parse(event: &Value) -> Result<StripeEvent, ApiError> {
        let text = |key: &str| event[key].as_str().map(str::to_string);
        match (text("id"), text("type"), event["created"].as_i64(), event["data"]["object"].is_object()) {
            (Some(id), Some(kind), Some(created), true) if id.starts_with("evt_") => {
                Ok(StripeEvent { id, kind, created, object: event["data"]["object"].clone() })
            }
            _ => Err(ApiError::MalformedJson(
                "not a Stripe event: expected `id` (evt_…), `type`, `created` and `data.object`".into(),
            )),
        }
    }
}

/// An id field that may be a plain id or an expanded object.
fn id_of(value: &Value) -> Option<&str> {
    value.as_str().or_else(|| value["id"].as_str())
}

/// The subscription an invoice belongs to, wherever the API version puts it.
fn invoice_subscription(invoice: &Value) -> Option<&str> {
    id_of(&invoice["subscription"]).or_else(|| id_of(&invoice["parent"]["subscription_details"]["subscription"]))
}

pub async fn apply(state: &AppState, event: &StripeEvent) -> Result<Outcome, ApiError> {
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let first_time = sqlx::query(
        "INSERT INTO stripe_events (event_id, type, outcome, received_at) VALUES ($1, $2, 'pending', $3)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !first_time {
        return Ok(Outcome::Duplicate);
    }
    let outcome = match event.kind.as_str() {
        "invoice.paid" | "invoice.payment_succeeded" => grant_pro_credits_for_invoice(state, &mut tx, event).await?,
        "invoice.payment_failed" => mark_subscription_past_due(&mut tx, event).await?,
        "customer.subscription.created" | "customer.subscription.updated" => sync_subscription(&mut tx, event).await?,
        "customer.subscription.deleted" => end_subscription(&mut tx, event).await?,
        "payment_intent.succeeded" | "payment_intent.payment_failed" => {
            // Charges are recorded when they are made (see billing::charges); the event is
            // kept as a receipt.
            Outcome::Applied
        }
        other => Outcome::Ignored(format!("event type {other} is not handled")),
    };
    let label = match &outcome {
        Outcome::Applied => "applied",
        Outcome::Duplicate => "duplicate",
        Outcome::Ignored(_) => "ignored",
    };
    sqlx::query("UPDATE stripe_events SET outcome = $2 WHERE event_id = $1")
        .bind(&event.id)
        .bind(label)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(outcome)
}

async fn customer_for(
    conn: &mut PgConnection,
    stripe_customer: Option<&str>,
) -> Result<Option<CustomerId>, sqlx::Error> {
    let Some(stripe_customer) = stripe_customer else { return Ok(None) };
    let id: Option<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM customers WHERE stripe_customer_id = $1")
        .bind(stripe_customer)
        .fetch_optional(conn)
        .await?;
    Ok(id.map(CustomerId))
}

/// 60 credits per paid subscription invoice, once per invoice.
async fn grant_pro_credits_for_invoice(
    state: &AppState,
    conn: &mut PgConnection,
    event: &StripeEvent,
) -> Result<Outcome, ApiError> {
    let invoice = &event.object;
    let Some(customer) = customer_for(conn, id_of(&invoice["customer"])).await? else {
        return Ok(Outcome::Ignored("the invoice's customer is not ours".into()));
    };
    let (Some(invoice_id), Some(subscription)) = (invoice["id"].as_str(), invoice_subscription(invoice)) else {
        return Ok(Outcome::Ignored("not a subscription invoice".into()));
    };
    if invoice["status"].as_str().is_some_and(|status| status != "paid") {
        return Ok(Outcome::Ignored(format!("invoice {invoice_id} is not paid")));
    }
    ledger::lock_customer(conn, customer).await?;
    let already: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM ledger_entries WHERE customer_id = $1 AND source = $2 AND reference = $3)",
    )
    .bind(customer.0)
    .bind(CreditSource::ProInvoice.as_str())
    .bind(invoice_id)
    .fetch_one(&mut *conn)
    .await?;
    if already {
        return Ok(Outcome::Ignored(format!("invoice {invoice_id} already granted its credits")));
    }
    ledger::append(
        conn,
        customer,
        PRO_CREDITS_PER_INVOICE,
        CreditSource::ProInvoice,
        Some(invoice_id),
        state.clock.now(),
    )
    .await
    .map_err(|err| ApiError::Internal(err.to_string()))?;
    state.metrics.credits_granted(CreditSource::ProInvoice, PRO_CREDITS_PER_INVOICE);
    // A paid invoice brings a past-due subscription back to active.
    sqlx::query("UPDATE subscriptions SET status = 'active' WHERE stripe_subscription_id = $1 AND status = 'past_due'")
        .bind(subscription)
        .execute(&mut *conn)
        .await?;
    tracing::info!(customer = %customer, invoice = invoice_id, credits = PRO_CREDITS_PER_INVOICE, "Pro credits granted");
    Ok(Outcome::Applied)
}

async fn mark_subscription_past_due(conn: &mut PgConnection, event: &StripeEvent) -> Result<Outcome, ApiError> {
    let invoice = &event.object;
    let Some(subscription) = invoice_subscription(invoice) else {
        return Ok(Outcome::Ignored("not a subscription invoice".into()));
    };
    let updated = sqlx::query(
        "UPDATE subscriptions SET status = 'past_due', last_event_at = greatest(last_event_at, $2)
         WHERE stripe_subscription_id = $1 AND status <> 'canceled'",
    )
    .bind(subscription)
    .bind(event.created)
    .execute(conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(Outcome::Ignored(format!("subscription {subscription} is unknown or canceled")));
    }
    tracing::warn!(subscription, "Pro renewal payment failed: subscription past due");
    Ok(Outcome::Applied)
}

/// Brings the stored subscription in line with Stripe's, unless this event is older than the
/// last one applied.
async fn sync_subscription(conn: &mut PgConnection, event: &StripeEvent) -> Result<Outcome, ApiError> {
    let subscription = &event.object;
    let Some(subscription_id) = subscription["id"].as_str() else {
        return Ok(Outcome::Ignored("subscription without id".into()));
    };
    let Some(customer) = customer_for(conn, id_of(&subscription["customer"])).await? else {
        return Ok(Outcome::Ignored("the subscription's customer is not ours".into()));
    };
    ledger::lock_customer(conn, customer).await?;
    let status = subscription["status"].as_str().unwrap_or("incomplete");
    let period_end = from_unix(
        subscription["current_period_end"]
            .as_i64()
            .or_else(|| subscription["items"]["data"][0]["current_period_end"].as_i64()),
    );
    let cancel_at_period_end = subscription["cancel_at_period_end"].as_bool().unwrap_or(false);
    if status == "canceled" {
        mark_canceled(conn, subscription_id, chrono::Utc::now()).await?;
        downgrade_after_pro(conn, customer).await?;
        return Ok(Outcome::Applied);
    }
    let existing = sqlx::query("SELECT status, last_event_at FROM subscriptions WHERE stripe_subscription_id = $1")
        .bind(subscription_id)
        .fetch_optional(&mut *conn)
        .await?;
    match existing {
        Some(row) => {
            let stored_status: String = row.try_get("status")?;
            let last_event_at: i64 = row.try_get("last_event_at")?;
            if stored_status == "canceled" {
                return Ok(Outcome::Ignored(format!("subscription {subscription_id} is already canceled")));
            }
            if event.created < last_event_at {
                return Ok(Outcome::Ignored(format!("older than the last event applied to {subscription_id}")));
            }
            sqlx::query(
                "UPDATE subscriptions SET status = $2, cancel_at_period_end = $3, current_period_end = $4, last_event_at = $5, updated_at = now()
                 WHERE stripe_subscription_id = $1",
            )
            .bind(subscription_id)
            .bind(status)
            .bind(cancel_at_period_end)
            .bind(period_end)
            .bind(event.created)
            .execute(&mut *conn)
            .await?;
        }
        None => {
            // The webhook can beat the API call that created the subscription.
            sqlx::query(
                "INSERT INTO subscriptions (id, customer_id, stripe_subscription_id, status, cancel_at_period_end, current_period_end, last_event_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now()) ON CONFLICT DO NOTHING",
            )
            .bind(uuid::Uuid::new_v4())
            .bind(customer.0)
            .bind(subscription_id)
            .bind(status)
            .bind(cancel_at_period_end)
            .bind(period_end)
            .bind(event.created)
            .execute(&mut *conn)
            .await?;
        }
    }
    if LIVE_STATUSES.contains(&status) {
        set_plan(conn, customer, Plan::Pro).await?;
    }
    Ok(Outcome::Applied)
}

async fn end_subscription(conn: &mut PgConnection, event: &StripeEvent) -> Result<Outcome, ApiError> {
    let subscription = &event.object;
    let Some(subscription_id) = subscription["id"].as_str() else {
        return Ok(Outcome::Ignored("subscription without id".into()));
    };
    let Some(customer) = customer_for(conn, id_of(&subscription["customer"])).await? else {
        return Ok(Outcome::Ignored("the subscription's customer is not ours".into()));
    };
    ledger::lock_customer(conn, customer).await?;
    mark_canceled(conn, subscription_id, chrono::Utc::now()).await?;
    let plan = downgrade_after_pro(conn, customer).await?;
    tracing::info!(customer = %customer, subscription = subscription_id, plan = plan.as_str(), "Pro ended");
    Ok(Outcome::Applied)
}
