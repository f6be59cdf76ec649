//! The world a journey acts on: the service's API, Stripe's own API, the service's webhook
//! endpoint (events signed as Stripe signs them), and — locally only — the stack with its fakes.
//!
//! The same journey runs on a local stack and against a deployed service on a Stripe test-mode
//! account. So Stripe is read through its API, never through the fake's handle: a journey finds
//! its events by listing `/v1/events` back to the newest event before it began (Stripe cannot
//! filter events by customer, and on a deployed target other journeys and other people create
//! events at the same time), and moves time with the test clock Stripe says its customer is on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use billing_fakes::stripe::stripe_signature;
use billing_service::clock::ManualClock;
use billing_stack::StripeApi;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::client::{ApiClient, Signup};
use crate::stack::Stack;

/// How long a journey waits for an effect (a webhook, an e-mail) before failing.
pub use billing_stack::customers::EFFECT_DEADLINE;

/// How long a Stripe test clock may take to advance. Real Stripe takes seconds, sometimes more,
/// when the clock carries many customers.
pub const TEST_CLOCK_DEADLINE: Duration = Duration::from_secs(60);

/// Where the service receives Stripe's events.
pub const WEBHOOK_PATH: &str = "/api/webhooks/stripe";

/// How long a signup waits out a deployed service's signup rate limit before it fails.
pub const SIGNUP_RATE_LIMIT_WAIT: Duration = Duration::from_secs(75);

/// A journey that found, while running, that the target cannot give what it needs (e.g. its
/// customers are on no Stripe test clock): it ends as skipped with this reason, not as failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Skip(pub String);

/// Everything a journey acts on.
pub struct World {
    /// The service's API, without a key.
    pub api: ApiClient,
    /// The local stack, when there is one: for what only the fakes can do.
    pub stack: Option<Arc<Stack>>,
    /// Stripe's own API: the stack's fake locally, a test-mode account against a deployed target.
    pub stripe: Option<StripeApi>,
    /// The signing secret of the service's webhook endpoint, for events the journey delivers.
    pub webhook_secret: Option<String>,
    /// Whether Stripe delivers events to the service by itself while the journey runs: always
    /// against a deployed target; locally not for [`super::Need::ManualWebhooks`] journeys.
    pub stripe_delivers_events: bool,
    /// The service clock, when the journey asked for one ([`super::Need::ServiceClock`]).
    pub clock: Option<ManualClock>,
    /// Makes e-mail addresses unique on a shared (deployed) target.
    pub run_id: String,
    /// An existing customer's key ([`super::Need::ExistingApiKey`]).
    pub existing_api_key: Option<String>,
    /// The newest Stripe event before the journey began; the journey's events come after it.
    pub events_marker: Option<String>,
    /// Shared by the journeys of a run against a deployed target: one signup at a time, in the
    /// order they asked, so journeys waiting out the service's signup limit are served first
    /// come, first served rather than whoever retries luckiest.
    pub signup_queue: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The service's ids of the customers this journey signed up.
    signed_up: Mutex<Vec<String>>,
}

impl World {
    /// A world with only the service's API; the runner fills in the rest.
    pub fn new(api: ApiClient, run_id: String) -> World {
        World {
            api,
            stack: None,
            stripe: None,
            webhook_secret: None,
            stripe_delivers_events: true,
            clock: None,
            run_id,
            existing_api_key: None,
            events_marker: None,
            signup_queue: None,
            signed_up: Mutex::default(),
        }
    }

    /// A unique address for a test customer, e.g. `ada+e2e-1f3c…@example.com`.
    pub fn email(&self, who: &str) -> String {
        format!("{who}+e2e-{}@example.com", self.run_id)
    }

    pub fn stack(&self) -> anyhow::Result<&Stack> {
        self.stack.as_deref().context("this journey needs the local stack")
    }

    pub fn stripe(&self) -> anyhow::Result<&StripeApi> {
        self.stripe.as_ref().context("this journey needs Stripe's API (STRIPE_SECRET_KEY against a deployed target)")
    }

    /// Signs a customer up and returns the signup and a client holding their key.
    ///
    /// A deployed service limits signups per client address (the reference service: 10 a
    /// minute), and a whole run signs up a customer per journey from one address: a `429` is
    /// waited out as its `Retry-After` says, for up to [`SIGNUP_RATE_LIMIT_WAIT`], one journey
    /// at a time ([`World::signup_queue`]).
    pub async fn signup(&self, who: &str, source: Option<&str>) -> anyhow::Result<(Signup, ApiClient)> {
        let _turn = match &self.signup_queue {
            Some(queue) => Some(queue.lock().await),
            None => None,
        };
        let (email, name) = (self.email(who), format!("{who} (e2e)"));
        let signup = match self.api.signup_waiting_out_the_limit(&email, &name, source, SIGNUP_RATE_LIMIT_WAIT).await? {
            Ok(signup) => signup,
            Err(failure) if failure.status == StatusCode::TOO_MANY_REQUESTS => {
                return Err(anyhow::Error::new(failure).context(
                    "the service kept refusing signups from this address: raise its signup limit (the reference \
                     service's SIGNUP_RATE_PER_MINUTE) for the runner, or run fewer journeys at once",
                ));
            }
            Err(failure) => return Err(anyhow::Error::new(failure).context("signup failed")),
        };
        self.signed_up.lock().unwrap_or_else(|p| p.into_inner()).push(signup.customer_id.clone());
        let client = self.api.with_key(&signup.api_key);
        Ok((signup, client))
    }

    /// The service's ids of the customers this journey signed up so far.
    pub fn signed_up_customers(&self) -> Vec<String> {
        self.signed_up.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A customer signed up as `who` who is on Pro with the first invoice's credits.
    pub async fn pro_customer(&self, who: &str) -> anyhow::Result<(Signup, ApiClient)> {
        let (signup, customer) = self.signup(who, None).await?;
        customer.become_pro().await?;
        Ok((signup, customer))
    }

    /// Waits until the customer's usage summary satisfies `holds` (`what` names it when it never does).
    pub async fn usage_becomes(
        &self,
        customer: &ApiClient,
        what: &str,
        holds: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        crate::wait_until(what, EFFECT_DEADLINE, || async {
            let usage = customer.usage().await??;
            Ok(holds(&usage).then_some(usage))
        })
        .await
    }

    /// The Stripe events about one Stripe customer since the journey began, oldest first.
    pub async fn customer_events(&self, stripe_customer: &str) -> anyhow::Result<Vec<Value>> {
        let events = self.stripe()?.events_after(self.events_marker.as_deref()).await?;
        Ok(events.into_iter().filter(|event| event_customer(event) == Some(stripe_customer)).collect())
    }

    /// Waits until Stripe has an event of type `kind` about the customer for which `matches`
    /// holds, and returns the newest such.
    pub async fn wait_for_event(
        &self,
        stripe_customer: &str,
        kind: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        crate::wait_until(&format!("a {kind} event about {stripe_customer} in Stripe"), EFFECT_DEADLINE, || async {
            let events = self.customer_events(stripe_customer).await?;
            Ok(events.into_iter().rev().find(|event| event["type"] == kind && matches(event)))
        })
        .await
    }

    /// POSTs an event to the service's webhook endpoint, signed with its secret as Stripe signs
    /// (`t=…,v1=HMAC-SHA256`), and returns the answer.
    pub async fn deliver(&self, event: &Value) -> anyhow::Result<(StatusCode, Value)> {
        let secret = self.webhook_secret.as_deref().context(
            "this journey delivers events itself: it needs the service's webhook signing secret (STRIPE_WEBHOOK_SECRET)",
        )?;
        let payload = serde_json::to_string(event)?;
        let signature = stripe_signature(payload.as_bytes(), secret, chrono::Utc::now().timestamp());
        let response = self
            .api
            .request(Method::POST, WEBHOOK_PATH)
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(payload)
            .send()
            .await?;
        crate::client::status_and_body(response).await
    }

    /// The Stripe test clock the service put this customer on. Skips the journey when there is
    /// none: the deployment creates its customers on real time, which a journey cannot move.
    pub async fn test_clock_of(&self, signup: &Signup) -> anyhow::Result<String> {
        let customer = self.stripe()?.customer(&signup.stripe_customer_id).await?;
        match &customer["test_clock"] {
            Value::String(id) => Ok(id.clone()),
            Value::Object(clock) if clock["id"].is_string() => Ok(clock["id"].as_str().unwrap_or_default().to_string()),
            _ => Err(Skip(format!(
                "the service creates its Stripe customers without a test clock ({} has none), so Stripe's time cannot \
                 be moved for them: give the deployment a test clock (the reference service's STRIPE_TEST_CLOCK)",
                signup.stripe_customer_id
            ))
            .into()),
        }
    }

    /// Moves the Stripe test clock `by` forward and waits until Stripe is done with it.
    pub async fn advance_stripe_clock(&self, clock: &str, by: Duration) -> anyhow::Result<()> {
        self.stripe()?.advance_test_clock(clock, by, TEST_CLOCK_DEADLINE).await?;
        Ok(())
    }
}

/// The Stripe customer an event is about: the customer itself, or the `customer` of the
/// invoice, subscription, PaymentIntent or payment method it carries.
pub fn event_customer(event: &Value) -> Option<&str> {
    let object = &event["data"]["object"];
    if object["object"] == "customer" {
        return object["id"].as_str();
    }
    match &object["customer"] {
        Value::String(id) => Some(id),
        Value::Object(customer) => customer.get("id").and_then(Value::as_str),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::event_customer;

    #[test]
    fn an_event_is_about_the_customer_it_carries_or_names() {
        let created = json!({"type": "customer.created", "data": {"object": {"object": "customer", "id": "cus_1"}}});
        let paid = json!({"type": "invoice.paid", "data": {"object": {"object": "invoice", "customer": "cus_2"}}});
        let expanded = json!({"data": {"object": {"object": "subscription", "customer": {"id": "cus_3"}}}});
        let price = json!({"type": "price.created", "data": {"object": {"object": "price", "id": "price_1"}}});
        assert_eq!(event_customer(&created), Some("cus_1"));
        assert_eq!(event_customer(&paid), Some("cus_2"));
        assert_eq!(event_customer(&expanded), Some("cus_3"));
        assert_eq!(event_customer(&price), None);
    }
}
