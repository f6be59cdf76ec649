//! Onboarding (`POST /api/v1/customers`).
//!
//! In order, and with no database transaction open across the Stripe call (a slow Stripe must
//! not hold connections that other customers' requests need):
//!
//! 1. the per-IP signup limit (`SIGNUP_RATE_PER_MINUTE`; every attempt counts, valid or not);
//! 2. the request, parsed (422 naming every bad field), and a client `Idempotency-Key` used
//!    before with a different request refused (422);
//! 3. an e-mail address already taken is 409 before anything reaches Stripe;
//! 4. the Stripe customer is created. Its idempotency key, and the customer id sent with it,
//!    are derived from the request, so a retried signup makes Stripe replay the same customer;
//! 5. one statement makes the customer row, the API key, the trial credits and the welcome
//!    e-mail schedule, in one transaction with its sealed answer for a keyed signup ([`replay`]). If it fails, the
//!    Stripe customer is deleted again unless it is another (raced) signup's, so nothing is left
//!    half-made.
//!
//! Steps 3 to 5 run on a task of their own: a client that gives up, or the request timeout,
//! cannot stop a signup between its Stripe customer and its rows. When Stripe's answer is lost
//! (a timeout, a 5xx), the request is sent again with the same key until Stripe answers or a
//! deadline passes: Stripe replays the customer it made, and the signup is finished with it
//! rather than leaving it behind for a retry under another name to duplicate. Only a crash of
//! the process between 4 and 5, or a Stripe that stays unreachable, can still leave a Stripe
//! customer with no charges, which the same signup retried adopts (Stripe replays it) while
//! Stripe keeps its key; past that, the orphan sweep deletes it ([`orphans`]). A replayed
//! customer that was deleted meanwhile is never adopted: the signup makes a new one.
//!
//! A retry with the same `Idempotency-Key` and body gets the first answer again, API key and
//! all (see [`replay`] for how it is kept without storing a usable key); a signup without a key
//! cannot be told from a second signup, and its retry is 409 once the first one finished.

pub mod orphans;
pub mod replay;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::api_keys::NewApiKey;
use crate::domain::{CustomerId, CustomerName, Email, Plan, SignupSource};
use crate::error::ApiError;
use crate::idempotency::{self, ClientKey};
use crate::ledger::CreditSource;
use crate::outbox;
use crate::pricing::TRIAL_CREDITS;
use crate::state::AppState;
use crate::stripe::{Form, StripeCustomer, StripeError};
use replay::{Earlier, ReplayKeys};

// The one type of this body: read by `SignupRequest::from_fields` (in `crate::http::onboarding`,
// where every request is read) into values that can only be valid,
// and documented (the doc comment below is the schema's description) as the wire form each
// field's parser accepts: the parser's rule as a pattern, unknown fields refused.
/// `POST /api/v1/customers`.
#[derive(Debug, Clone, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// An e-mail address in ASCII, `local@domain.tld`: at most 254 characters (so bytes) once
    /// trimmed, a local part of visible ASCII characters but `@`, a domain of letters, digits,
    /// `-` and dots.
    #[schema(
        value_type = String,
        example = "ada@example.com",
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?=[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,254}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$)[!-?A-~]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub email: Email,
    /// A display name: 1 to 200 characters once trimmed, no control characters.
    #[schema(
        value_type = String,
        example = "Ada Lovelace",
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\x00-\x1f\x7f-\x9f]{0,198}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: CustomerName,
    /// Where the customer came from: a lowercase identifier; `direct` when absent.
    #[schema(value_type = Option<String>, example = "gh_marketplace", pattern = r"^[a-z][a-z0-9_]{0,39}$")]
    pub source: SignupSource,
}

impl SignupRequest {
    /// The key Stripe deduplicates on: the same request (and the same client
    /// `Idempotency-Key`, if one was sent) always gives the same key.
    fn idempotency_digest(&self, client_key: Option<&str>) -> [u8; 32] {
        let mut hash = Sha256::new();
        for part in [
            "onboarding/v1",
            client_key.unwrap_or(""),
            &self.email.as_str().to_lowercase(),
            self.name.as_str(),
            self.source.as_str(),
        ] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        hash.finalize().into()
    }
}

/// The answer to a signup: the only time the API key is ever shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OnboardedCustomer {
    pub customer_id: CustomerId,
    pub email: Email,
    pub name: CustomerName,
    pub source: SignupSource,
    pub plan: Plan,
    pub credit_balance: i32,
    pub stripe_customer_id: String,
    /// The API key (`bk_…`): shown only here, never again.
    pub api_key: String,
    pub api_key_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The route, as request fingerprints name it.
const ROUTE: &str = "POST /api/v1/customers";

/// What a signup came to.
pub enum Signup {
    /// Signed up now.
    Created(OnboardedCustomer),
    /// The retry of a keyed signup: its first answer, as it was sent.
    Replayed(Vec<u8>),
}

/// Signs a customer up on a task of its own, so that nothing can stop it between the Stripe
/// customer and the rows; counted in the metrics by how it went.
pub async fn sign_up(state: &AppState, request: SignupRequest, key: Option<ClientKey>) -> Result<Signup, ApiError> {
    let task = tokio::spawn({
        let state = state.clone();
        async move { onboard(&state, &request, key.as_ref()).await }
    });
    let result = task.await.unwrap_or_else(|error| Err(ApiError::Internal(format!("the signup task failed: {error}"))));
    state.metrics.onboarding(match &result {
        Ok(Signup::Created(_)) => "created",
        Ok(Signup::Replayed(_)) => "replayed",
        Err(ApiError::Conflict { .. }) => "duplicate",
        Err(ApiError::Stripe(_)) => "stripe_failed",
        Err(_) => "failed",
    });
    result
}

/// Runs the whole onboarding (see the module documentation).
pub async fn onboard(
    state: &AppState,
    request: &SignupRequest,
    client_key: Option<&ClientKey>,
) -> Result<Signup, ApiError> {
    let fingerprint = idempotency::fingerprint(
        ROUTE,
        &[&request.email.as_str().to_lowercase(), request.name.as_str(), request.source.as_str()],
    );
    let replay_keys = client_key.map(|key| ReplayKeys::derive(key, &fingerprint));
    if let (Some(keys), Some(key)) = (&replay_keys, client_key)
        && let Some(earlier) = earlier_answer(state, keys, key, &fingerprint).await?
    {
        return Ok(Signup::Replayed(earlier));
    }
    let taken = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM customers WHERE lower(email) = lower($1)) AS "taken!""#,
        request.email.as_str()
    )
    .fetch_one(&state.pool)
    .await?;
    if taken {
        // The same keyed signup may have committed between the two looks (its customer and its
        // answer commit together): then its answer is there now.
        if let (Some(keys), Some(key)) = (&replay_keys, client_key)
            && let Some(earlier) = earlier_answer(state, keys, key, &fingerprint).await?
        {
            return Ok(Signup::Replayed(earlier));
        }
        return Err(email_taken());
    }

    let (customer, stripe_customer) = create_signup_stripe_customer(state, request, client_key).await?;

    let now = state.clock.now();
    let key = NewApiKey::generate();
    let mut answer = OnboardedCustomer {
        customer_id: customer,
        email: request.email.clone(),
        name: request.name.clone(),
        source: request.source.clone(),
        plan: Plan::Trial,
        credit_balance: 0,
        stripe_customer_id: stripe_customer.id.clone(),
        api_key: key.secret.clone(),
        api_key_id: key.id,
        created_at: now,
    };
    let replay = replay_keys.as_ref().map(|keys| (keys, fingerprint.as_slice()));
    if let Err(err) = store_customer(state, request, &mut answer, &key, replay, now).await {
        undo_stripe_customer(state, &stripe_customer.id).await;
        let constraint = match &err {
            ApiError::Database(db) => db.as_database_error().and_then(|db| db.constraint()),
            _ => None,
        };
        return match constraint {
            Some("customers_email_unique" | "customers_pkey") => {
                // A concurrent identical keyed signup may have won: its answer is this one's.
                if let (Some(keys), Some(key)) = (&replay_keys, client_key)
                    && let Some(earlier) = earlier_answer(state, keys, key, &fingerprint).await?
                {
                    return Ok(Signup::Replayed(earlier));
                }
                Err(email_taken())
            }
            _ => Err(err),
        };
    }
    // The welcome e-mail is due now: wake the dispatcher rather than wait for its next poll.
    state.outbox_wake.notify_one();
    state.metrics.credits_granted(CreditSource::TrialSignup, TRIAL_CREDITS);
    Ok(Signup::Created(answer))
}

/// The first answer of the signup made earlier under `key`, when it was this same request;
/// 422 when it was another.
async fn earlier_answer(
    state: &AppState,
    keys: &ReplayKeys,
    key: &ClientKey,
    fingerprint: &[u8],
) -> Result<Option<Vec<u8>>, ApiError> {
    let earlier = replay::find(&mut *state.pool.acquire().await?, keys, fingerprint, state.clock.now()).await?;
    match earlier {
        Earlier::Nothing => Ok(None),
        Earlier::Answer(answer) => Ok(Some(answer)),
        Earlier::AnotherRequest => Err(idempotency::reused(key, ROUTE)),
    }
}

/// Step 4 of a signup: its Stripe customer, and the customer id it was made for. The id and
/// Stripe's idempotency key are derived from the request (and the client's `Idempotency-Key`), so
/// a retry sends Stripe identical parameters under the same key (Stripe refuses a reused key with
/// different ones) and gets the same customer back. The customer carries this database's marker
/// (`metadata[made_by]`), by which the orphan sweep knows it ([`orphans`]).
///
/// A customer Stripe *replays* may have been deleted since (a failed signup's undo, or the orphan
/// sweep once it was old enough): a signup never adopts a deleted customer; it makes a new one
/// under a key of its own (`…-2`, `…-3`), which its retries derive alike.
pub async fn create_signup_stripe_customer(
    state: &AppState,
    request: &SignupRequest,
    client_key: Option<&ClientKey>,
) -> Result<(CustomerId, StripeCustomer), ApiError> {
    let digest = request.idempotency_digest(client_key.map(ClientKey::as_str));
    let customer =
        CustomerId(uuid::Builder::from_random_bytes(digest[..16].try_into().unwrap_or_default()).into_uuid());
    let form = Form::new()
        .set("email", request.email.as_str())
        .set("name", request.name.as_str())
        .metadata("customer_id", customer)
        .metadata("source", request.source.as_str())
        .metadata(orphans::MADE_BY_KEY, &state.stripe_marker);
    let form = match &state.config.stripe.test_clock {
        Some(clock) => form.set("test_clock", clock),
        None => form,
    };
    let stripe_key = format!("onboarding-{}", hex::encode(&digest[..20]));
    for generation in 1..=CUSTOMER_GENERATIONS {
        let key = if generation == 1 { stripe_key.clone() } else { format!("{stripe_key}-{generation}") };
        let (stripe_customer, replayed) = create_stripe_customer(state, form.clone(), &key).await?;
        if !replayed || !deleted_in_stripe(state, &stripe_customer.id).await? {
            return Ok((customer, stripe_customer));
        }
        tracing::info!(stripe_customer = %stripe_customer.id, %customer, generation, "Stripe replayed a signup's customer that was deleted since: making a new one");
    }
    Err(ApiError::Stripe(StripeError::Transport(format!(
        "Stripe answered this signup {CUSTOMER_GENERATIONS} times with a customer deleted since"
    ))))
}

/// How many Stripe customers a signup makes at most, one after another was deleted.
const CUSTOMER_GENERATIONS: u32 = 3;

/// Whether Stripe says the customer is deleted (or has none by that id).
async fn deleted_in_stripe(state: &AppState, stripe_customer: &str) -> Result<bool, ApiError> {
    let path = format!("/v1/customers/{}", crate::stripe::path_segment(stripe_customer));
    match state.stripe.get::<serde_json::Value>(&path).await {
        Ok(customer) => Ok(customer["deleted"] == true),
        Err(error) if error.is_not_found() => Ok(true),
        Err(error) => Err(error.into()),
    }
}

/// Most times a signup sends its Stripe customer's creation (the first time, then with the
/// same key while Stripe's answer is lost).
pub const CREATE_CUSTOMER_ATTEMPTS: u32 = 4;

/// How long after the first attempt a signup still sends the creation again: one Stripe
/// timeout (Stripe may still be running the first one) and a little more.
const CREATE_CUSTOMER_RESEND_FOR: Duration = Duration::from_secs(2);

/// Creates the Stripe customer. When Stripe's answer is lost (a timeout, a 5xx, the key still in
/// use by a request Stripe is running), the request is sent again with the same key, a few
/// times within a deadline: Stripe replays the customer it made (or makes it now), so the
/// signup finishes with it instead of leaving it orphaned for a retry under another name to
/// duplicate. A definite refusal is answered at once.
/// Says whether the answer was a replay.
async fn create_stripe_customer(
    state: &AppState,
    form: Form,
    stripe_key: &str,
) -> Result<(StripeCustomer, bool), ApiError> {
    let deadline = tokio::time::Instant::now() + state.config.stripe.timeout() + CREATE_CUSTOMER_RESEND_FOR;
    let mut pause = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match state.stripe.create_customer(form.clone(), stripe_key).await {
            Ok(answer) => return Ok(answer),
            Err(error)
                if error.outcome_unknown()
                    && attempt < CREATE_CUSTOMER_ATTEMPTS
                    && tokio::time::Instant::now() + pause < deadline =>
            {
                tracing::warn!(%error, attempt, "the Stripe customer's creation may have happened: asking again with the same key");
                tokio::time::sleep(pause).await;
                pause *= 4;
                attempt += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Makes the customer: every row, or none. It completes `answer` with the balance the ledger
/// gives, and keeps it sealed for a keyed signup's retries.
///
/// The customer row, its API key, the trial credits and the whole welcome sequence are one
/// statement ([`insert_signup_rows`]), atomic on its own: a signup without an
/// `Idempotency-Key` is one round trip to PostgreSQL, where it was twelve (a transaction with
/// a statement per row), the largest part of a signup's cost in the database. A keyed signup
/// adds its sealed answer in the same transaction.
async fn store_customer(
    state: &AppState,
    request: &SignupRequest,
    answer: &mut OnboardedCustomer,
    key: &NewApiKey,
    replay: Option<(&ReplayKeys, &[u8])>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let Some((keys, fingerprint)) = replay else {
        answer.credit_balance =
            insert_signup_rows(&mut *state.pool.acquire().await?, request, answer, key, now).await?;
        return Ok(());
    };
    let mut tx = state.pool.begin().await?;
    answer.credit_balance = insert_signup_rows(&mut tx, request, answer, key, now).await?;
    let body = serde_json::to_vec(&*answer).map_err(|err| ApiError::Internal(err.to_string()))?;
    let expires_at = now + state.config.signup.replay_retention();
    replay::remember(&mut tx, keys, fingerprint, answer.customer_id, &body, now, expires_at).await?;
    tx.commit().await?;
    Ok(())
}

/// The rows of a new customer, in one statement: the customer, its API key (the hash), the
/// trial credits (the customer's first ledger entry, so its balance is the grant: nobody can
/// append to a customer before this statement commits) and the welcome sequence
/// ([`outbox::welcome_sequence`]). Foreign keys are checked at the end of the statement, when
/// the customer row is there. Returns the balance after the grant.
async fn insert_signup_rows(
    conn: &mut sqlx::PgConnection,
    request: &SignupRequest,
    answer: &OnboardedCustomer,
    key: &NewApiKey,
    now: DateTime<Utc>,
) -> Result<i32, sqlx::Error> {
    let welcome = outbox::welcome_sequence(now);
    sqlx::query_scalar!(
        r#"WITH customer AS (
               INSERT INTO customers (id, email, name, source, plan, stripe_customer_id, created_at)
               VALUES ($1, $2, $3, $4, 'trial', $5, $6)
               RETURNING id
           ), api_key AS (
               INSERT INTO api_keys (id, customer_id, key_hash, key_prefix, created_at)
               SELECT $7, id, $8, $9, $6 FROM customer
           ), welcome AS (
               INSERT INTO email_outbox (id, customer_id, template, send_after)
               SELECT mail.id, customer.id, mail.template, mail.send_after
               FROM customer, unnest($12::uuid[], $13::text[], $14::timestamptz[]) AS mail (id, template, send_after)
           )
           INSERT INTO ledger_entries (customer_id, delta, balance_after, source, reference, created_at)
           SELECT id, $10, $10, $11, NULL, $6 FROM customer
           RETURNING balance_after"#,
        answer.customer_id.0,
        request.email.as_str(),
        request.name.as_str(),
        request.source.as_str(),
        &answer.stripe_customer_id,
        now,
        key.id,
        &key.hash,
        &key.shown_prefix,
        TRIAL_CREDITS,
        CreditSource::TrialSignup.as_str(),
        &welcome.ids,
        &welcome.templates as &[&str],
        &welcome.send_after
    )
    .fetch_one(conn)
    .await
}

/// Deletes a Stripe customer whose signup could not be stored, unless a customer row names it
/// (a concurrent identical signup, which Stripe answered with the same customer, won the race).
async fn undo_stripe_customer(state: &AppState, stripe_customer: &str) {
    let adopted = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM customers WHERE stripe_customer_id = $1) AS "adopted!""#,
        stripe_customer
    )
    .fetch_one(&state.pool)
    .await;
    match adopted {
        Ok(true) => {}
        Ok(false) => {
            let path = format!("/v1/customers/{}", crate::stripe::path_segment(stripe_customer));
            if let Err(error) = state.stripe.delete::<serde_json::Value>(&path).await {
                tracing::warn!(%stripe_customer, %error, "could not delete the Stripe customer of a failed signup");
            }
        }
        Err(error) => {
            tracing::warn!(%stripe_customer, %error, "cannot tell whether a failed signup's Stripe customer is in use: left in Stripe")
        }
    }
}

/// The address is not repeated: an answer that names it would confirm it to whoever guesses.
fn email_taken() -> ApiError {
    ApiError::Conflict {
        code: "email_taken",
        message: "this e-mail address is already signed up: use that customer's API key, or sign up with another \
                  address (a signup retried with the same Idempotency-Key and body gets its first answer instead)"
            .into(),
    }
}
