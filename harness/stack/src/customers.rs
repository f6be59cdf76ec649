//! What tests do to a customer again and again, written once for the service's tests, the journeys and the load
//! tool: sign up (waiting out the service's signup limit as its `Retry-After` says), use up the credits, wait for a
//! balance, make a customer Pro. Each reads like the step it is (`customer.use_all_credits()`), fails with what it
//! expected and what it saw, and polls or waits as the service says instead of sleeping a fixed time.

use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::Value;

use crate::client::{ApiClient, Signup};
use crate::requests::{ApiFailure, ApiRequest};
use crate::stack::Stack;
use crate::wait::wait_until;

/// How long a customer helper waits for an effect (a webhook's credits) before failing.
pub const EFFECT_DEADLINE: Duration = Duration::from_secs(15);

/// The card the helpers add: Stripe's test Visa, which always pays.
pub const PAYING_CARD: &str = "pm_card_visa";

/// How long a `429` without a usable `Retry-After` is waited out before the next try.
const RETRY_AFTER_DEFAULT: Duration = Duration::from_secs(1);

impl ApiClient {
    /// `POST /api/v1/customers`, waiting out the service's signup limit: a `429` is tried again after the
    /// `Retry-After` (seconds) it carries — 1 s when it carries none — as long as the whole wait stays within
    /// `patience`; any other answer, or the `429` that would overrun `patience`, is returned.
    ///
    /// The service limits signups per client address (the reference service: `SIGNUP_RATE_PER_MINUTE`), and a
    /// journey run or a load tool's set-up signs many customers up from one address. Trying sooner than
    /// `Retry-After` says would only be refused again.
    pub async fn signup_waiting_out_the_limit(
        &self,
        email: &str,
        name: &str,
        source: Option<&str>,
        patience: Duration,
    ) -> anyhow::Result<Result<Signup, ApiFailure>> {
        let request = ApiRequest::signup(email, name, source);
        let waiting_since = tokio::time::Instant::now();
        loop {
            let (status, headers, body) = self.execute_with_headers(&request).await?;
            if status == StatusCode::TOO_MANY_REQUESTS {
                let retry_after = headers
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
                    .map_or(RETRY_AFTER_DEFAULT, |secs| Duration::from_secs(secs.max(1)));
                if waiting_since.elapsed() + retry_after <= patience {
                    tokio::time::sleep(retry_after).await;
                    continue;
                }
            }
            return Ok(request.decode(status, &body));
        }
    }

    /// Uses up the customer's credits with fixes, each of which must be paid with a credit.
    pub async fn use_all_credits(&self) -> anyhow::Result<()> {
        let balance = self.usage().await??["credit_balance"].as_i64().context("a usage summary without a balance")?;
        for _ in 0..balance {
            let fix = self.record_fix("using up the credits").await??;
            anyhow::ensure!(fix["paid_with"] == "credit", "expected a fix paid with a credit, got {fix}");
        }
        Ok(())
    }

    /// Waits until the customer's credit balance is `expected`; returns the usage summary that showed it.
    pub async fn balance_becomes(&self, expected: i64) -> anyhow::Result<Value> {
        wait_until(&format!("a credit balance of {expected}"), EFFECT_DEADLINE, || async {
            let usage = self.usage().await??;
            Ok((usage["credit_balance"] == expected).then_some(usage))
        })
        .await
    }

    /// Adds [`PAYING_CARD`] with billing consent and subscribes to Pro; returns the Stripe subscription's id.
    /// The first invoice's credits come later, with its `invoice.paid` webhook: [`ApiClient::become_pro`] waits
    /// for them; this is for a stack that delivers no events by itself, or a set-up that does not need them.
    pub async fn subscribe_to_pro_with_a_card(&self) -> anyhow::Result<String> {
        self.add_payment_method(PAYING_CARD, true).await?.context("adding a card with billing consent")?;
        let subscribed = self.subscribe_to_pro().await?.context("subscribing to Pro")?;
        anyhow::ensure!(subscribed["plan"] == "pro", "subscribing to Pro answered {subscribed}");
        subscribed["stripe_subscription_id"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("the Pro subscription's answer names no stripe_subscription_id: {subscribed}"))
    }

    /// Subscribes to Pro with [`PAYING_CARD`] ([`ApiClient::subscribe_to_pro_with_a_card`]) and waits until the
    /// first invoice's credits were granted (they come with the `invoice.paid` webhook, not with the
    /// subscription); returns the usage summary that showed them.
    pub async fn become_pro(&self) -> anyhow::Result<Value> {
        self.subscribe_to_pro_with_a_card().await?;
        wait_until("the first Pro invoice's credits", EFFECT_DEADLINE, || async {
            let usage = self.usage().await??;
            let granted = usage["transactions"]
                .as_array()
                .is_some_and(|entries| entries.iter().any(|entry| entry["source"] == "pro_invoice"));
            Ok(granted.then_some(usage))
        })
        .await
    }
}

impl Stack {
    /// Signs a customer up (waiting out the signup limit for up to [`EFFECT_DEADLINE`], as
    /// [`ApiClient::signup_waiting_out_the_limit`] does) and returns a client authenticated with their key.
    pub async fn signed_up_customer(&self, email: &str) -> anyhow::Result<(Signup, ApiClient)> {
        let signup = self.api().signup_waiting_out_the_limit(email, "Test Customer", None, EFFECT_DEADLINE).await??;
        let client = self.api().with_key(&signup.api_key);
        Ok((signup, client))
    }

    /// A customer signed up as `email` who is on Pro with the first invoice's credits ([`ApiClient::become_pro`]).
    pub async fn pro_customer(&self, email: &str) -> anyhow::Result<ApiClient> {
        let (_, customer) = self.signed_up_customer(email).await?;
        customer.become_pro().await?;
        Ok(customer)
    }
}
