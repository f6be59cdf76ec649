//! What tests do to a customer again and again, written once for the service's tests, the journeys and the load
//! tool: use up the credits, wait for a balance, make a customer Pro. Each reads like the step it is
//! (`customer.use_all_credits()`), fails with what it expected and what it saw, and polls instead of sleeping.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::client::ApiClient;
use crate::stack::Stack;
use crate::wait::wait_until;

/// How long a customer helper waits for an effect (a webhook's credits) before failing.
pub const EFFECT_DEADLINE: Duration = Duration::from_secs(15);

/// The card the helpers add: Stripe's test Visa, which always pays.
pub const PAYING_CARD: &str = "pm_card_visa";

impl ApiClient {
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

    /// Adds [`PAYING_CARD`] with billing consent, subscribes to Pro, and waits until the first invoice's credits
    /// were granted (they come with the `invoice.paid` webhook, not with the subscription); returns the usage
    /// summary that showed them.
    pub async fn become_pro(&self) -> anyhow::Result<Value> {
        self.add_payment_method(PAYING_CARD, true).await??;
        let subscribed = self.subscribe_to_pro().await??;
        anyhow::ensure!(subscribed["plan"] == "pro", "subscribing to Pro answered {subscribed}");
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
    /// A customer signed up as `email` who is on Pro with the first invoice's credits ([`ApiClient::become_pro`]).
    pub async fn pro_customer(&self, email: &str) -> anyhow::Result<ApiClient> {
        let (_, customer) = self.signed_up_customer(email).await?;
        customer.become_pro().await?;
        Ok(customer)
    }
}
