//! Onboarding: `POST /api/v1/customers`.
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
//! 5. one transaction makes the customer row, the API key, the trial credits, the welcome
//!    e-mail schedule and the idempotency record. If it fails, the Stripe customer is deleted
//!    again unless it is another (raced) signup's, so nothing is left half-made. A crash between
//!    4 and 5 leaves at most a Stripe customer with no charges, which the same signup retried
//!    adopts (Stripe replays it).

use std::time::Instant;

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::api_keys::NewApiKey;
use crate::app::AppState;
use crate::client_ip::{client_ip, limit_key};
use crate::domain::{CustomerId, CustomerName, Email, Plan, SignupSource};
use crate::error::{ApiError, ErrorBody};
use crate::idempotency::{self, ClientKey, OptionalClientKey};
use crate::ledger::{self, CreditSource, LedgerEntry};
use crate::openapi::bodies::{JsonBodyRejections, SignupRequest as SignupBody};
use crate::openapi::{IdempotencyKey, PaymentProviderFailed, RateLimited, ValidationFailed};
use crate::outbox;
use crate::pricing::TRIAL_CREDITS;
use crate::request::{Fields, JsonObject};
use crate::stripe::Form;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A valid signup request.
#[derive(Debug, Clone)]
pub struct SignupRequest {
    pub email: Email,
    pub name: CustomerName,
    pub source: SignupSource,
}

impl SignupRequest {
    pub fn parse(body: JsonObject) -> Result<SignupRequest, ApiError> {
        // Control characters are refused in every text field (the name's and the e-mail's
        // parsers refuse them; the source is an identifier).
        let mut fields = Fields::new(body);
        let email = fields.required_str("email");
        let email = fields.parse("email", email, Email::parse);
        let name = fields.required_str("name");
        let name = fields.parse("name", name, CustomerName::parse);
        let source = fields.optional_str("source");
        let source = match source {
            Some(raw) => fields.parse("source", Some(raw), SignupSource::parse),
            None => Some(SignupSource::direct()),
        };
        fields.finish()?;
        match (email, name, source) {
            (Some(email), Some(name), Some(source)) => Ok(SignupRequest { email, name, source }),
            _ => Err(ApiError::Internal("field errors were not reported".into())),
        }
    }

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

/// The route, as idempotency keys record it.
const ROUTE: &str = "POST /api/v1/customers";

/// Signs a customer up: a Stripe customer, 5 trial credits, an API key and the welcome e-mails.
#[utoipa::path(
    post,
    path = "/api/v1/customers",
    tag = "customers",
    params(IdempotencyKey),
    request_body = SignupBody,
    responses(
        (status = 201, description = "Signed up, on the trial plan with 5 credits; `api_key` is shown only here", body = OnboardedCustomer),
        (status = 409, description = "The e-mail address is taken (`email_taken`)", body = ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        (status = 502, response = PaymentProviderFailed),
        JsonBodyRejections,
    ),
)]
pub async fn create_customer(
    State(state): State<AppState>,
    OptionalClientKey(key): OptionalClientKey,
    request: Request,
) -> Result<(StatusCode, Json<OnboardedCustomer>), ApiError> {
    if let Err(refused) = check_signup_limit(&state, &request) {
        state.metrics.onboarding("rate_limited");
        return Err(refused);
    }
    let body = JsonObject::from_request(request, &state).await;
    let request = match body.and_then(SignupRequest::parse) {
        Ok(request) => request,
        Err(err) => {
            state.metrics.onboarding("invalid");
            return Err(err);
        }
    };
    let result = onboard(&state, &request, key.as_ref()).await;
    state.metrics.onboarding(match &result {
        Ok(_) => "created",
        Err(ApiError::Conflict { .. }) => "duplicate",
        Err(ApiError::Stripe(_)) => "stripe_failed",
        Err(_) => "failed",
    });
    let customer = result?;
    tracing::info!(customer = %customer.customer_id, source = customer.source.as_str(), "customer onboarded");
    Ok((StatusCode::CREATED, Json(customer)))
}

/// The per-client-IP signup limit.
fn check_signup_limit(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let Some(limiter) = state.signup_limiter.as_ref() else { return Ok(()) };
    let Some(peer) = crate::server::peer_of(request.extensions()) else {
        // Not served through the server loop (a test calling the router directly): no peer.
        return Ok(());
    };
    let client = client_ip(peer.ip(), request.headers(), &state.trusted_proxies);
    limiter.try_acquire(limit_key(client), Instant::now()).map_err(|retry_after| {
        tracing::info!(client = %client, "signup refused by the per-IP limit");
        ApiError::rate_limited(&state.metrics, "signup_ip", retry_after)
    })
}

/// Runs the whole onboarding (see the module documentation).
pub async fn onboard(
    state: &AppState,
    request: &SignupRequest,
    client_key: Option<&ClientKey>,
) -> Result<OnboardedCustomer, ApiError> {
    let fingerprint = idempotency::fingerprint(
        ROUTE,
        &[&request.email.as_str().to_lowercase(), request.name.as_str(), request.source.as_str()],
    );
    if let Some(key) = client_key {
        idempotency::check(&mut *state.pool.acquire().await?, SCOPE, key, ROUTE, &fingerprint).await?;
    }
    let taken = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM customers WHERE lower(email) = lower($1)) AS "taken!""#,
        request.email.as_str()
    )
    .fetch_one(&state.pool)
    .await?;
    if taken {
        return Err(email_taken(&request.email));
    }

    let digest = request.idempotency_digest(client_key.map(ClientKey::as_str));
    // The id is derived from the request too, so that a retry sends Stripe identical
    // parameters (Stripe refuses a reused key with different ones).
    let customer =
        CustomerId(uuid::Builder::from_random_bytes(digest[..16].try_into().unwrap_or_default()).into_uuid());
    let form = Form::new()
        .set("email", request.email.as_str())
        .set("name", request.name.as_str())
        .metadata("customer_id", customer)
        .metadata("source", request.source.as_str());
    let form = match &state.config.stripe_test_clock {
        Some(clock) => form.set("test_clock", clock),
        None => form,
    };
    let stripe_key = format!("onboarding-{}", hex::encode(&digest[..20]));
    let stripe_customer = state.stripe.create_customer(form, &stripe_key).await?;

    let now = state.clock.now();
    let key = NewApiKey::generate();
    let stored =
        store_customer(state, request, customer, &stripe_customer.id, &key, client_key, &fingerprint, now).await;
    let grant = match stored {
        Ok(grant) => grant,
        Err(err) => {
            undo_stripe_customer(state, &stripe_customer.id).await;
            let constraint = match &err {
                ApiError::Database(db) => db.as_database_error().and_then(|db| db.constraint()),
                _ => None,
            };
            return Err(match constraint {
                Some("customers_email_unique" | "customers_pkey") => email_taken(&request.email),
                _ => err,
            });
        }
    };
    // The welcome e-mail is due now: wake the dispatcher rather than wait for its next poll.
    state.outbox_wake.notify_one();
    state.metrics.credits_granted(CreditSource::TrialSignup, TRIAL_CREDITS);

    Ok(OnboardedCustomer {
        customer_id: customer,
        email: request.email.clone(),
        name: request.name.clone(),
        source: request.source.clone(),
        plan: Plan::Trial,
        credit_balance: grant.balance_after,
        stripe_customer_id: stripe_customer.id,
        api_key: key.secret,
        api_key_id: key.id,
        created_at: now,
    })
}

/// Idempotency keys of signups share one scope (there is no customer yet).
const SCOPE: &str = "signup";

/// The one transaction that makes the customer: every row, or none.
#[allow(clippy::too_many_arguments)]
async fn store_customer(
    state: &AppState,
    request: &SignupRequest,
    customer: CustomerId,
    stripe_customer: &str,
    key: &NewApiKey,
    client_key: Option<&ClientKey>,
    fingerprint: &[u8],
    now: DateTime<Utc>,
) -> Result<LedgerEntry, ApiError> {
    let mut tx = state.pool.begin().await?;
    sqlx::query!(
        "INSERT INTO customers (id, email, name, source, plan, stripe_customer_id, created_at)
         VALUES ($1, $2, $3, $4, 'trial', $5, $6)",
        customer.0,
        request.email.as_str(),
        request.name.as_str(),
        request.source.as_str(),
        stripe_customer,
        now
    )
    .execute(&mut *tx)
    .await?;
    key.insert(&mut tx, customer, now).await?;
    let grant = ledger::append(&mut tx, customer, TRIAL_CREDITS, CreditSource::TrialSignup, None, now).await.map_err(
        |err| match err {
            ledger::AppendError::Database(err) => ApiError::Database(err),
            other => ApiError::Internal(other.to_string()),
        },
    )?;
    outbox::schedule_welcome_sequence(&mut tx, customer, now).await?;
    if let Some(client_key) = client_key {
        idempotency::remember(&mut tx, SCOPE, client_key, ROUTE, fingerprint, now).await?;
    }
    tx.commit().await?;
    Ok(grant)
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

fn email_taken(email: &Email) -> ApiError {
    ApiError::Conflict {
        code: "email_taken",
        message: format!(
            "a customer with the e-mail {email} already exists: use its API key, or sign up with another address"
        ),
    }
}

/// `POST /api/v1/customers`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_customer))
}
