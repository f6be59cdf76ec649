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
//! An event, like a request, is a claim: whoever holds the endpoint's secret (a leaked secret,
//! another account's endpoint routed here, a proxy's bug) can sign one. So before money moves
//! on an event, the service asks Stripe for the object and acts on what Stripe says:
//!
//! - a paid invoice grants its credits only when Stripe has that invoice, `paid`, of the
//!   event's customer, and its subscription (as Stripe has it) is one this service made for
//!   that customer (`customer`, and `metadata.customer_id`);
//! - `payment_intent.succeeded` and `payment_intent.payment_failed` settle a pending charge
//!   only when the PaymentIntent Stripe returns is that charge's (metadata, amount, currency,
//!   customer), and they settle it by the status Stripe gives it, not by the event's type: a
//!   status that may still succeed leaves the charge pending, so a retry can never make a
//!   second PaymentIntent for a fix while Stripe may still succeed the first.
//!
//! An event that Stripe does not bear out is answered 200 `ignored` (and logged as a warning);
//! a Stripe that cannot answer now is an error answer, so Stripe delivers the event again later.
//!
//! Every change runs inside the transaction that records the event id (see [`apply`]).

use serde_json::Value;
use sqlx::PgConnection;

use crate::billing::charges::{self, ChargeOutcome, SettledBy};
use crate::billing::subscription::{downgrade_after_pro, from_unix, gives_pro_pricing, mark_canceled};
use crate::billing::{lock_customer_plan, set_plan};
use crate::domain::ChargeStatus;
use crate::domain::{CustomerId, Plan};
use crate::error::ApiError;
use crate::ledger::{self, CreditSource};
use crate::pricing::PRO_CREDITS_PER_INVOICE;
use crate::state::AppState;
use crate::stripe::{StripeError, StripeInvoice, StripePaymentIntent, StripeSubscription, path_segment};

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

/// What Stripe says an event is about, checked before the event's transaction.
enum Checked {
    /// The event was applied before.
    Duplicate,
    /// Nothing to change, and why.
    Ignored(String),
    /// A pending charge to settle with what Stripe says about its PaymentIntent.
    Charge { charge_id: uuid::Uuid, outcome: ChargeOutcome },
    /// A subscription of the customer as Stripe has it now, to store; and the paid invoice of it
    /// the event is about, if any.
    Subscription {
        customer: CustomerId,
        subscription: StripeSubscription,
        version_before: Option<String>,
        invoice: Option<PaidInvoice>,
    },
}

/// A paid invoice an event is about.
enum PaidInvoice {
    /// Found in Stripe, paid, the customer's, of this subscription: its credits are due.
    Confirmed(String),
    /// Its credits were granted before: nothing to ask Stripe about it.
    AlreadyGranted(String),
}

/// Applies an event at most once.
pub async fn apply(state: &AppState, event: &StripeEvent) -> Result<Outcome, ApiError> {
    let now = state.clock.now();
    let kind = event.kind.as_str();
    let is_payment = matches!(kind, "payment_intent.succeeded" | "payment_intent.payment_failed");
    if !is_payment && !is_subscription_event(kind) {
        // Nothing to ask Stripe, nothing to change (most events a signup causes, say).
        return record_ignored(state, event, format!("event type {kind} is not handled"), now).await;
    }
    // A redelivery of an event applied before changes nothing, and asks Stripe nothing (a subscription event's read
    // of what is stored tells it too).
    if is_payment && already_applied(state, &event.id).await? {
        return Ok(Outcome::Duplicate);
    }
    // Asked before the transaction: no lock is held across a Stripe call. A failure here is an
    // error answer, so Stripe delivers the event again later.
    let checked =
        if is_payment { check_payment(state, event).await? } else { check_subscription_event(state, event).await? };

    if matches!(checked, Checked::Duplicate) {
        return Ok(Outcome::Duplicate);
    }
    let mut tx = state.pool.begin().await?;
    let mut contended_subscription = None;
    let outcome = match checked {
        // Answered above, before the transaction.
        Checked::Duplicate => return Ok(Outcome::Duplicate),
        Checked::Ignored(reason) => Outcome::Ignored(reason),
        Checked::Charge { charge_id, outcome } => settle_charge(state, &mut tx, charge_id, &outcome).await?,
        Checked::Subscription { customer, subscription, version_before, invoice } => {
            let plan = lock_customer_plan(&mut tx, customer).await?;
            let (outcome, stored_before) = match &invoice {
                Some(PaidInvoice::Confirmed(invoice)) => {
                    let granted = grant_pro_credits_for_invoice(state, &mut tx, customer, invoice).await?;
                    let (_, stored_before) = sync_subscription(&mut tx, customer, plan, &subscription).await?;
                    (granted, stored_before)
                }
                Some(PaidInvoice::AlreadyGranted(invoice)) => {
                    let (_, stored_before) = sync_subscription(&mut tx, customer, plan, &subscription).await?;
                    (Outcome::Ignored(format!("invoice {invoice} already granted its credits")), stored_before)
                }
                None => sync_subscription(&mut tx, customer, plan, &subscription).await?,
            };
            // Under the customer's lock, which every store of its subscriptions takes: did someone
            // store this subscription since it was fetched? Then that fetch may be older than
            // what is stored. (The stored version is read by the store itself, in the statement
            // that writes it: nobody else can store it while the lock is held.)
            let contended = stored_before != version_before;
            if contended && outcome == Outcome::Applied {
                contended_subscription = Some((customer, subscription));
            }
            outcome
        }
    };
    let label = match &outcome {
        Outcome::Applied => "applied",
        Outcome::Duplicate => "duplicate",
        Outcome::Ignored(_) => "ignored",
    };
    // The event's row, written once, with its outcome, in the transaction of its effects. A concurrent delivery of
    // the same event that wrote it first holds its key until it commits; this one then conflicts, and its effects
    // (none by then: it waited for the customer's lock or the charge's row, and found the work done) roll back
    // with `tx`.
    let first_time = sqlx::query!(
        "INSERT INTO stripe_events (event_id, type, outcome, received_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (event_id) DO NOTHING",
        &event.id,
        &event.kind,
        label,
        now
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !first_time {
        return Ok(Outcome::Duplicate);
    }
    tx.commit().await?;
    if let Some((customer, stored)) = contended_subscription {
        settle_subscription_state(state, customer, stored).await;
    }
    Ok(outcome)
}

/// The events about a subscription the service acts on: the subscription's own, and its
/// invoices paid or failed.
fn is_subscription_event(kind: &str) -> bool {
    kind.starts_with("customer.subscription.") || is_paid_invoice_event(kind) || kind == "invoice.payment_failed"
}

fn is_paid_invoice_event(kind: &str) -> bool {
    matches!(kind, "invoice.paid" | "invoice.payment_succeeded")
}

/// Checks a subscription or invoice event with Stripe: the customer must be ours; a paid
/// invoice must be in Stripe, `paid`, the customer's, and of a subscription; the subscription
/// (the invoice's, as Stripe has it, or the event's own) is fetched and must be one this
/// service made for the customer (its `customer`, and its `metadata.customer_id`).
async fn check_subscription_event(state: &AppState, event: &StripeEvent) -> Result<Checked, ApiError> {
    let customer_stripe_id = id_of(&event.object["customer"]);
    let paid_invoice = if is_paid_invoice_event(&event.kind) {
        let Some(invoice_id) = event.object["id"].as_str() else {
            return Ok(Checked::Ignored("an invoice event without an invoice id".into()));
        };
        Some(invoice_id)
    } else {
        None
    };
    let claimed_subscription = event.subscription_id();
    // What is stored, in one read. No pooled connection is held across a Stripe call: each read
    // takes one and gives it back.
    let Some(stored) = stored_before_fetch(
        &mut *state.pool.acquire().await?,
        &event.id,
        customer_stripe_id,
        paid_invoice,
        claimed_subscription,
    )
    .await?
    else {
        return Ok(Checked::Ignored("the event's customer is not ours".into()));
    };
    if stored.applied {
        return Ok(Checked::Duplicate);
    }
    let customer = CustomerId(stored.customer);
    let (subscription_id, invoice) = match paid_invoice {
        Some(invoice_id) if stored.granted => {
            // Nothing to grant: the event only brings the subscription up to date, and that is
            // fetched from Stripe and checked below.
            match claimed_subscription {
                Some(subscription) => (subscription.to_string(), Some(PaidInvoice::AlreadyGranted(invoice_id.into()))),
                None => return Ok(Checked::Ignored("not a subscription invoice".into())),
            }
        }
        Some(invoice_id) => match confirm_paid_invoice(state, invoice_id, customer_stripe_id).await? {
            Ok((invoice, subscription)) => (subscription, Some(PaidInvoice::Confirmed(invoice))),
            Err(reason) => {
                tracing::warn!(event = %event.id, invoice = invoice_id, %reason, "an invoice event that Stripe does not bear out: no credits");
                return Ok(Checked::Ignored(format!("{reason}: no credits granted")));
            }
        },
        None => match claimed_subscription {
            Some(subscription) => (subscription.to_string(), None),
            None => return Ok(Checked::Ignored("not a subscription invoice".into())),
        },
    };
    let version_before = if claimed_subscription == Some(subscription_id.as_str()) {
        stored.version
    } else {
        // Stripe's invoice names another subscription than the event did: its own version.
        stored_version(&mut *state.pool.acquire().await?, &subscription_id).await?
    };
    let subscription = match fetch_subscription(state, &subscription_id).await {
        Ok(subscription) => subscription,
        Err(err) if err.is_not_found() => {
            return Ok(Checked::Ignored(format!(
                "subscription {subscription_id} is not in Stripe: nothing stored, no credits granted"
            )));
        }
        Err(err) => return Err(err.into()),
    };
    let made_for = subscription.metadata.get("customer_id").map(String::as_str);
    let ours = customer.to_string();
    if subscription.customer.as_deref() != customer_stripe_id || made_for != Some(ours.as_str()) {
        tracing::warn!(event = %event.id, subscription = %subscription.id, "an event about a subscription that is not this customer's in Stripe");
        return Ok(Checked::Ignored(format!(
            "subscription {} is not this customer's in Stripe: nothing stored, no credits granted",
            subscription.id
        )));
    }
    Ok(Checked::Subscription { customer, subscription, version_before, invoice })
}

/// Asks Stripe for an invoice an event says was paid: `Ok(Ok((invoice, subscription)))` when
/// it is there, paid, of `customer` and of a subscription; `Ok(Err(why not))` otherwise.
async fn confirm_paid_invoice(
    state: &AppState,
    invoice_id: &str,
    customer: Option<&str>,
) -> Result<Result<(String, String), String>, ApiError> {
    let invoice: StripeInvoice = match state.stripe.get(&format!("/v1/invoices/{}", path_segment(invoice_id))).await {
        Ok(invoice) => invoice,
        Err(err) if err.is_not_found() => return Ok(Err(format!("invoice {invoice_id} is not in Stripe"))),
        Err(err) => return Err(err.into()),
    };
    if invoice.id != invoice_id {
        return Ok(Err(format!("Stripe answered invoice {} for {invoice_id}", invoice.id)));
    }
    if customer.is_none() || invoice.customer.as_deref() != customer {
        return Ok(Err(format!("invoice {invoice_id} is another customer's in Stripe")));
    }
    if invoice.status.as_deref() != Some("paid") {
        return Ok(Err(format!("invoice {invoice_id} is {:?} in Stripe, not paid", invoice.status)));
    }
    match invoice.subscription_id() {
        Some(subscription) => Ok(Ok((invoice.id.clone(), subscription.to_string()))),
        None => Ok(Err(format!("invoice {invoice_id} is not a subscription's in Stripe"))),
    }
}

/// Checks a `payment_intent.*` event with Stripe. The event only names the PaymentIntent and
/// the charge (its metadata); the PaymentIntent is fetched, must be that pending charge's in
/// every respect ([`charges::Charge::check_intent`]), and the charge is settled by the status
/// Stripe gives it, whatever the event's type says ([`charges::intent_outcome`]: a status that
/// may still succeed leaves the charge pending).
async fn check_payment(state: &AppState, event: &StripeEvent) -> Result<Checked, ApiError> {
    let object = &event.object;
    let (Some(intent_id), Some(charge_id)) =
        (object["id"].as_str(), object["metadata"]["charge_id"].as_str().and_then(|id| uuid::Uuid::parse_str(id).ok()))
    else {
        return Ok(Checked::Ignored("not a PaymentIntent of a fix's charge".into()));
    };
    let Some(charge) = charges::find(&mut *state.pool.acquire().await?, charge_id).await? else {
        return Ok(Checked::Ignored(format!("charge {charge_id} is not ours")));
    };
    if charge.status != ChargeStatus::Pending {
        return Ok(Checked::Ignored(format!("charge {charge_id} was already settled")));
    }
    let intent: StripePaymentIntent = match state
        .stripe
        .get(&format!("/v1/payment_intents/{}", path_segment(intent_id)))
        .await
    {
        Ok(intent) => intent,
        Err(err) if err.is_not_found() => {
            tracing::warn!(event = %event.id, intent = intent_id, charge = %charge_id, "a payment event about a PaymentIntent Stripe does not have");
            return Ok(Checked::Ignored(format!("PaymentIntent {intent_id} is not in Stripe: nothing settled")));
        }
        Err(err) => return Err(err.into()),
    };
    if let Err(difference) = charge.check_intent(&intent).and_then(|()| {
        (intent.id == intent_id).then_some(()).ok_or_else(|| format!("Stripe answered {} for it", intent.id))
    }) {
        tracing::warn!(event = %event.id, intent = intent_id, charge = %charge_id, %difference, "a payment event about a PaymentIntent that is not the charge's");
        return Ok(Checked::Ignored(format!(
            "PaymentIntent {intent_id} is not charge {charge_id}'s in Stripe ({difference}): nothing settled"
        )));
    }
    match charges::intent_outcome(&intent) {
        ChargeOutcome::Unknown { reason } => {
            Ok(Checked::Ignored(format!("{reason}: charge {charge_id} stays pending")))
        }
        outcome => Ok(Checked::Charge { charge_id, outcome }),
    }
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
            let plan = lock_customer_plan(&mut tx, customer).await?;
            sync_subscription(&mut tx, customer, plan, &fresh).await?;
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

/// Settles a pending charge with what Stripe says about its PaymentIntent.
async fn settle_charge(
    state: &AppState,
    conn: &mut PgConnection,
    charge_id: uuid::Uuid,
    outcome: &ChargeOutcome,
) -> Result<Outcome, ApiError> {
    if charges::settle(conn, charge_id, outcome, state.clock.now()).await? {
        let status = if matches!(outcome, ChargeOutcome::Succeeded { .. }) {
            ChargeStatus::Succeeded
        } else {
            ChargeStatus::Failed
        };
        state.metrics.charge_settled(status, SettledBy::Webhook.as_str());
        Ok(Outcome::Applied)
    } else {
        Ok(Outcome::Ignored(format!("charge {charge_id} was already settled")))
    }
}

/// Records an event that changes nothing, in one statement (no transaction: there is nothing
/// else to commit with it); `Duplicate` when its id was recorded before.
async fn record_ignored(
    state: &AppState,
    event: &StripeEvent,
    reason: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Outcome, ApiError> {
    let first_time = sqlx::query!(
        "INSERT INTO stripe_events (event_id, type, outcome, received_at) VALUES ($1, $2, 'ignored', $3)
         ON CONFLICT (event_id) DO NOTHING",
        &event.id,
        &event.kind,
        now
    )
    .execute(&state.pool)
    .await?
    .rows_affected()
        == 1;
    Ok(if first_time { Outcome::Ignored(reason) } else { Outcome::Duplicate })
}

async fn already_applied(state: &AppState, event_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM stripe_events WHERE event_id = $1) AS "applied!""#, event_id)
        .fetch_one(&state.pool)
        .await
}

async fn fetch_subscription(state: &AppState, id: &str) -> Result<StripeSubscription, StripeError> {
    state.stripe.get(&format!("/v1/subscriptions/{}", path_segment(id))).await
}

/// What is stored about an event's customer before anything is asked of Stripe.
struct StoredBeforeFetch {
    /// The customer whose Stripe customer the event names.
    customer: uuid::Uuid,
    /// The event was applied before.
    applied: bool,
    /// The event's paid invoice granted its credits already.
    granted: bool,
    /// The stored version ([`stored_version`]) of the subscription the event names.
    version: Option<String>,
}

/// The customer (none when the Stripe customer is not ours), whether the event was applied before, whether
/// `paid_invoice` granted its credits, and the stored version of `subscription`: one read instead of four.
async fn stored_before_fetch(
    conn: &mut PgConnection,
    event_id: &str,
    stripe_customer: Option<&str>,
    paid_invoice: Option<&str>,
    subscription: Option<&str>,
) -> Result<Option<StoredBeforeFetch>, sqlx::Error> {
    let Some(stripe_customer) = stripe_customer else { return Ok(None) };
    sqlx::query_as!(
        StoredBeforeFetch,
        r#"SELECT c.id AS customer,
                  EXISTS (SELECT 1 FROM stripe_events e WHERE e.event_id = $5) AS "applied!",
                  EXISTS (SELECT 1 FROM ledger_entries l
                          WHERE l.customer_id = c.id AND l.source = $2 AND l.reference = $3) AS "granted!",
                  (SELECT s.xmin::text FROM subscriptions s WHERE s.stripe_subscription_id = $4) AS version
           FROM customers c WHERE c.stripe_customer_id = $1"#,
        stripe_customer,
        CreditSource::ProInvoice as _,
        paid_invoice,
        subscription,
        event_id
    )
    .fetch_optional(conn)
    .await
}

/// Whether a paid invoice's credits were granted to the customer already.
async fn credits_granted_for(
    conn: &mut PgConnection,
    customer: CustomerId,
    invoice: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM ledger_entries WHERE customer_id = $1 AND source = $2 AND reference = $3)
           AS "granted!""#,
        customer.0,
        CreditSource::ProInvoice as _,
        invoice
    )
    .fetch_one(conn)
    .await
}

/// 60 credits for a paid subscription invoice (confirmed with Stripe), once per invoice. The caller holds the
/// customer's lock ([`lock_customer_plan`]), which every change of its ledger takes.
async fn grant_pro_credits_for_invoice(
    state: &AppState,
    conn: &mut PgConnection,
    customer: CustomerId,
    invoice_id: &str,
) -> Result<Outcome, ApiError> {
    if credits_granted_for(conn, customer, invoice_id).await? {
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
/// state of it. A subscription stored as canceled stays canceled. The caller holds the
/// customer's lock, which every store of its subscriptions takes, and read its `plan` under it
/// ([`lock_customer_plan`]). Returns the outcome and the subscription's stored version
/// ([`stored_version`]) from before this store.
async fn sync_subscription(
    conn: &mut PgConnection,
    customer: CustomerId,
    plan: Option<Plan>,
    subscription: &StripeSubscription,
) -> Result<(Outcome, Option<String>), ApiError> {
    let now = chrono::Utc::now();
    if subscription.status == "canceled" {
        // Insert-if-missing first, so a cancellation learnt before the creation is kept.
        let upserted = upsert_subscription(conn, customer, subscription, now).await?;
        mark_canceled(conn, &subscription.id, now).await?;
        let plan = downgrade_after_pro(conn, customer).await?;
        tracing::info!(customer = %customer, subscription = %subscription.id, plan = plan.as_str(), "Pro ended");
        return Ok((Outcome::Applied, upserted.version_before));
    }
    let upserted = upsert_subscription(conn, customer, subscription, now).await?;
    if !upserted.changed {
        let reason = format!("subscription {} is already canceled", subscription.id);
        return Ok((Outcome::Ignored(reason), upserted.version_before));
    }
    if gives_pro_pricing(&subscription.status) {
        if plan != Some(Plan::Pro) {
            set_plan(conn, customer, Plan::Pro).await?;
        }
    } else {
        // `unpaid`, `incomplete`…: no Pro pricing while it stays so (unless another one gives it).
        let plan = downgrade_after_pro(conn, customer).await?;
        tracing::info!(customer = %customer, subscription = %subscription.id, status = %subscription.status, plan = plan.as_str(), "a subscription without Pro pricing");
    }
    if subscription.status == "past_due" {
        tracing::warn!(customer = %customer, subscription = %subscription.id, "Pro renewal payment failed: past due");
    }
    Ok((Outcome::Applied, upserted.version_before))
}

/// What storing a subscription did.
struct Upserted {
    /// False when the stored one is canceled (terminal): nothing was written.
    changed: bool,
    /// Its stored version ([`stored_version`]) before this store; `None` when it was not stored.
    version_before: Option<String>,
}

/// Stores Stripe's state of a subscription, reading the stored version it replaces in the same
/// statement (the `before` read sees the statement's snapshot, without the upsert's own effect).
async fn upsert_subscription(
    conn: &mut PgConnection,
    customer: CustomerId,
    subscription: &StripeSubscription,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Upserted, sqlx::Error> {
    sqlx::query_as!(
        Upserted,
        r#"WITH before AS (
               SELECT xmin::text AS version FROM subscriptions WHERE stripe_subscription_id = $3
           ), upserted AS (
               INSERT INTO subscriptions (id, customer_id, stripe_subscription_id, status, cancel_at_period_end, current_period_end, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
               ON CONFLICT (stripe_subscription_id) DO UPDATE
                  SET status = EXCLUDED.status, cancel_at_period_end = EXCLUDED.cancel_at_period_end,
                      current_period_end = EXCLUDED.current_period_end, updated_at = EXCLUDED.updated_at
                  WHERE subscriptions.status <> 'canceled'
               RETURNING 1
           )
           SELECT EXISTS (SELECT 1 FROM upserted) AS "changed!", (SELECT version FROM before) AS version_before"#,
        uuid::Uuid::new_v4(),
        customer.0,
        &subscription.id,
        &subscription.status,
        subscription.cancel_at_period_end,
        from_unix(subscription.period_end()),
        now
    )
    .fetch_one(conn)
    .await
}
