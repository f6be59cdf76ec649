//! What a comparison found, as `compare.json` holds it: the rounds, each endpoint's figures
//! compared, the after-run checks and the outcome. The reports, the chart and JUnit read it;
//! it reads nothing of theirs.

use std::collections::BTreeMap;

use crate::compare::stats::{Comparison, Verdict};
use crate::summary::{CheckResult, Machine};

/// Exit code of a comparison that could not tell (nothing regressed).
pub const EXIT_INCONCLUSIVE: u8 = 3;

/// The pseudo-endpoint the server side's CPU per request is compared under: it is one figure
/// of every request together, not of one endpoint ([`crate::cpu`]).
pub const SERVER_SIDE: &str = "server side, all requests";

/// Which side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SideName {
    Base,
    Candidate,
}

impl SideName {
    pub fn label(self) -> &'static str {
        match self {
            SideName::Base => "base",
            SideName::Candidate => "candidate",
        }
    }
}

/// What one side is, in words for the reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SideDescription {
    /// The binary, or the target URL.
    pub what: String,
    /// Extra service environment (`NAME=VALUE`).
    pub env: Vec<String>,
}

/// One round's figures of one endpoint (its histogram stays in memory for the statistics).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoundFigures {
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// One measured round.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoundRecord {
    /// The pair it belongs to, from 1.
    pub pair: usize,
    pub side: SideName,
    /// 0 when it ran first in its pair, 1 second.
    pub position: usize,
    pub load_seconds: f64,
    /// The server side's CPU time per request in this round, in µs (embedded stacks).
    #[serde(default)]
    pub cpu_us_per_request: Option<f64>,
    pub endpoints: BTreeMap<String, RoundFigures>,
}

/// One endpoint's comparisons.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EndpointComparison {
    pub endpoint: String,
    pub figures: Vec<Comparison>,
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing regressed, nothing inconclusive, every check passed.
    Passed,
    Regressed,
    Inconclusive,
    /// An after-run check failed on a side (and nothing regressed).
    ChecksFailed,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Passed => crate::error::EXIT_PASSED,
            Outcome::Regressed | Outcome::ChecksFailed => crate::error::EXIT_FAILED,
            Outcome::Inconclusive => EXIT_INCONCLUSIVE,
        }
    }
}

/// Everything a comparison found: what `compare.json` holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CompareReport {
    pub scenario: String,
    pub started_at: String,
    pub duration_seconds: f64,
    pub machine: Machine,
    pub base: SideDescription,
    pub candidate: SideDescription,
    pub model: String,
    pub users: usize,
    pub pairs: usize,
    pub round_seconds: f64,
    pub warm_up_seconds: f64,
    /// As a fraction (0.05).
    pub min_effect: f64,
    pub confidence: f64,
    pub seed: u64,
    pub rounds: Vec<RoundRecord>,
    pub endpoints: Vec<EndpointComparison>,
    pub checks: BTreeMap<SideName, Vec<CheckResult>>,
    pub outcome: Outcome,
    /// Where the reports are.
    #[serde(default)]
    pub reports: BTreeMap<String, String>,
}

impl CompareReport {
    /// Every figure's comparison, with its endpoint.
    pub fn comparisons(&self) -> impl Iterator<Item = (&str, &Comparison)> {
        self.endpoints.iter().flat_map(|endpoint| endpoint.figures.iter().map(|c| (endpoint.endpoint.as_str(), c)))
    }

    pub(crate) fn outcome_of(
        endpoints: &[EndpointComparison],
        checks: &BTreeMap<SideName, Vec<CheckResult>>,
    ) -> Outcome {
        let verdicts: Vec<Verdict> =
            endpoints.iter().flat_map(|endpoint| endpoint.figures.iter().map(|c| c.verdict)).collect();
        if verdicts.contains(&Verdict::Regressed) {
            Outcome::Regressed
        } else if checks.values().flatten().any(|check| !check.passed) {
            Outcome::ChecksFailed
        } else if verdicts.contains(&Verdict::Inconclusive) {
            Outcome::Inconclusive
        } else {
            Outcome::Passed
        }
    }
}
