//! The customer journeys: whole paths a customer takes through the service, each an async
//! function over a [`World`], registered by name with what it needs beyond the public API.
//!
//! Locally every journey gets a stack of its own (its own database, fakes and service), so
//! they run in parallel. Against a deployed target only the journeys that need nothing but
//! the HTTP API run, with uniquely named customers; the others are reported as skipped.

mod access;
mod billing;
mod chaos;
mod email;
mod onboarding;
mod pro;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use billing_service::clock::ManualClock;
use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::client::{ApiClient, Signup};
use crate::stack::Stack;

/// What a journey needs beyond the service's public HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The Stripe fake: its objects, request log, events and test clock.
    StripeControl,
    /// Webhooks not delivered by the fake: the journey delivers (and re-delivers) them itself.
    ManualWebhooks,
    /// The e-mail fake's inbox.
    EmailInbox,
    /// A service clock the journey moves (e-mail schedules).
    ServiceClock,
    /// The API key of an existing customer (`--api-key` against a deployed target; a fresh
    /// signup locally).
    ExistingApiKey,
    /// A stack for chaos: the service as a child process it can kill, a PostgreSQL server of
    /// its own it can restart, a short Stripe timeout and a quick reconciler.
    Chaos,
}

pub type JourneyFn = for<'a> fn(&'a World) -> BoxFuture<'a, anyhow::Result<()>>;

/// A registered journey.
#[derive(Clone, Copy)]
pub struct Journey {
    pub name: &'static str,
    pub description: &'static str,
    pub needs: &'static [Need],
    pub run: JourneyFn,
}

impl Journey {
    /// Whether it can run against a deployed target (needs nothing but the API, and an
    /// existing key only if one was given).
    pub fn runs_against_deployed_target(&self, has_api_key: bool) -> bool {
        self.needs.iter().all(|need| *need == Need::ExistingApiKey && has_api_key)
    }
}

/// Everything a journey acts on.
pub struct World {
    /// The service's API, without a key.
    pub api: ApiClient,
    /// The local stack, when there is one.
    pub stack: Option<Arc<Stack>>,
    /// The service clock, when the journey asked for one ([`Need::ServiceClock`]).
    pub clock: Option<ManualClock>,
    /// Makes e-mail addresses unique on a shared (deployed) target.
    pub run_id: String,
    /// An existing customer's key ([`Need::ExistingApiKey`]).
    pub existing_api_key: Option<String>,
}

/// How long a journey waits for an effect (a webhook, an e-mail) before failing.
pub const EFFECT_DEADLINE: Duration = Duration::from_secs(15);

impl World {
    /// A unique address for a test customer, e.g. `ada+e2e-1f3c…@example.com`.
    pub fn email(&self, who: &str) -> String {
        format!("{who}+e2e-{}@example.com", self.run_id)
    }

    pub fn stack(&self) -> anyhow::Result<&Stack> {
        self.stack.as_deref().context("this journey needs the local stack")
    }

    /// Signs a customer up and returns the signup and a client holding their key.
    pub async fn signup(&self, who: &str, source: Option<&str>) -> anyhow::Result<(Signup, ApiClient)> {
        let signup = self.api.signup(&self.email(who), &format!("{who} (e2e)"), source).await??;
        let client = self.api.with_key(&signup.api_key);
        Ok((signup, client))
    }

    /// Waits until the customer's balance is `expected`.
    pub async fn balance_becomes(&self, customer: &ApiClient, expected: i64) -> anyhow::Result<Value> {
        crate::wait_until(&format!("a credit balance of {expected}"), EFFECT_DEADLINE, || async {
            let usage = customer.usage().await??;
            Ok((usage["credit_balance"] == expected).then_some(usage))
        })
        .await
    }
}

/// Uses up a customer's credits with fixes.
pub async fn use_all_credits(customer: &ApiClient) -> anyhow::Result<()> {
    let balance = customer.usage().await??["credit_balance"].as_i64().context("usage without a balance")?;
    for _ in 0..balance {
        let fix = customer.record_fix("using up the credits").await??;
        anyhow::ensure!(fix["paid_with"] == "credit", "expected a fix paid with a credit, got {fix}");
    }
    Ok(())
}

/// Fails with `message` and the value when `condition` is false.
#[macro_export]
macro_rules! check {
    ($condition:expr, $($message:tt)+) => {
        anyhow::ensure!($condition, $($message)+)
    };
}

/// Registers journeys: `name(needs…): "what it proves"`.
macro_rules! journeys {
    ($( $module:ident :: $name:ident ( $($need:ident),* ) : $description:literal ),* $(,)?) => {
        /// Every journey, in the order.
        pub fn all() -> Vec<Journey> {
            vec![$(
                Journey {
                    name: stringify!($name),
                    description: $description,
                    needs: &[$(Need::$need),*],
                    run: |world| Box::pin($module::$name(world)),
                },
            )*]
        }
    };
}

journeys! {
    onboarding::trial_signup_first_fix(EmailInbox): "trial signup is provisioned (Stripe customer, key, 5 credits), the first fix takes 5 → 4, the welcome e-mail is delivered",
    onboarding::trial_out_of_credits_is_refused(): "a trial customer without credits or a payment method is refused a fix with 402",
    billing::payg_after_payment_method(StripeControl): "a payment method with consent makes a trial pay-as-you-go; beyond the credits each fix is a $29 charge in Stripe",
    onboarding::marketplace_signup_keeps_its_source(): "a GitHub Marketplace signup keeps source gh_marketplace through usage (and in Stripe's metadata locally)",
    billing::payment_method_with_consent_is_accepted(): "a payment method with billing consent is accepted and becomes the default",
    billing::payment_method_without_consent_is_rejected(StripeControl): "without billing consent the payment method is refused with 422 and nothing reaches Stripe",
    pro::pro_credits_arrive_when_the_invoice_is_paid(StripeControl, ManualWebhooks): "Pro grants 60 credits when the invoice.paid webhook arrives, not when subscribing",
    pro::pro_renewal_grants_once_even_when_delivered_twice(StripeControl): "advancing the Stripe clock a period renews Pro and grants 60 more, once, with every webhook delivered twice",
    billing::pro_beyond_credits_costs_15_dollars(StripeControl): "a Pro customer beyond the credits is charged $15 per fix",
    billing::cancelling_pro_now_is_pay_as_you_go_at_once(StripeControl): "cancelling Pro immediately moves to pay-as-you-go ($29) at once",
    pro::cancelling_at_period_end_keeps_pro_until_it_ends(StripeControl): "cancelling at period end keeps the $15 Pro rate until the clock passes the end, then $29",
    onboarding::usage_summary_shows_the_full_history(): "the usage summary lists every transaction, newest first, page by page",
    onboarding::low_credit_warning(): "at 2 credits or fewer the usage summary warns low_credits",
    onboarding::critical_warning(): "no credits and no payment method is a critical warning",
    billing::declined_card_on_a_payg_fix_changes_nothing(): "a declined card on a pay-as-you-go fix is a 402 with the reason and nothing is consumed",
    pro::failed_renewal_is_past_due_with_a_warning(StripeControl): "a renewal whose payment fails leaves Pro past_due with a payment_failed warning",
    pro::duplicate_and_out_of_order_webhooks_grant_once(StripeControl, ManualWebhooks): "every event delivered three times in shuffled order still grants the Pro credits once",
    access::api_key_rotation_and_revocation(): "a second key works, the revoked first key gets 401 at once",
    access::credential_vending_and_its_rate_limit(): "API keys vend short-lived provider credentials, and too many requests get 429 with Retry-After",
    email::the_welcome_sequence_follows_the_clock(EmailInbox, ServiceClock): "the five welcome e-mails go out on days 0, 1, 3, 5 and 7, each once",
    access::an_existing_customer_reads_usage_and_vends_credentials(ExistingApiKey): "an existing customer's key (--api-key) reads its usage summary and vends a credential",
    chaos::killed_mid_charge_nothing_is_lost_or_doubled(Chaos, StripeControl): "the service killed (SIGKILL) three times while ten charges are inside Stripe: every charge is recorded once, none is lost",
    chaos::stripe_slower_than_the_service_is_an_honest_unknown(Chaos, StripeControl): "Stripe answering after the service gave up is an honest 'outcome unknown'; the keyed retry gets the one charge",
    chaos::postgres_restarted_under_load_loses_nothing(Chaos, StripeControl): "PostgreSQL restarted while charges are in flight: 503s while it is down, then every fix paid once",
    chaos::duplicate_query_parameters_change_nothing(Chaos): "a repeated at_period_end (or limit) is a 422 and Pro stays as it was",
    chaos::hostile_inputs_on_every_endpoint_are_clear_json_errors(Chaos): "NULs, huge strings, wrong types, bad paths, headers and signatures on every route: JSON 4xx, never a 5xx",
}
