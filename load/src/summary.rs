//! A run's results in one serializable value: what `summary.json` holds, what the terminal and
//! Markdown tables show, what a baseline compares and what is pushed to the Pushgateway.
//!
//! Built from what the [`Recorder`](crate::recorder::Recorder) measured (per endpoint:
//! counts and a latency histogram; per second: the timeline), the thresholds judged on it, the
//! open model's keeping to its schedule, the after-run checks and the machine it ran on.

use std::collections::BTreeMap;

use goose::metrics::GooseMetrics;

use crate::arrival::PacerReport;
use crate::latency::LatencyHistogram;
use crate::recorder::{EndpointTally, Measured, SecondFigures};

/// The figures of one endpoint (or of all together).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EndpointFigures {
    /// `POST /api/v1/customers`, as the thresholds name it; `all` for the total.
    pub name: String,
    pub requests: u64,
    /// Failed requests (409 and 429 are not failures).
    pub failures: u64,
    /// 409 answers.
    pub conflicts: u64,
    /// 429 answers.
    pub rate_limited: u64,
    pub rps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Every latency, as a histogram: what the percentiles above come from, and what
    /// `load merge` and `load compare` add up.
    #[serde(default)]
    pub latency: LatencyHistogram,
}

impl EndpointFigures {
    /// The figures of `tally`, at `rps`.
    pub fn from_tally(name: &str, tally: &EndpointTally, rps: f64) -> EndpointFigures {
        EndpointFigures {
            name: name.to_string(),
            requests: tally.requests,
            failures: tally.failures,
            conflicts: tally.conflicts,
            rate_limited: tally.rate_limited,
            rps,
            mean_ms: tally.latency.mean_ms(),
            p50_ms: tally.latency.quantile_ms(0.50),
            p95_ms: tally.latency.quantile_ms(0.95),
            p99_ms: tally.latency.quantile_ms(0.99),
            max_ms: tally.latency.max().as_secs_f64() * 1e3,
            latency: tally.latency.clone(),
        }
    }

    pub fn error_rate_percent(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.failures as f64 * 100.0 / self.requests as f64 }
    }

    /// The tally these figures came from.
    pub fn tally(&self) -> EndpointTally {
        EndpointTally {
            requests: self.requests,
            failures: self.failures,
            conflicts: self.conflicts,
            rate_limited: self.rate_limited,
            latency: self.latency.clone(),
        }
    }
}

/// Per-endpoint figures of what was measured, over its load time, and their total.
pub fn endpoint_figures(measured: &Measured) -> (Vec<EndpointFigures>, EndpointFigures) {
    let seconds = measured.active.as_secs_f64().max(f64::MIN_POSITIVE);
    let mut all = EndpointTally::default();
    let endpoints = measured
        .endpoints
        .iter()
        .map(|(name, tally)| {
            all.add(tally);
            EndpointFigures::from_tally(name, tally, tally.requests as f64 / seconds)
        })
        .collect();
    let total = EndpointFigures::from_tally("all", &all, all.requests as f64 / seconds);
    (endpoints, total)
}

/// The machine a run ran on: a baseline from another machine is only indicative.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub hostname: String,
}

impl Machine {
    /// This machine.
    pub fn this() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cores: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            cpu_model,
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
        }
    }

    /// Whether a figure measured on `other` can be held against one measured here: the same
    /// cores and CPU (the host name may differ: CI runners are named anew each time).
    pub fn comparable_to(&self, other: &Machine) -> bool {
        self.cores == other.cores && self.cpu_model == other.cpu_model
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} cores, {} ({})", self.cores, self.cpu_model, self.hostname)
    }
}

/// One threshold's verdict.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThresholdVerdict {
    pub rule: String,
    pub observed: String,
    pub passed: bool,
}

/// How the open model kept to its schedule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OpenModel {
    pub asked_rate: f64,
    pub achieved_rate: f64,
    /// Whether the achieved rate is within 5 % of the asked one.
    pub kept_up: bool,
    /// Requests sent more than 2 ms after their slot because every user was busy.
    pub late_requests: u64,
    pub worst_lateness_ms: f64,
    /// What the report says about it, in words.
    pub note: String,
}

/// The open model keeps up when it achieves at least this share of the asked rate.
pub const KEPT_UP: f64 = 0.95;

impl OpenModel {
    pub fn from_pacer(report: &PacerReport, completed: u64) -> OpenModel {
        let achieved_rate =
            if report.schedule_seconds > 0.0 { completed as f64 / report.schedule_seconds } else { 0.0 };
        let asked_rate =
            if report.schedule_seconds > 0.0 { report.scheduled as f64 / report.schedule_seconds } else { 0.0 };
        let kept_up = achieved_rate >= asked_rate * KEPT_UP && achieved_rate <= asked_rate * (2.0 - KEPT_UP);
        let worst_lateness_ms = report.worst_lateness.as_secs_f64() * 1e3;
        let note = if kept_up && report.late == 0 {
            format!(
                "open model: asked {asked_rate:.0} req/s, achieved {achieved_rate:.0} req/s; every request went out on its slot"
            )
        } else if kept_up {
            format!(
                "open model: asked {asked_rate:.0} req/s, achieved {achieved_rate:.0} req/s; {} requests went out late (up to {worst_lateness_ms:.0} ms) because every user was busy, and their latency counts from their slot (coordinated omission shown)",
                report.late
            )
        } else {
            format!(
                "open model: the target could not keep up: asked {asked_rate:.0} req/s, achieved {achieved_rate:.0} req/s ({:.0} %); {} requests went out late, up to {worst_lateness_ms:.0} ms, and their latency counts from when they were due (coordinated omission shown, not hidden). More --users, or a lower --rate",
                achieved_rate * 100.0 / asked_rate.max(f64::MIN_POSITIVE),
                report.late
            )
        };
        OpenModel { asked_rate, achieved_rate, kept_up, late_requests: report.late, worst_lateness_ms, note }
    }
}

/// An after-run check (the webhook outcome, the rate limit, reconciliation).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    /// In words: what was checked, with its figures.
    pub detail: String,
    pub problems: Vec<String>,
}

/// One figure compared with the baseline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BaselineDelta {
    pub endpoint: String,
    /// `rps`, `p50_ms`, `p95_ms`, `p99_ms` or `error_rate_percent`.
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    /// (current − baseline) / baseline; for the error rate, the difference in percentage points.
    pub change: f64,
    pub regressed: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    pub scenario: String,
    pub environment: String,
    pub worker_index: usize,
    pub workers: usize,
    pub target: String,
    pub run_id: String,
    pub started_at: String,
    pub duration_seconds: f64,
    /// `closed` (users) or `open` (arrival rate).
    pub model: String,
    pub users: usize,
    /// The time the load was on, which throughput is over (summed over rounds).
    #[serde(default)]
    pub load_seconds: f64,
    pub endpoints: Vec<EndpointFigures>,
    pub total: EndpointFigures,
    /// The rules the run was judged by (`load merge` judges them again over every worker).
    #[serde(default)]
    pub rules: Vec<String>,
    pub thresholds: Vec<ThresholdVerdict>,
    #[serde(default)]
    pub open_model: Option<OpenModel>,
    /// goose's coordinated-omission figures (closed model with --co-mitigation), in words.
    #[serde(default)]
    pub coordinated_omission: Option<String>,
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    #[serde(default)]
    pub baseline: Vec<BaselineDelta>,
    /// What the baseline comparison is worth: said when the baseline came from another
    /// machine (its verdict is then only indicative) or from an unknown one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_note: Option<String>,
    #[serde(default)]
    pub machine: Option<Machine>,
    /// The workers this summary merges (`load merge`); empty for one worker's run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_workers: Vec<usize>,
    #[serde(default)]
    pub timeline: Vec<SecondFigures>,
    /// Where the reports are.
    #[serde(default)]
    pub reports: BTreeMap<String, String>,
}

#[cfg(test)]
impl RunSummary {
    /// A closed-model run of one endpoint by one user for a second on a local target, for a test
    /// to change what it looks at.
    pub(crate) fn of_one_endpoint(scenario: &str, endpoint: EndpointFigures) -> RunSummary {
        RunSummary {
            scenario: scenario.into(),
            environment: "local".into(),
            worker_index: 0,
            workers: 1,
            target: "http://127.0.0.1:1".into(),
            run_id: "r".into(),
            started_at: String::new(),
            duration_seconds: 1.0,
            model: "closed".into(),
            users: 1,
            load_seconds: 1.0,
            total: endpoint.clone(),
            endpoints: vec![endpoint],
            rules: Vec::new(),
            thresholds: Vec::new(),
            open_model: None,
            coordinated_omission: None,
            checks: Vec::new(),
            baseline: Vec::new(),
            baseline_note: None,
            machine: None,
            merged_workers: Vec::new(),
            timeline: Vec::new(),
            reports: Default::default(),
        }
    }
}

impl RunSummary {
    /// What broke, one line each: failed thresholds, regressions, failed checks and an open
    /// model that could not keep up. Empty when the run passed.
    pub fn failures(&self) -> Vec<(String, String)> {
        let mut broke = Vec::new();
        for threshold in self.thresholds.iter().filter(|threshold| !threshold.passed) {
            broke.push(("threshold".to_string(), format!("{}: observed {}", threshold.rule, threshold.observed)));
        }
        for delta in self.baseline.iter().filter(|delta| delta.regressed) {
            broke.push((
                "baseline".to_string(),
                format!(
                    "{} {}: {:.2} now, {:.2} in the baseline ({})",
                    delta.endpoint,
                    delta.metric,
                    delta.current,
                    delta.baseline,
                    describe_change(delta)
                ),
            ));
        }
        for check in self.checks.iter().filter(|check| !check.passed) {
            for problem in &check.problems {
                broke.push((check.name.clone(), problem.clone()));
            }
            if check.problems.is_empty() {
                broke.push((check.name.clone(), check.detail.clone()));
            }
        }
        broke
    }

    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }
}

pub fn describe_change(delta: &BaselineDelta) -> String {
    if delta.metric == "error_rate_percent" {
        format!("{:+.2} points", delta.change)
    } else {
        format!("{:+.1} %", delta.change * 100.0)
    }
}

/// Upper bounds of the pushed latency histogram, in seconds: 0.1 ms … ~13 s, doubling.
pub fn histogram_bounds() -> Vec<f64> {
    (0..18).map(|power| 0.0001 * 2f64.powi(power)).collect()
}

/// goose's coordinated-omission figures, when it gathered them.
pub fn coordinated_omission(metrics: &GooseMetrics) -> Option<String> {
    let co = metrics.coordinated_omission_metrics.as_ref()?;
    Some(format!(
        "goose's coordinated-omission mitigation ({:?}): {} stalls seen, {} synthetic requests added to {} actual ({:.1} %)",
        co.mitigation_strategy,
        co.co_events.len(),
        co.synthetic_requests,
        co.actual_requests,
        co.synthetic_percentage
    ))
}
