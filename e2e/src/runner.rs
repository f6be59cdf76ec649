//! Runs journeys — locally, each on a stack of its own, or against a deployed target — in
//! parallel, with a deadline each, and gathers a [`RunReport`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use billing_service::clock::ManualClock;
use futures_util::StreamExt;

use crate::client::ApiClient;
use crate::journeys::{self, Journey, Need, World};
use crate::report::{JourneyResult, Outcome, RunReport};
use crate::stack::{ServiceRun, Stack, StackOptions};
use billing_stack::{Profile, ServiceBinary};

/// Where journeys run.
#[derive(Debug, Clone)]
pub enum Target {
    /// A fresh local stack per journey (PostgreSQL from the provider chain, the fakes, the service).
    Local,
    /// A deployed service: only journeys that need nothing but its API run (and those that
    /// need an existing customer's key, when one is given).
    Deployed { base_url: String, api_key: Option<String> },
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

pub async fn run(options: &RunOptions) -> RunReport {
    let started_at = chrono::Utc::now().timestamp();
    let started = Instant::now();
    let journeys = select(&options.filters);
    let mut results: Vec<JourneyResult> = futures_util::stream::iter(
        journeys.into_iter().map(|journey| async move { run_journey(&journey, options).await }),
    )
    .buffer_unordered(options.concurrency.max(1))
    .collect()
    .await;
    let order: Vec<&str> = journeys::all().iter().map(|j| j.name).collect();
    results.sort_by_key(|r| order.iter().position(|name| *name == r.name));
    RunReport {
        target: match &options.target {
            Target::Local => "local".into(),
            Target::Deployed { base_url, .. } => base_url.clone(),
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
        && let Err(err) = ServiceBinary::build(this_profile()).await
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
        Ok(Ok(None)) => Outcome::Passed,
        Ok(Ok(Some(reason))) => Outcome::Skipped(reason),
        Ok(Err(err)) => Outcome::Failed(format!("{err:#}")),
        Err(_) => Outcome::Failed(format!("timed out after {:?}", options.journey_timeout)),
    };
    JourneyResult {
        name: journey.name.into(),
        description: journey.description.into(),
        outcome,
        duration: started.elapsed(),
    }
}

/// Runs the journey; `Ok(Some(reason))` when it was skipped.
async fn prepare_and_run(journey: &Journey, options: &RunOptions) -> anyhow::Result<Option<String>> {
    let run_id = uuid_like();
    let world = match &options.target {
        Target::Deployed { base_url, api_key } => {
            if !journey.runs_against_deployed_target(api_key.is_some()) {
                return Ok(Some(if journey.needs == [Need::ExistingApiKey] {
                    "needs an existing customer's key: pass --api-key".to_string()
                } else {
                    format!("needs {:?}, which only the local stack has", journey.needs)
                }));
            }
            World {
                api: ApiClient::new(base_url, billing_service::tls::client()),
                stack: None,
                clock: None,
                run_id,
                existing_api_key: api_key.clone(),
            }
        }
        Target::Local => {
            let clock =
                journey.needs.contains(&Need::ServiceClock).then(|| ManualClock::starting_at(chrono::Utc::now()));
            let mut stack_options =
                StackOptions { deliver_webhooks: !journey.needs.contains(&Need::ManualWebhooks), ..Default::default() };
            if let Some(clock) = &clock {
                stack_options.clock = Arc::new(clock.clone());
            }
            let stack = if journey.needs.contains(&Need::Chaos) {
                stack_options.service = ServiceRun::Process(ServiceBinary::build(this_profile()).await?);
                stack_options.configure = Box::new(chaos_settings);
                Stack::start_owned(stack_options).await?
            } else {
                Stack::start_with(stack_options).await?
            };
            let existing_api_key = if journey.needs.contains(&Need::ExistingApiKey) {
                Some(stack.signed_up_customer("existing@example.com").await?.0.api_key)
            } else {
                None
            };
            World { api: stack.api(), stack: Some(Arc::new(stack)), clock, run_id, existing_api_key }
        }
    };
    (journey.run)(&world).await?;
    // Every local journey ends with the money check: charges in Stripe and in the database
    // match one for one, and every ledger adds up.
    if let Some(stack) = &world.stack {
        stack.reconcile().await.map_err(|err| err.context("the reconciliation check after the journey"))?;
    }
    Ok(None)
}

/// The service build matching this one (a debug `e2e` runs the debug service).
fn this_profile() -> Profile {
    if cfg!(debug_assertions) { Profile::Debug } else { Profile::Release }
}

/// Chaos journeys want faults to play out in seconds: a short Stripe timeout (3 s, so a kill
/// lands while a 2.5 s charge is in flight even on a busy machine), and a reconciler that looks
/// at a pending charge after a second.
fn chaos_settings(config: &mut billing_service::Config) {
    config.stripe_timeout_ms = 3_000;
    config.reconcile_after_ms = 1_000;
    config.reconcile_interval_ms = 200;
    config.db_acquire_timeout_ms = 2_000;
}

/// A short random id for unique customer names on shared targets.
fn uuid_like() -> String {
    let bytes: [u8; 6] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
