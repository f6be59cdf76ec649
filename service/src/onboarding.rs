//! Onboarding: `POST /api/v1/customers`.
//!
//! One transaction makes the customer row, the Stripe customer, the API key, the trial
//! credits and the welcome e-mail schedule; any failure rolls all of it back, so nothing is
//! left half-made. The Stripe call is the only step outside the database: its
//! `Idempotency-Key`, and the customer id sent with it, are derived from the request, so a
//! retried signup makes Stripe replay the same customer instead of creating a second one.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::api_keys::NewApiKey;
use crate::app::AppState;
use crate::domain::{CustomerId, CustomerName, Email, Plan, SignupSource};
use crate::error::ApiError;
use crate::ledger::{self, CreditSource, TRIAL_CREDITS};
use crate::outbox;
use crate::request::{Fields, JsonObject};
use crate::stripe::Form;

/// A valid signup request.
#[derive(Debug, Clone)]
pub struct SignupRequest {
    pub email: Email,
    pub name: CustomerName,
    pub source: SignupSource,
}

impl SignupRequest {
    pub fn parse(body: JsonObject) -> Result<SignupRequest, ApiError> {
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
#[derive(Debug, Serialize)]
pub struct OnboardedCustomer {
    pub customer_id: CustomerId,
    pub email: Email,
    pub name: CustomerName,
    pub source: SignupSource,
    pub plan: Plan,
    pub credit_balance: i32,
    pub stripe_customer_id: String,
    pub api_key: String,
    pub api_key_id: Uuid,
    pub created_at: DateTime<Utc>,
}

pub async fn create_customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<(StatusCode, Json<OnboardedCustomer>), ApiError> {
    let request = SignupRequest::parse(body);
    let request = match request {
        Ok(request) => request,
        Err(err) => {
            state.metrics.onboarding("invalid");
            return Err(err);
        }
    };
    let client_key = headers.get("idempotency-key").and_then(|value| value.to_str().ok());
    let result = onboard(&state, &request, client_key).await;
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

/// Runs the whole onboarding in one transaction.
pub async fn onboard(
    state: &AppState,
    request: &SignupRequest,
    client_key: Option<&str>,
) -> Result<OnboardedCustomer, ApiError> {
    let digest = request.idempotency_digest(client_key);
    // The id is derived from the request too, so that a retry sends Stripe identical
    // parameters (Stripe refuses a reused key with different ones).
    let customer =
        CustomerId(uuid::Builder::from_random_bytes(digest[..16].try_into().unwrap_or_default()).into_uuid());
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;

    let inserted = sqlx::query(
        "INSERT INTO customers (id, email, name, source, plan, created_at) VALUES ($1, $2, $3, $4, 'trial', $5)",
    )
    .bind(customer.0)
    .bind(request.email.as_str())
    .bind(request.name.as_str())
    .bind(request.source.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(err) = inserted {
        return Err(match err.as_database_error().and_then(|db| db.constraint()) {
            Some("customers_email_unique" | "customers_pkey") => ApiError::Conflict {
                code: "email_taken",
                message: format!(
                    "a customer with the e-mail {} already exists: use its API key, or sign up with another address",
                    request.email
                ),
            },
            _ => err.into(),
        });
    }

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

    sqlx::query("UPDATE customers SET stripe_customer_id = $2 WHERE id = $1")
        .bind(customer.0)
        .bind(&stripe_customer.id)
        .execute(&mut *tx)
        .await?;
    let key = NewApiKey::generate();
    key.insert(&mut tx, customer, now).await?;
    let grant = ledger::append(&mut tx, customer, TRIAL_CREDITS, CreditSource::TrialSignup, None, now)
        .await
        .map_err(|err| ApiError::Internal(err.to_string()))?;
    outbox::schedule_welcome_sequence(&mut tx, customer, now).await?;
    tx.commit().await?;
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
