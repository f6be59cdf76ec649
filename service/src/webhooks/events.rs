//! What each Stripe event does to the service's state.
//!
//! Events are triggers, not state: Stripe delivers them at least once and in no guaranteed
//! order, and their `created` has one-second resolution, so two updates of one subscription
//! can't be ordered by it. So for any event about a subscription (its own events, and invoice
//! events of a subscription) the subscription's *current* state is fetched from Stripe first,
//! as Stripe recommends, and the stored copy is brought in line with it. Credits are keyed by
//! invoice, so `invoice.paid` and `invoice.payment_succeeded` for one invoice grant once, and
//! a canceled subscription never comes back to life.
//!
//! Because the state is fetched before the transaction that stores it (no transaction is held
//! across a Stripe call), two concurrent events can store their fetches in the wrong order.
//! So an event notes the stored row's version (`xmin`) before its fetch, and checks it again
//! under the customer's lock in its transaction: when someone stored the subscription in
//! between, its fetch may be the older one, and after its commit it fetches once more and
//! stores again while the state changed ([`settle_subscription_state`]). Whoever commits last
//! after a concurrent store looks last, and the stored copy ends at Stripe's latest state; an
//! event nobody raced costs one fetch, not two.
//!
//! A paid invoice grants its credits only when its subscription is found in Stripe and belongs
//! to the event's customer; a subscription that cannot be fetched is an error answer, so Stripe
//! delivers the event again later.
//!
//! `payment_intent.succeeded` and `payment_intent.payment_failed` settle the pending charge
//! named in the PaymentIntent's metadata ([`crate::billing::charges`]), if it is still pending.
//!
//! Every change runs inside the transaction that records the event id (see [`apply`]).

use serde_json::Value;
use sqlx::PgConnection;

use crate::app::AppState;
use crate::billing::charges::{self, ChargeOutcome, ChargeStatus};
use crate::billing::set_plan;
use crate::billing::subscription::{LIVE_STATUSES, downgrade_after_pro, from_unix, mark_canceled};
use crate::domain::{CustomerId, Plan};
use crate::error::ApiError;
use crate::ledger::{self, CreditSource};
use crate::pricing::PRO_CREDITS_PER_INVOICE;
use crate::stripe::{StripeError, StripeSubscription, path_segment};

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

    /// The subscription this event is about, if any.
    fn subscription_id(&self) -> Option<&str> {
        if self.kind.starts_with("customer.subscription.") {
            self.object["id"].as_str()
        } else if self.kind.starts_with("invoice.") {
            invoice_subscription(&self.object)
        } else {
            None
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

/// Applies an event at most once.
pub async fn apply(state: &AppState, event: &StripeEvent) -> Result<Outcome, ApiError> {
    let now = state.clock.now();
    if already_applied(state, &event.id).await? {
        return Ok(Outcome::Duplicate);
    }
    let (customer, version_before) = {
        let mut conn = state.pool.acquire().await?;
        let customer = customer_for(&mut conn, id_of(&event.object["customer"])).await?;
        let version = match (customer, event.subscription_id()) {
            (Some(_), Some(id)) => stored_version(&mut conn, id).await?,
            _ => None,
        };
        (customer, version)
    };
    // Fetched before the transaction: no lock is held across a Stripe call. A failure here is
    // an error answer, so Stripe delivers the event again later.
    let subscription = match (customer, event.subscription_id()) {
        (Some(_), Some(id)) => match fetch_subscription(state, id).await {
            Ok(subscription) => Some(subscription),
            Err(err) if err.is_not_found() => None,
            Err(err) => return Err(err.into()),
        },
        _ => None,
    };
    let customer_stripe_id = id_of(&event.object["customer"]);
    let subscription = subscription.filter(|subscription| {
        // A subscription of another customer is not this event's to apply.
        subscription.customer.as_deref().is_none_or(|owner| Some(owner) == customer_stripe_id)
    });

    let mut tx = state.pool.begin().await?;
    let first_time = sqlx::query!(
        "INSERT INTO stripe_events (event_id, type, outcome, received_at) VALUES ($1, $2, 'pending', $3)
         ON CONFLICT (event_id) DO NOTHING",
        &event.id,
        &event.kind,
        now
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !first_time {
        return Ok(Outcome::Duplicate);
    }
    // Under the customer's lock, which every store of its subscriptions takes: did someone store
    // this subscription since it was fetched? Then that fetch may be older than what is stored.
    let contended = match (customer, &subscription) {
        (Some(customer), Some(subscription)) => {
            ledger::lock_customer(&mut tx, customer).await?;
            stored_version(&mut tx, &subscription.id).await? != version_before
        }
        _ => false,
    };
    let outcome = match (customer, event.kind.as_str()) {
        (None, kind) if kind.starts_with("invoice.") || kind.starts_with("customer.subscription.") => {
            Outcome::Ignored("the event's customer is not ours".into())
        }
        (Some(customer), "invoice.paid" | "invoice.payment_succeeded") => match &subscription {
            Some(subscription) => {
                let granted = grant_pro_credits_for_invoice(state, &mut tx, customer, event).await?;
                sync_subscription(&mut tx, customer, subscription).await?;
                granted
            }
            None if invoice_subscription(&event.object).is_some() => Outcome::Ignored(
                "the invoice's subscription is not this customer's in Stripe: no credits granted".into(),
            ),
            None => Outcome::Ignored("not a subscription invoice".into()),
        },
        (Some(customer), kind) if kind == "invoice.payment_failed" || kind.starts_with("customer.subscription.") => {
            match &subscription {
                Some(subscription) => sync_subscription(&mut tx, customer, subscription).await?,
                None => Outcome::Ignored("not a subscription invoice".into()),
            }
        }
        (_, "payment_intent.succeeded" | "payment_intent.payment_failed") => {
            settle_charge(state, &mut tx, event).await?
        }
        (_, other) => Outcome::Ignored(format!("event type {other} is not handled")),
    };
    let label = match &outcome {
        Outcome::Applied => "applied",
        Outcome::Duplicate => "duplicate",
        Outcome::Ignored(_) => "ignored",
    };
    sqlx::query!("UPDATE stripe_events SET outcome = $2 WHERE event_id = $1", &event.id, label)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if let (Some(customer), Some(stored)) = (customer, &subscription)
        && outcome == Outcome::Applied
        && contended
    {
        settle_subscription_state(state, customer, stored.clone()).await;
    }
    Ok(outcome)
}

/// The stored version of a subscription: its row's `xmin`, which every update of the row
/// changes; `None` when it is not stored.
async fn stored_version(conn: &mut PgConnection, stripe_subscription_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT xmin::text AS "version!" FROM subscriptions WHERE stripe_subscription_id = $1"#,
        stripe_subscription_id
    )
    .fetch_optional(conn)
    .await
}

/// Rounds of "fetch again, store if changed" after an event stored a subscription.
const SUBSCRIPTION_SETTLE_ROUNDS: usize = 3;

/// Fetches the subscription again after the event's commit and stores it while it differs from
/// what was stored, so a concurrent event that fetched an older state cannot have the last word.
async fn settle_subscription_state(state: &AppState, customer: CustomerId, mut stored: StripeSubscription) {
    for _ in 0..SUBSCRIPTION_SETTLE_ROUNDS {
        let fresh = match fetch_subscription(state, &stored.id).await {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::warn!(subscription = %stored.id, %error, "could not check a stored subscription against Stripe; the next event will");
                return;
            }
        };
        if fresh.same_state(&stored) {
            return;
        }
        let synced = async {
            let mut tx = state.pool.begin().await?;
            sync_subscription(&mut tx, customer, &fresh).await?;
            tx.commit().await?;
            Ok::<_, ApiError>(())
        }
        .await;
        if let Err(error) = synced {
            tracing::warn!(subscription = %fresh.id, %error, "could not store a subscription's newer state");
            return;
        }
        stored = fresh;
    }
}

/// Settles the pending charge a `payment_intent.*` event is about.
async fn settle_charge(state: &AppState, conn: &mut PgConnection, event: &StripeEvent) -> Result<Outcome, ApiError> {
    let intent = &event.object;
    let (Some(intent_id), Some(charge_id)) =
        (intent["id"].as_str(), intent["metadata"]["charge_id"].as_str().and_then(|id| uuid::Uuid::parse_str(id).ok()))
    else {
        return Ok(Outcome::Ignored("not a PaymentIntent of a fix's charge".into()));
    };
    let Some(charge) = charges::find(conn, charge_id).await? else {
        return Ok(Outcome::Ignored(format!("charge {charge_id} is not ours")));
    };
    if charge.stripe_customer_id.as_deref() != id_of(&intent["customer"]) {
        return Ok(Outcome::Ignored(format!("charge {charge_id} belongs to another customer")));
    }
    let outcome = if event.kind == "payment_intent.succeeded" {
        ChargeOutcome::Succeeded { payment_intent: intent_id.to_string() }
    } else {
        let error = &intent["last_payment_error"];
        ChargeOutcome::Failed {
            code: error["decline_code"].as_str().or(error["code"].as_str()).unwrap_or("payment_failed").to_string(),
            message: error["message"].as_str().unwrap_or("the payment failed").to_string(),
            declined: true,
        }
    };
    if charges::settle(conn, charge_id, &outcome, state.clock.now()).await? {
        let status = if matches!(outcome, ChargeOutcome::Succeeded { .. }) {
            ChargeStatus::Succeeded
        } else {
            ChargeStatus::Failed
        };
        state.metrics.charge_settled(status, "webhook");
        Ok(Outcome::Applied)
    } else {
        Ok(Outcome::Ignored(format!("charge {charge_id} was already settled")))
    }
}

async fn already_applied(state: &AppState, event_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM stripe_events WHERE event_id = $1) AS "applied!""#, event_id)
        .fetch_one(&state.pool)
        .await
}

async fn fetch_subscription(state: &AppState, id: &str) -> Result<StripeSubscription, StripeError> {
    state.stripe.get(&format!("/v1/subscriptions/{}", path_segment(id))).await
}

async fn customer_for(
    conn: &mut PgConnection,
    stripe_customer: Option<&str>,
) -> Result<Option<CustomerId>, sqlx::Error> {
    let Some(stripe_customer) = stripe_customer else { return Ok(None) };
    let id = sqlx::query_scalar!("SELECT id FROM customers WHERE stripe_customer_id = $1", stripe_customer)
        .fetch_optional(conn)
        .await?;
    Ok(id.map(CustomerId))
}

/// 60 credits per paid subscription invoice, once per invoice.
async fn grant_pro_credits_for_invoice(
    state: &AppState,
    conn: &mut PgConnection,
    customer: CustomerId,
    event: &StripeEvent,
) -> Result<Outcome, ApiError> {
    let invoice = &event.object;
    let (Some(invoice_id), Some(_)) = (invoice["id"].as_str(), invoice_subscription(invoice)) else {
        return Ok(Outcome::Ignored("not a subscription invoice".into()));
    };
    if invoice["status"].as_str().is_some_and(|status| status != "paid") {
        return Ok(Outcome::Ignored(format!("invoice {invoice_id} is not paid")));
    }
    ledger::lock_customer(conn, customer).await?;
    let already = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM ledger_entries WHERE customer_id = $1 AND source = $2 AND reference = $3)
           AS "granted!""#,
        customer.0,
        CreditSource::ProInvoice as _,
        invoice_id
    )
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
    tracing::info!(customer = %customer, invoice = invoice_id, credits = PRO_CREDITS_PER_INVOICE, "Pro credits granted");
    Ok(Outcome::Applied)
}

/// Brings the stored subscription, and the customer's plan, in line with Stripe's current
/// state of it. A subscription stored as canceled stays canceled.
async fn sync_subscription(
    conn: &mut PgConnection,
    customer: CustomerId,
    subscription: &StripeSubscription,
) -> Result<Outcome, ApiError> {
    ledger::lock_customer(conn, customer).await?;
    let now = chrono::Utc::now();
    if subscription.status == "canceled" {
        // Insert-if-missing first, so a cancellation learnt before the creation is kept.
        upsert_subscription(conn, customer, subscription, now).await?;
        mark_canceled(conn, &subscription.id, now).await?;
        let plan = downgrade_after_pro(conn, customer).await?;
        tracing::info!(customer = %customer, subscription = %subscription.id, plan = plan.as_str(), "Pro ended");
        return Ok(Outcome::Applied);
    }
    let updated = upsert_subscription(conn, customer, subscription, now).await?;
    if !updated {
        return Ok(Outcome::Ignored(format!("subscription {} is already canceled", subscription.id)));
    }
    if LIVE_STATUSES.contains(&subscription.status.as_str()) {
        set_plan(conn, customer, Plan::Pro).await?;
    }
    if subscription.status == "past_due" {
        tracing::warn!(customer = %customer, subscription = %subscription.id, "Pro renewal payment failed: past due");
    }
    Ok(Outcome::Applied)
}

/// Stores Stripe's state of a subscription; false when the stored one is canceled (terminal).
async fn upsert_subscription(
    conn: &mut PgConnection,
    customer: CustomerId,
    subscription: &StripeSubscription,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query!(
        "INSERT INTO subscriptions (id, customer_id, stripe_subscription_id, status, cancel_at_period_end, current_period_end, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (stripe_subscription_id) DO UPDATE
            SET status = EXCLUDED.status, cancel_at_period_end = EXCLUDED.cancel_at_period_end,
                current_period_end = EXCLUDED.current_period_end, updated_at = EXCLUDED.updated_at
            WHERE subscriptions.status <> 'canceled'",
        uuid::Uuid::new_v4(),
        customer.0,
        &subscription.id,
        &subscription.status,
        subscription.cancel_at_period_end,
        from_unix(subscription.period_end()),
        now
    )
    .execute(conn)
    .await?;
    Ok(changed.rows_affected() == 1)
}
