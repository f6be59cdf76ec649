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
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::{Cents, ChargeStatus, CustomerId, Plan};
use crate::state::AppState;
use crate::stripe::{Form, StripeError, StripeList, StripePaymentIntent, page_path, path_segment};

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

/// Who settles a charge, as `billing_charges_total{settled_by}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettledBy {
    /// The request that made the charge, or its keyed retry.
    Request,
    Reconciler,
    Webhook,
}

impl SettledBy {
    pub fn as_str(self) -> &'static str {
        match self {
            SettledBy::Request => "request",
            SettledBy::Reconciler => "reconciler",
            SettledBy::Webhook => "webhook",
        }
    }
}

/// Stripe keeps idempotency keys for 24 hours; past this age (an hour to spare) a charge's
/// request is never sent again — a re-send could make a second PaymentIntent — and its
/// PaymentIntent is looked up by its metadata instead ([`ask_stripe`]).
pub const RESEND_WITHIN: chrono::Duration = chrono::Duration::hours(23);

/// Sends the charge's PaymentIntent request to Stripe and settles the charge from the answer,
/// on a task of its own (a cancelled caller cannot interrupt it between the two).
pub async fn execute(state: &AppState, charge: Charge, attempt: Attempt, by: SettledBy) -> ChargeOutcome {
    let state = state.clone();
    let charge_id = charge.id;
    let task = tokio::spawn(async move { execute_to_the_end(&state, charge, attempt, by).await });
    task.await.unwrap_or_else(|error| {
        tracing::error!(charge = %charge_id, %error, "the charge task failed; the reconciler will settle the charge");
        ChargeOutcome::Unknown { reason: "the charge was interrupted".into() }
    })
}

/// Settles a pending charge from what Stripe says about it now: within Stripe's key retention
/// ([`RESEND_WITHIN`]) by re-sending its request with its key (Stripe answers with the first
/// request's outcome, or carries it out now if it never arrived); past it, by looking its
/// PaymentIntent up by metadata, and settling it `failed` (`never_reached_stripe`) when there
/// is none. The keyed retry of a fix and the reconciler both end here.
pub async fn ask_stripe(state: &AppState, charge: Charge, now: DateTime<Utc>, by: SettledBy) -> ChargeOutcome {
    if now - charge.created_at < RESEND_WITHIN {
        return execute(state, charge, Attempt::Resend, by).await;
    }
    let outcome = match find_intent(state, &charge).await {
        Ok(Some(intent)) => intent_outcome(&intent),
        Ok(None) => ChargeOutcome::Failed {
            code: failure::NEVER_REACHED_STRIPE.into(),
            message: "no PaymentIntent was made for this charge: nothing was charged".into(),
            declined: false,
        },
        Err(error) => ChargeOutcome::Unknown { reason: error.to_string() },
    };
    if let ChargeOutcome::Unknown { reason } = &outcome {
        tracing::warn!(charge = %charge.id, %reason, "a charge past Stripe's key retention is still unknown");
        return outcome;
    }
    settle_or_read(state, &charge, &outcome, by).await
}

/// The charge's PaymentIntent among its customer's, by the `charge_id` in its metadata (and
/// only if it is the charge's in every other respect too, see [`Charge::check_intent`]).
async fn find_intent(state: &AppState, charge: &Charge) -> Result<Option<StripePaymentIntent>, StripeError> {
    let Some(customer) = &charge.stripe_customer_id else { return Ok(None) };
    let wanted = charge.id.to_string();
    let list = format!("/v1/payment_intents?limit=100&customer={}", path_segment(customer));
    let mut after: Option<String> = None;
    loop {
        let page: StripeList<StripePaymentIntent> = state.stripe.get(&page_path(&list, after.as_deref())).await?;
        let next = page.next_after(|intent| &intent.id);
        let found = page.data.into_iter().find(|intent| intent.metadata.get("charge_id") == Some(&wanted));
        if let Some(found) = found {
            return match charge.check_intent(&found) {
                Ok(()) => Ok(Some(found)),
                Err(difference) => {
                    tracing::error!(charge = %charge.id, intent = %found.id, %difference, "a PaymentIntent names this charge but is not its own");
                    Ok(None)
                }
            };
        }
        match next {
            Some(next) => after = Some(next),
            None => return Ok(None),
        }
    }
}

async fn execute_to_the_end(state: &AppState, charge: Charge, attempt: Attempt, by: SettledBy) -> ChargeOutcome {
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
    settle_or_read(state, &charge, &outcome, by).await
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
        Ok(intent) => intent_outcome(&intent),
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
///
/// Only two statuses are failures: `requires_payment_method` (the attempt was declined) and
/// `canceled`. From either, Stripe never moves the PaymentIntent to `succeeded` by itself: that
/// would take another confirmation, which this service never sends for a charge's
/// PaymentIntent (a re-send under its key replays the first answer; paying again is a new
/// charge with a new key). Every other status that is not `succeeded` — `processing`,
/// `requires_action`, `requires_confirmation`, `requires_capture` — may still end in a
/// payment, so the outcome is unknown and the charge stays pending: settling it `failed` would
/// let a retry make a second PaymentIntent for the same fix while Stripe can still succeed the
/// first.
pub fn intent_outcome(intent: &StripePaymentIntent) -> ChargeOutcome {
    let id = &intent.id;
    match intent.status.as_str() {
        "succeeded" => ChargeOutcome::Succeeded { payment_intent: id.clone() },
        status @ ("requires_payment_method" | "canceled") => {
            let error = intent.last_payment_error.as_ref();
            let code = error.and_then(|error| error.decline_code.as_deref().or(error.code.as_deref()));
            let detail = error.and_then(|error| error.message.as_deref());
            ChargeOutcome::Failed {
                code: code.unwrap_or(status).to_string(),
                message: detail.map(str::to_string).unwrap_or_else(|| {
                    format!(
                        "the charge is `{status}` in Stripe, not paid: update the payment method with POST /api/v1/billing/payment-method"
                    )
                }),
                declined: true,
            }
        }
        other => ChargeOutcome::Unknown {
            reason: format!("PaymentIntent {id} is `{other}` in Stripe: it may still succeed"),
        },
    }
}

impl Charge {
    /// Whether `intent`, as Stripe returned it, is this charge's PaymentIntent: the one its
    /// request made, whose metadata names this charge, its fix and its customer, for the
    /// charge's amount and currency, of the charge's Stripe customer. The error says what differs.
    pub fn check_intent(&self, intent: &StripePaymentIntent) -> Result<(), String> {
        let mut differences = Vec::new();
        let metadata = |key: &str| intent.metadata.get(key).map(String::as_str);
        let (charge, fix, customer) = (self.id.to_string(), self.fix_id.to_string(), self.customer_id.to_string());
        for (key, expected) in [("charge_id", &charge), ("fix_id", &fix), ("customer_id", &customer)] {
            if metadata(key) != Some(expected.as_str()) {
                differences.push(format!("metadata {key} is {:?}, not {expected}", metadata(key)));
            }
        }
        if intent.amount != self.amount_cents {
            differences.push(format!("the amount is {} cents, not {}", intent.amount, self.amount_cents));
        }
        if !intent.currency.eq_ignore_ascii_case(&self.currency) {
            differences.push(format!("the currency is {:?}, not {}", intent.currency, self.currency));
        }
        if intent.customer.is_none() || intent.customer != self.stripe_customer_id {
            differences.push(format!("the customer is {:?}, not {:?}", intent.customer, self.stripe_customer_id));
        }
        if differences.is_empty() { Ok(()) } else { Err(differences.join("; ")) }
    }
}

/// Settles the charge; when someone else settled it first, reads what they settled. Counted
/// in the metrics only when this call settled it (whoever settles first counts it, once).
async fn settle_or_read(state: &AppState, charge: &Charge, outcome: &ChargeOutcome, by: SettledBy) -> ChargeOutcome {
    let settled = async {
        let mut tx = state.pool.begin().await?;
        let settled_here = settle(&mut tx, charge.id, outcome, state.clock.now()).await?;
        let stored = find(&mut tx, charge.id).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>((settled_here, stored))
    }
    .await;
    match settled {
        Ok((settled_here, Some(stored))) => {
            if settled_here {
                state.metrics.charge_settled(stored.status, by.as_str());
            }
            stored.outcome()
        }
        Ok((_, None)) => ChargeOutcome::Unknown { reason: format!("charge {} is gone", charge.id) },
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
/// pending once that request must have ended, asks Stripe ([`ask_stripe`]: re-sent with its
/// key, or looked up past Stripe's key retention): the answer of a retried request that finds
/// its fix's charge pending.
pub async fn settle_pending(state: &AppState, charge: Charge) -> ChargeOutcome {
    // The first request may still be waiting on Stripe for up to its timeout.
    let age = (state.clock.now() - charge.created_at).to_std().unwrap_or_default();
    let in_flight_for = (state.config.stripe.timeout() + Duration::from_secs(1)).saturating_sub(age);
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
    ask_stripe(state, charge, state.clock.now(), SettledBy::Request).await
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

    fn intent(id: &str, status: &str) -> StripePaymentIntent {
        StripePaymentIntent { id: id.into(), status: status.into(), ..Default::default() }
    }

    #[test]
    fn only_a_succeeded_intent_is_a_success() {
        assert!(
            matches!(outcome_of(Ok(intent("pi_1", "succeeded"))), ChargeOutcome::Succeeded { payment_intent } if payment_intent == "pi_1")
        );
    }

    #[test]
    fn only_an_intent_stripe_cannot_succeed_by_itself_is_a_failure() {
        for failed in ["requires_payment_method", "canceled"] {
            assert!(matches!(outcome_of(Ok(intent("pi_2", failed))), ChargeOutcome::Failed { .. }), "{failed}");
        }
        for may_still_succeed in ["processing", "requires_action", "requires_confirmation", "requires_capture"] {
            assert!(
                matches!(outcome_of(Ok(intent("pi_3", may_still_succeed))), ChargeOutcome::Unknown { .. }),
                "{may_still_succeed}: a retry must not make a second PaymentIntent while this one may succeed"
            );
        }
    }

    #[test]
    fn a_declined_intent_says_why_in_stripes_words() {
        let declined = StripePaymentIntent {
            last_payment_error: Some(crate::stripe::StripePaymentError {
                code: Some("card_declined".into()),
                decline_code: Some("insufficient_funds".into()),
                message: Some("Your card has insufficient funds.".into()),
            }),
            ..intent("pi_4", "requires_payment_method")
        };
        let ChargeOutcome::Failed { code, message, declined: true } = intent_outcome(&declined) else {
            panic!("a decline is a failure")
        };
        assert_eq!((code.as_str(), message.as_str()), ("insufficient_funds", "Your card has insufficient funds."));
    }

    fn charge() -> Charge {
        Charge {
            id: Uuid::new_v4(),
            customer_id: Uuid::new_v4(),
            fix_id: Uuid::new_v4(),
            amount_cents: 2900,
            currency: "usd".into(),
            plan: Plan::PayAsYouGo,
            status: ChargeStatus::Pending,
            stripe_idempotency_key: "charge-x".into(),
            stripe_customer_id: Some("cus_1".into()),
            payment_method: Some("pm_1".into()),
            stripe_payment_intent_id: None,
            failure_code: None,
            failure_message: None,
            created_at: Utc::now(),
        }
    }

    fn its_intent(charge: &Charge) -> StripePaymentIntent {
        StripePaymentIntent {
            amount: charge.amount_cents,
            currency: "usd".into(),
            customer: charge.stripe_customer_id.clone(),
            metadata: [
                ("charge_id".to_string(), charge.id.to_string()),
                ("fix_id".to_string(), charge.fix_id.to_string()),
                ("customer_id".to_string(), charge.customer_id.to_string()),
            ]
            .into(),
            ..intent("pi_5", "succeeded")
        }
    }

    #[test]
    fn an_intent_is_a_charges_only_with_its_metadata_amount_currency_and_customer() {
        let charge = charge();
        assert_eq!(charge.check_intent(&its_intent(&charge)), Ok(()));
        let one_cent = StripePaymentIntent { amount: 1, ..its_intent(&charge) };
        assert!(charge.check_intent(&one_cent).unwrap_err().contains("amount is 1 cents"));
        let euros = StripePaymentIntent { currency: "eur".into(), ..its_intent(&charge) };
        assert!(charge.check_intent(&euros).unwrap_err().contains("currency"));
        let someone_else = StripePaymentIntent { customer: Some("cus_2".into()), ..its_intent(&charge) };
        assert!(charge.check_intent(&someone_else).unwrap_err().contains("customer"));
        let mut another_fix = its_intent(&charge);
        another_fix.metadata.insert("fix_id".into(), Uuid::new_v4().to_string());
        assert!(charge.check_intent(&another_fix).unwrap_err().contains("fix_id"));
        let mut no_metadata = its_intent(&charge);
        no_metadata.metadata.clear();
        assert!(charge.check_intent(&no_metadata).unwrap_err().contains("charge_id"));
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
