//! The customer journeys: whole paths a customer takes through the service, each an async
//! function over a [`World`], registered by name with what it needs beyond the public API.
//!
//! A journey reads and drives Stripe through **Stripe's own API** ([`World::stripe`]: retrieve
//! and list objects and events, advance test clocks) wherever real Stripe test mode offers the
//! same, and delivers events itself by signing them as Stripe does ([`World::deliver`]). Only
//! what only a fake can do (fault injection, the request log) uses the Stripe fake, and the
//! journey says so in its [`Need`]s.
//!
//! Locally every journey gets a stack of its own (its own database, fakes and service), so
//! they run in parallel. Against a deployed target every journey runs whose needs the target
//! meets ([`Journey::deployed_skip_reason`]), with uniquely named customers; the others are
//! reported as skipped, with the reason.

mod access;
mod billing;
mod chaos;
mod email;
mod onboarding;
mod pro;
pub mod world;

use futures_util::future::BoxFuture;

pub use world::{EFFECT_DEADLINE, Skip, World};

/// What a journey needs beyond the service's public HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Stripe's own API in test mode: retrieve and list customers, PaymentIntents, invoices and
    /// events. The stack's fake locally; `STRIPE_SECRET_KEY` (and `STRIPE_API_BASE`) against a
    /// deployed target.
    StripeApi,
    /// Moves the Stripe test clock the service put the journey's customer on (read from the
    /// customer in Stripe). Against a deployed target the clock is shared by every customer of
    /// the deployment, so these journeys run one at a time, after all the others.
    StripeTestClock,
    /// The journey delivers events itself, signed with the service's webhook signing secret, on
    /// top of Stripe's own deliveries (`STRIPE_WEBHOOK_SECRET` against a deployed target).
    WebhookSecret,
    /// Like [`Need::WebhookSecret`], and locally the fake delivers nothing, so the journey alone
    /// decides when each event arrives. A deployed target's Stripe delivers as well; what the
    /// journey checks holds either way.
    ManualWebhooks,
    /// What only the Stripe fake can do: fault injection, its request log (local only).
    FakeControl,
    /// The e-mail fake's inbox (local only: a deployed service's mail is not readable from here).
    EmailInbox,
    /// A service clock the journey moves (e-mail schedules; local only).
    ServiceClock,
    /// The API key of an existing customer (`--api-key` against a deployed target; a fresh
    /// signup locally).
    ExistingApiKey,
    /// A stack for chaos: the service as a child process it can kill, a PostgreSQL server of
    /// its own it can restart, a short Stripe timeout and a quick reconciler (local only).
    Chaos,
}

impl Need {
    /// Why a deployed target with `access` cannot give this, or `None` when it can.
    fn missing_on(self, access: DeployedAccess) -> Option<&'static str> {
        match self {
            Need::Chaos => Some(
                "a chaos journey (it kills the service, restarts PostgreSQL, injects Stripe faults or floods every \
                 endpoint with hostile input): local only, never against a deployment",
            ),
            Need::FakeControl => Some(
                "needs the Stripe fake's control API (fault injection, request log), which real Stripe does not have",
            ),
            Need::EmailInbox => Some("needs the service's e-mail inbox, which a deployed service does not expose"),
            Need::ServiceClock => Some(
                "needs to move the service's own clock (the welcome e-mails follow it), which a deployed service runs on real time",
            ),
            Need::StripeApi | Need::StripeTestClock if !access.stripe_api => Some(
                "needs Stripe's API: set STRIPE_SECRET_KEY to a test-mode key (and STRIPE_API_BASE when Stripe is not \
                 api.stripe.com)",
            ),
            Need::WebhookSecret | Need::ManualWebhooks if !access.webhook_secret => Some(
                "delivers signed Stripe events itself: set STRIPE_WEBHOOK_SECRET to the signing secret of the service's \
                 webhook endpoint",
            ),
            Need::ExistingApiKey if !access.api_key => Some("needs an existing customer's key: pass --api-key"),
            _ => None,
        }
    }
}

/// What a deployed target was given beyond its URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeployedAccess {
    /// An existing customer's API key (`--api-key`).
    pub api_key: bool,
    /// Stripe's API in test mode (`STRIPE_SECRET_KEY`).
    pub stripe_api: bool,
    /// The signing secret of the service's webhook endpoint (`STRIPE_WEBHOOK_SECRET`).
    pub webhook_secret: bool,
}

impl DeployedAccess {
    /// Everything a deployed target can be given.
    pub const FULL: DeployedAccess = DeployedAccess { api_key: true, stripe_api: true, webhook_secret: true };
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
    /// Why the journey cannot run against a deployed target given `access` (every missing
    /// thing, in one sentence), or `None` when it can.
    pub fn deployed_skip_reason(&self, access: DeployedAccess) -> Option<String> {
        // A chaos journey is local only, whatever else it needs: that is the whole reason.
        let needs = if self.requires(Need::Chaos) { &[Need::Chaos][..] } else { self.needs };
        let mut reasons: Vec<&str> = Vec::new();
        for reason in needs.iter().filter_map(|need| need.missing_on(access)) {
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    /// Whether the journey moves the Stripe test clock (against a deployed target: alone).
    pub fn moves_the_stripe_clock(&self) -> bool {
        self.needs.contains(&Need::StripeTestClock)
    }

    /// Whether `need` is among the journey's needs.
    pub fn requires(&self, need: Need) -> bool {
        self.needs.contains(&need)
    }
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
    onboarding::trial_signup_first_fix(StripeApi, EmailInbox): "trial signup is provisioned (Stripe customer, key, 5 credits), the first fix takes 5 → 4, the welcome e-mail is delivered",
    onboarding::trial_out_of_credits_is_refused(): "a trial customer without credits or a payment method is refused a fix with 402",
    billing::payg_after_payment_method(StripeApi): "a payment method with consent makes a trial pay-as-you-go; beyond the credits each fix is a $29 charge in Stripe",
    onboarding::marketplace_signup_keeps_its_source(): "a GitHub Marketplace signup keeps source gh_marketplace through usage (and in Stripe's metadata, when Stripe's API is given)",
    billing::payment_method_with_consent_is_accepted(): "a payment method with billing consent is accepted and becomes the default",
    billing::payment_method_without_consent_is_rejected(StripeApi): "without billing consent the payment method is refused with 422 and nothing reaches Stripe",
    pro::pro_credits_arrive_when_the_invoice_is_paid(StripeApi, ManualWebhooks): "Pro grants 60 credits when the invoice.paid webhook arrives, not when subscribing",
    pro::pro_renewal_grants_once_even_when_delivered_twice(StripeApi, StripeTestClock, WebhookSecret): "advancing the Stripe clock a period renews Pro and grants 60 more, once, with every invoice event delivered twice more",
    billing::pro_beyond_credits_costs_15_dollars(StripeApi): "a Pro customer beyond the credits is charged $15 per fix",
    billing::cancelling_pro_now_is_pay_as_you_go_at_once(StripeApi, WebhookSecret): "cancelling Pro immediately moves to pay-as-you-go ($29) at once, and the later subscription.deleted changes nothing",
    pro::cancelling_at_period_end_keeps_pro_until_it_ends(StripeApi, StripeTestClock, WebhookSecret): "cancelling at period end keeps the $15 Pro rate until the clock passes the end, then $29",
    onboarding::usage_summary_shows_the_full_history(): "the usage summary lists every transaction, newest first, page by page",
    onboarding::low_credit_warning(): "at 2 credits or fewer the usage summary warns low_credits",
    onboarding::critical_warning(): "no credits and no payment method is a critical warning",
    billing::declined_card_on_a_payg_fix_changes_nothing(): "a declined card on a pay-as-you-go fix is a 402 with the reason and nothing is consumed",
    pro::failed_renewal_is_past_due_with_a_warning(StripeApi, StripeTestClock): "a renewal whose payment fails leaves Pro past_due with a payment_failed warning",
    pro::unpaid_after_the_last_retry_loses_pro_until_a_fixed_card_pays(StripeApi, StripeTestClock): "a card that starts declining: past_due keeps Pro ($15), unpaid after Stripe's last retry is pay-as-you-go ($29), paying the invoice with a fixed card makes it active and Pro again with 60 credits",
    pro::duplicate_and_out_of_order_webhooks_grant_once(StripeApi, ManualWebhooks): "every event delivered three times in shuffled order still grants the Pro credits once",
    access::api_key_rotation_and_revocation(): "a second key works, the revoked first key gets 401 at once",
    access::credential_vending_and_its_rate_limit(): "API keys vend short-lived provider credentials, and too many requests get 429 with Retry-After",
    email::the_welcome_sequence_follows_the_clock(EmailInbox, ServiceClock): "the five welcome e-mails go out on days 0, 1, 3, 5 and 7, each once",
    access::an_existing_customer_reads_usage_and_vends_credentials(ExistingApiKey): "an existing customer's key (--api-key) reads its usage summary and vends a credential",
    chaos::killed_mid_charge_nothing_is_lost_or_doubled(Chaos, FakeControl): "the service killed (SIGKILL) three times while ten charges are inside Stripe: every charge is recorded once, none is lost",
    chaos::stripe_slower_than_the_service_is_an_honest_unknown(Chaos, FakeControl): "Stripe answering after the service gave up is an honest 'outcome unknown'; the keyed retry gets the one charge",
    chaos::stripe_charged_but_its_answer_was_lost_is_recorded_once(Chaos, FakeControl): "Stripe charges, then its answer is lost (a 500, a dropped connection): 'outcome unknown', then the charge recorded once",
    chaos::postgres_restarted_under_load_loses_nothing(Chaos, FakeControl): "PostgreSQL restarted while charges are in flight: 503s while it is down, then every fix paid once",
    chaos::duplicate_query_parameters_change_nothing(Chaos): "a repeated at_period_end (or limit) is a 422 and Pro stays as it was",
    chaos::hostile_inputs_on_every_endpoint_are_clear_json_errors(Chaos): "NULs, huge strings, wrong types, bad paths, headers and signatures on every route: JSON 4xx, never a 5xx",
    chaos::signed_events_stripe_does_not_bear_out_move_no_money(Chaos, FakeControl): "signed events Stripe does not bear out (a made-up 1-cent PaymentIntent, a 'failed' for a charge Stripe made, an invented invoice) settle, fail and grant nothing",
    chaos::a_signup_whose_answer_was_lost_is_finished_by_its_keyed_retry(Chaos, FakeControl): "a signup whose answer was lost: its keyed retry gets the first answer and a working API key, one Stripe customer",
    chaos::cancelling_what_stripe_already_ended_converges(Chaos): "a subscription Stripe already cancelled: cancel answers 200 and downgrades, subscribing again works, ten cancels at once all answer 200",
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flows added after the original suite.
    const LATER_FLOWS: [&str; 1] = ["unpaid_after_the_last_retry_loses_pro_until_a_fixed_card_pays"];

    /// The suite before the chaos journeys and the later flows: the 21 a release manager's run
    /// is measured on.
    fn original() -> Vec<Journey> {
        all()
            .into_iter()
            .filter(|journey| !journey.requires(Need::Chaos) && !LATER_FLOWS.contains(&journey.name))
            .collect()
    }

    #[test]
    fn the_later_flows_run_against_a_deployment_given_stripe_access() {
        let later: Vec<Journey> = all().into_iter().filter(|journey| LATER_FLOWS.contains(&journey.name)).collect();
        assert_eq!(later.len(), LATER_FLOWS.len());
        assert!(skipped(&later, DeployedAccess::FULL).is_empty());
        let no_stripe = DeployedAccess { stripe_api: false, ..DeployedAccess::FULL };
        assert_eq!(skipped(&later, no_stripe).len(), later.len());
    }

    fn skipped(journeys: &[Journey], access: DeployedAccess) -> Vec<(&'static str, String)> {
        journeys.iter().filter_map(|j| j.deployed_skip_reason(access).map(|reason| (j.name, reason))).collect()
    }

    #[test]
    fn given_everything_a_deployment_can_give_19_of_the_21_original_journeys_run() {
        let original = original();
        assert_eq!(original.len(), 21);

        let skipped = skipped(&original, DeployedAccess::FULL);

        let names: Vec<&str> = skipped.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["trial_signup_first_fix", "the_welcome_sequence_follows_the_clock"], "{skipped:#?}");
        assert!(original.len() - skipped.len() >= 18);
        assert!(skipped[0].1.contains("e-mail inbox"), "{}", skipped[0].1);
        assert!(skipped[1].1.contains("e-mail inbox") && skipped[1].1.contains("own clock"), "{}", skipped[1].1);
    }

    #[test]
    fn chaos_journeys_are_local_only_whatever_a_deployment_is_given() {
        for journey in all().iter().filter(|j| j.requires(Need::Chaos)) {
            let reason =
                journey.deployed_skip_reason(DeployedAccess::FULL).expect("a chaos journey never runs remotely");
            assert!(reason.contains("local only"), "{}: {reason}", journey.name);
        }
    }

    #[test]
    fn a_skip_names_every_setting_that_would_let_the_journey_run() {
        let journeys = all();
        let reason = |name: &str, access: DeployedAccess| {
            journeys.iter().find(|j| j.name == name).unwrap().deployed_skip_reason(access)
        };
        let url_and_key = DeployedAccess { api_key: true, ..Default::default() };
        let with_stripe = DeployedAccess { stripe_api: true, ..url_and_key };

        assert_eq!(reason("low_credit_warning", DeployedAccess::default()), None);
        assert!(
            reason("an_existing_customer_reads_usage_and_vends_credentials", DeployedAccess::default())
                .is_some_and(|r| r.contains("--api-key"))
        );
        assert!(reason("payg_after_payment_method", url_and_key).is_some_and(|r| r.contains("STRIPE_SECRET_KEY")));
        let both = reason("duplicate_and_out_of_order_webhooks_grant_once", url_and_key).unwrap();
        assert!(both.contains("STRIPE_SECRET_KEY") && both.contains("STRIPE_WEBHOOK_SECRET"), "{both}");
        let secret = reason("pro_renewal_grants_once_even_when_delivered_twice", with_stripe).unwrap();
        assert!(secret.contains("STRIPE_WEBHOOK_SECRET") && !secret.contains("STRIPE_SECRET_KEY"), "{secret}");
        assert_eq!(reason("failed_renewal_is_past_due_with_a_warning", with_stripe), None);
    }

    #[test]
    fn without_the_webhook_secret_the_journeys_that_deliver_events_themselves_are_skipped() {
        let no_secret = DeployedAccess { webhook_secret: false, ..DeployedAccess::FULL };
        let skipped = skipped(&original(), no_secret);
        assert_eq!(original().len() - skipped.len(), 14, "{skipped:#?}");
    }

    #[test]
    fn without_stripe_access_the_journeys_that_need_only_the_api_still_run() {
        let url_and_key = DeployedAccess { api_key: true, ..Default::default() };
        let runs = original().len() - skipped(&original(), url_and_key).len();
        assert_eq!(runs, 10, "the API-only journeys and the one with an existing key");
    }

    #[test]
    fn only_chaos_journeys_use_what_only_the_fake_can_do() {
        for journey in all() {
            if journey.requires(Need::FakeControl) {
                assert!(
                    journey.requires(Need::Chaos),
                    "{} needs the fake's control API but is no chaos journey",
                    journey.name
                );
            }
        }
    }
}
