//! The result of a journey run, and where it goes: JUnit XML for CI ([`junit`]) and a
//! Prometheus Pushgateway ([`pushgateway`]).

mod error;
pub mod junit;
pub mod pushgateway;

use std::time::Duration;

pub use billing_stack::push::{PushError, Pushgateway};
pub use error::ReportError;

/// How one journey ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// The journey's error, with its context chain.
    Failed(String),
    /// Why it did not run (e.g. it needs control of the Stripe fake and the target is deployed).
    Skipped(String),
}

/// One journey's result.
#[derive(Debug, Clone)]
pub struct JourneyResult {
    /// The journey's name, e.g. `trial_signup_first_fix`.
    pub name: String,
    /// One line saying what the journey proves.
    pub description: String,
    pub outcome: Outcome,
    pub duration: Duration,
}

impl JourneyResult {
    /// A result whose description is its name (reports built by hand, tests).
    pub fn new(name: &str, outcome: Outcome, duration: Duration) -> JourneyResult {
        JourneyResult { name: name.to_string(), description: name.replace('_', " "), outcome, duration }
    }
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// `local`, or the deployed target's base URL.
    pub target: String,
    /// Label for dashboards: `local`, `ci`, `staging`… (`--environment`).
    pub environment: String,
    /// The commit under test, when known (`--commit`, else `GITHUB_SHA`, else `git rev-parse`).
    pub commit: Option<String>,
    /// Unix seconds at the start of the run.
    pub started_at: i64,
    pub duration: Duration,
    pub journeys: Vec<JourneyResult>,
}

impl RunReport {
    pub fn count(&self, kind: fn(&Outcome) -> bool) -> usize {
        self.journeys.iter().filter(|j| kind(&j.outcome)).count()
    }

    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Passed))
    }

    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }

    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped(_)))
    }
}
