//! Runs journeys — locally, each on a stack of its own, or against a deployed target — in
//! parallel, with a deadline each, and gathers a [`RunReport`].
//!
//! Against a deployed target ([`Deployment`]) each journey runs if the target was given what it
//! needs ([`Journey::deployed_skip_reason`]), else it is skipped with the reason; the journeys
//! that move the deployment's one Stripe test clock run alone, after the others ([`schedule`]);
//! and with the deployment's database each journey ends with the reconciliation check of the
//! customers it made.

use std::sync::Arc;

use anyhow::Context;
use std::time::{Duration, Instant};

use billing_service::clock::ManualClock;
use billing_stack::{StripeApi, reconcile_customers};
use futures_util::StreamExt;

use crate::client::ApiClient;
use crate::journeys::{self, DeployedAccess, Journey, Need, Skip, World};
use crate::report::{JourneyResult, Outcome, RunReport};
use crate::stack::{ServiceRun, Stack, StackOptions};
use billing_stack::{Profile, ServiceBinary};

/// Where journeys run.
#[derive(Debug, Clone)]
pub enum Target {
    /// A fresh local stack per journey (PostgreSQL from the provider chain, the fakes, the service).
    Local,
    /// A deployed service: every journey runs whose needs it meets; the others are skipped.
    Deployed(Deployment),
}

/// A deployed service, and what the runner was given to validate it.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The service's base URL.
    pub base_url: String,
    /// An existing customer's API key (`--api-key`).
    pub api_key: Option<String>,
    /// The deployment's Stripe, in test mode (`STRIPE_API_BASE`, `STRIPE_SECRET_KEY`).
    pub stripe: Option<StripeApi>,
    /// The signing secret of the service's webhook endpoint (`STRIPE_WEBHOOK_SECRET`).
    pub webhook_secret: Option<String>,
    /// The deployment's database (`--database-url`): when given, each journey ends with the
    /// reconciliation check of the customers it made.
    pub database: Option<sqlx::PgPool>,
    /// One signup at a time across the run's journeys (see [`World::signup`]).
    signup_queue: Arc<tokio::sync::Mutex<()>>,
}

impl Deployment {
    /// A deployment known only by its URL: the journeys that need nothing but its API.
    pub fn at(base_url: &str) -> Deployment {
        Deployment {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: None,
            stripe: None,
            webhook_secret: None,
            database: None,
            signup_queue: Arc::default(),
        }
    }

    pub fn access(&self) -> DeployedAccess {
        DeployedAccess {
            api_key: self.api_key.is_some(),
            stripe_api: self.stripe.is_some(),
            webhook_secret: self.webhook_secret.is_some(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub target: Target,
    /// Runs the journeys whose name contains any of these (all when empty).
    pub filters: Vec<String>,
    /// Journeys running at once.
    pub concurrency: usize,
    /// Longest a journey may take.
    pub journey_timeout: Duration,
    pub environment: String,
    pub commit: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            target: Target::Local,
            filters: Vec::new(),
            concurrency: 8,
            journey_timeout: Duration::from_secs(90),
            environment: "local".into(),
            commit: None,
        }
    }
}

/// The journeys a run selects, in registry order.
pub fn select(filters: &[String]) -> Vec<Journey> {
    journeys::all()
        .into_iter()
        .filter(|journey| filters.is_empty() || filters.iter().any(|f| journey.name.contains(f.as_str())))
        .collect()
}

/// The journeys in two groups: those that run side by side, then those that run one at a time,
/// after them. Against a deployed target every customer lives on the deployment's one Stripe
/// test clock, so a journey that moves it moves every other journey's customers too (a Pro
/// customer would renew in the middle of its journey): those run alone. Locally each journey
/// has a clock of its own.
pub fn schedule(journeys: Vec<Journey>, target: &Target) -> (Vec<Journey>, Vec<Journey>) {
    match target {
        Target::Local => (journeys, Vec::new()),
        Target::Deployed(_) => journeys.into_iter().partition(|journey| !journey.moves_the_stripe_clock()),
    }
}

pub async fn run(options: &RunOptions) -> RunReport {
    let started_at = chrono::Utc::now().timestamp();
    let started = Instant::now();
    let (side_by_side, one_at_a_time) = schedule(select(&options.filters), &options.target);
    let mut results: Vec<JourneyResult> = futures_util::stream::iter(
        side_by_side.into_iter().map(|journey| async move { run_journey(&journey, options).await }),
    )
    .buffer_unordered(options.concurrency.max(1))
    .collect()
    .await;
    for journey in one_at_a_time {
        results.push(run_journey(&journey, options).await);
    }
    let order: Vec<&str> = journeys::all().iter().map(|j| j.name).collect();
    results.sort_by_key(|r| order.iter().position(|name| *name == r.name));
    RunReport {
        target: match &options.target {
            Target::Local => "local".into(),
            Target::Deployed(deployment) => deployment.base_url.clone(),
        },
        environment: options.environment.clone(),
        commit: options.commit.clone(),
        started_at,
        duration: started.elapsed(),
        journeys: results,
    }
}

/// Runs one journey by name on a local stack (what `cargo test` does for each journey).
pub async fn run_local(name: &str) -> JourneyResult {
    let journey = journeys::all().into_iter().find(|j| j.name == name);
    match journey {
        Some(journey) => run_journey(&journey, &RunOptions::default()).await,
        None => JourneyResult {
            name: name.into(),
            description: String::new(),
            outcome: Outcome::Failed(format!("no journey named {name}")),
            duration: Duration::ZERO,
        },
    }
}

async fn run_journey(journey: &Journey, options: &RunOptions) -> JourneyResult {
    // Building the service binary a chaos journey runs is set-up, not the journey: it happens
    // before the journey's clock starts (once per process; a no-op when the build is fresh).
    if matches!(options.target, Target::Local)
        && journey.needs.contains(&Need::Chaos)
        && let Err(err) = ServiceBinary::build(Profile::of_this_build()).await
    {
        return JourneyResult {
            name: journey.name.into(),
            description: journey.description.into(),
            outcome: Outcome::Failed(format!("cannot build the service binary: {err:#}")),
            duration: Duration::ZERO,
        };
    }
    let started = Instant::now();
    let outcome = match tokio::time::timeout(options.journey_timeout, prepare_and_run(journey, options)).await {
        Ok(result) => outcome_of(result),
        Err(_) => Outcome::Failed(format!("timed out after {:?}", options.journey_timeout)),
    };
    JourneyResult {
        name: journey.name.into(),
        description: journey.description.into(),
        outcome,
        duration: started.elapsed(),
    }
}

/// How a journey that ran to its end ended: an error that is a [`Skip`] (however wrapped) is a
/// skip with its reason, not a failure.
fn outcome_of(result: anyhow::Result<Option<String>>) -> Outcome {
    match result {
        Ok(None) => Outcome::Passed,
        Ok(Some(reason)) => Outcome::Skipped(reason),
        Err(err) => match err.downcast_ref::<Skip>() {
            Some(Skip(reason)) => Outcome::Skipped(reason.clone()),
            None => Outcome::Failed(format!("{err:#}")),
        },
    }
}

/// Runs the journey; `Ok(Some(reason))` when it was skipped.
async fn prepare_and_run(journey: &Journey, options: &RunOptions) -> anyhow::Result<Option<String>> {
    let run_id = uuid_like();
    let mut world = match &options.target {
        Target::Deployed(deployment) => {
            if let Some(reason) = journey.deployed_skip_reason(deployment.access()) {
                return Ok(Some(reason));
            }
            let mut world = World::new(ApiClient::new(&deployment.base_url, billing_service::tls::client()), run_id);
            world.stripe = deployment.stripe.clone();
            world.webhook_secret = deployment.webhook_secret.clone();
            // A deployment's Stripe delivers every event to it, whatever the journey does.
            world.stripe_delivers_events = true;
            world.existing_api_key = deployment.api_key.clone();
            world.signup_queue = Some(deployment.signup_queue.clone());
            world
        }
        Target::Local => {
            let clock = journey.requires(Need::ServiceClock).then(|| ManualClock::starting_at(chrono::Utc::now()));
            let deliver_webhooks = !journey.requires(Need::ManualWebhooks);
            let mut stack_options = StackOptions { deliver_webhooks, ..Default::default() };
            if let Some(clock) = &clock {
                stack_options.clock = Arc::new(clock.clone());
            }
            let stack = if journey.requires(Need::Chaos) {
                stack_options.service = ServiceRun::Process(ServiceBinary::build(Profile::of_this_build()).await?);
                stack_options.configure = Box::new(chaos_settings);
                Stack::start_owned(stack_options).await?
            } else {
                Stack::start_with(stack_options).await?
            };
            let mut world = World::new(stack.api(), run_id);
            if journey.requires(Need::ExistingApiKey) {
                world.existing_api_key = Some(stack.signed_up_customer("existing@example.com").await?.0.api_key);
            }
            world.stripe = Some(stack.stripe_api());
            world.webhook_secret = Some(stack.webhook_secret.clone());
            world.stripe_delivers_events = deliver_webhooks;
            world.clock = clock;
            world.stack = Some(Arc::new(stack));
            world
        }
    };
    if journey.requires(Need::StripeApi)
        && let Some(stripe) = &world.stripe
    {
        world.events_marker = stripe.newest_event_id().await.context("cannot list Stripe's events")?;
    }
    (journey.run)(&world).await?;
    // Every local journey ends with the money check: charges in Stripe and in the database
    // match one for one, and every ledger adds up.
    if let Some(stack) = &world.stack {
        stack.reconcile().await.map_err(|err| err.context("the reconciliation check after the journey"))?;
    }
    // On a deployment whose database was given, the same check over the customers the journey
    // made (others are charging at the same time).
    if let Target::Deployed(Deployment { database: Some(pool), stripe: Some(stripe), .. }) = &options.target {
        let customers = world
            .signed_up_customers()
            .iter()
            .map(|id| id.parse())
            .collect::<Result<Vec<uuid::Uuid>, _>>()
            .context("the service answered a customer id that is not a UUID")?;
        if !customers.is_empty() {
            let report = reconcile_customers(pool, &stripe.access(), &customers, DEPLOYED_SETTLE_DEADLINE)
                .await
                .context("the reconciliation check after the journey, on the deployed database")?;
            report.ensure_clean().context("the reconciliation check after the journey, on the deployed database")?;
        }
    }
    Ok(None)
}

/// How long the check on a deployed database waits for the journey's pending charges to settle.
const DEPLOYED_SETTLE_DEADLINE: Duration = Duration::from_secs(30);

/// Chaos journeys want faults to play out in seconds: a short Stripe timeout (3 s, so a kill
/// lands while a 2.5 s charge is in flight even on a busy machine), and a reconciler that looks
/// at a pending charge after a second.
fn chaos_settings(config: &mut billing_service::Config) {
    config.stripe.timeout_ms = 3_000;
    config.reconciler.after_ms = 1_000;
    config.reconciler.interval_ms = 200;
    config.database.acquire_timeout_ms = 2_000;
}

/// A short random id for unique customer names on shared targets.
fn uuid_like() -> String {
    let bytes: [u8; 6] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn against_a_deployment_the_journeys_that_move_its_shared_stripe_clock_run_alone_after_the_others() {
        let (side_by_side, one_at_a_time) = schedule(journeys::all(), &Target::Deployed(Deployment::at("http://x")));

        assert!(side_by_side.iter().all(|journey| !journey.moves_the_stripe_clock()));
        let alone: Vec<&str> = one_at_a_time.iter().map(|journey| journey.name).collect();
        assert_eq!(
            alone,
            [
                "pro_renewal_grants_once_even_when_delivered_twice",
                "cancelling_at_period_end_keeps_pro_until_it_ends",
                "failed_renewal_is_past_due_with_a_warning",
                "unpaid_after_the_last_retry_loses_pro_until_a_fixed_card_pays",
            ]
        );
    }

    #[test]
    fn a_journey_that_finds_the_target_lacking_is_skipped_with_the_reason_not_failed() {
        let skip = || anyhow::Error::new(Skip("customers are on no test clock".into()));
        assert_eq!(outcome_of(Err(skip())), Outcome::Skipped("customers are on no test clock".into()));
        assert_eq!(
            outcome_of(Err(skip().context("while renewing"))),
            Outcome::Skipped("customers are on no test clock".into())
        );
        assert_eq!(outcome_of(Err(anyhow::anyhow!("no credits"))), Outcome::Failed("no credits".into()));
        assert_eq!(outcome_of(Ok(None)), Outcome::Passed);
    }

    #[test]
    fn locally_every_journey_has_a_clock_of_its_own_and_all_run_side_by_side() {
        let (side_by_side, one_at_a_time) = schedule(journeys::all(), &Target::Local);
        assert_eq!(side_by_side.len(), journeys::all().len());
        assert!(one_at_a_time.is_empty());
    }
}
