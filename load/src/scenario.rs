//! What a scenario is: the [`Scenario`] a file of [`crate::scenarios`] implements, what it is
//! given to make its fixtures ([`Setup`]) and to check the run ([`AfterRun`]), and the
//! [`Prepared`] scenario whose step the users call. It sits below the scenarios and the
//! registry, which import it; it imports none of them.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use billing_stack::ApiClient;
use goose::prelude::*;

use crate::context::{RoundContext, RunIdentity};
use crate::error::LoadError;
use crate::summary::CheckResult;
use crate::target::{Needs, Target};

/// A boxed future, as the scenarios' steps and set-up return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a scenario is, for the command line, `load list` and the reports.
#[derive(Debug)]
pub struct About {
    /// Its name on the command line and in reports, e.g. `credential-vending`.
    pub name: &'static str,
    pub description: &'static str,
    /// The requests it makes, as the reports and `… for REQUEST` thresholds name them:
    /// `METHOD /path`.
    pub requests: &'static [&'static str],
    /// Its share of users in `all`; 0 keeps it out of `all`.
    pub weight_in_all: usize,
    /// Its default thresholds (goose's syntax), judged unless `--no-default-thresholds`.
    pub thresholds: &'static [&'static str],
    /// What it needs of a deployed target (checked before anything starts).
    pub needs: Needs,
}

/// A kind of user.
pub trait Scenario: Sync {
    fn about(&self) -> &'static About;

    /// Makes what its users need on the target (API keys, Pro customers, …) before the
    /// timed part, through the service's API, and returns the prepared scenario.
    fn prepare<'a>(&'a self, setup: &'a Setup<'a>) -> BoxFuture<'a, Result<Arc<dyn Prepared>, LoadError>>;
}

/// A scenario ready to run: its fixtures made, its step ready to be called by each user.
pub trait Prepared: Send + Sync {
    /// One iteration of one user: usually one timed request, sent and recorded through
    /// [`crate::scenarios::common::send_and_record`].
    fn step<'a>(&'a self, user: &'a mut GooseUser, round: &'a RoundContext) -> BoxFuture<'a, TransactionResult>;

    /// What it checks once the load is over (over every round against this target). A check
    /// that fails fails the run.
    fn after_run<'a>(&'a self, _after: &'a AfterRun) -> BoxFuture<'a, Vec<CheckResult>> {
        Box::pin(async { Vec::new() })
    }
}

/// What a scenario's set-up gets.
pub struct Setup<'a> {
    pub target: &'a Target,
    /// The target's API, for fixtures made through it.
    pub api: ApiClient,
    pub run: &'a RunIdentity,
    pub options: &'a ScenarioOptions,
}

/// What the after-run checks get.
pub struct AfterRun {
    pub api: ApiClient,
    pub run: RunIdentity,
    /// How long load was on in all, over every round against this target.
    pub load_time: Duration,
}

/// Options of the command line some scenarios read.
#[derive(Debug, Clone, Default)]
pub struct ScenarioOptions {
    /// API keys (credential vending) or Pro customers (webhooks) to make on the embedded stack.
    pub fixtures: Option<usize>,
    /// Webhooks: percent of deliveries that repeat an earlier event.
    pub duplicates: u32,
    /// Credential vending: the per-key limit to verify.
    pub verify_rate_limit: Option<crate::embedded::CredentialLimit>,
}
