//! A run's results in one serializable value: what `summary.json` holds, what the terminal and
//! Markdown tables show, what a baseline compares and what is pushed to the Pushgateway.
//!
//! Built from goose's final metrics (per request: counts, status codes, latency buckets, and
//! goose's threshold verdicts) plus what only this tool knows: the open model's keeping to its
//! schedule, the after-run checks and the timeline.

use std::collections::BTreeMap;

use goose::metrics::{GooseMetrics, GooseRequestMetricTimingData};

use crate::arrival::PacerReport;
use crate::timeline::SecondFigures;

/// The figures of one endpoint (or of all together).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EndpointFigures {
    /// `POST /api/v1/customers`, as goose and the thresholds name it; `all` for the total.
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
    /// Latency histogram: `(upper bound in seconds, requests at or under it)`, cumulative, for
    /// the Pushgateway (Prometheus combines buckets across workers; quantiles it cannot).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub histogram: Vec<(f64, u64)>,
    /// Sum of all latencies, in seconds (the histogram's `_sum`).
    #[serde(default)]
    pub latency_sum_seconds: f64,
}

impl EndpointFigures {
    pub fn error_rate_percent(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.failures as f64 * 100.0 / self.requests as f64 }
    }
}

/// One threshold's verdict, as goose judged it.
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
    pub endpoints: Vec<EndpointFigures>,
    pub total: EndpointFigures,
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
            total: endpoint.clone(),
            endpoints: vec![endpoint],
            thresholds: Vec::new(),
            open_model: None,
            coordinated_omission: None,
            checks: Vec::new(),
            baseline: Vec::new(),
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

/// Latency buckets of one or more of goose's requests, merged.
#[derive(Debug, Default)]
struct Timing {
    /// Bucket (its fastest time, µs) → requests.
    buckets: BTreeMap<u64, u64>,
    requests: u64,
    minimum_us: u64,
    maximum_us: u64,
    total_us: u64,
}

impl Timing {
    fn add(&mut self, data: &GooseRequestMetricTimingData) {
        for (us, count) in data.times_us.iter() {
            *self.buckets.entry(*us).or_default() += *count as u64;
        }
        if data.counter > 0 && (self.requests == 0 || data.minimum_time_us < self.minimum_us) {
            self.minimum_us = data.minimum_time_us;
        }
        self.maximum_us = self.maximum_us.max(data.maximum_time_us);
        self.requests += data.counter as u64;
        self.total_us += data.total_time_us;
    }

    /// The time at or under which `fraction` of the requests finished (goose's bucket, kept
    /// between the fastest and slowest time measured).
    fn percentile_ms(&self, fraction: f64) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        let rank = ((self.requests as f64) * fraction).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (us, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return (*us).clamp(self.minimum_us, self.maximum_us) as f64 / 1e3;
            }
        }
        self.maximum_us as f64 / 1e3
    }

    fn figures(&self, name: &str, seconds: f64) -> EndpointFigures {
        let histogram = histogram_bounds()
            .into_iter()
            .map(|bound| {
                let limit_us = (bound * 1e6) as u64;
                (bound, self.buckets.range(..limit_us).map(|(_, count)| count).sum())
            })
            .collect();
        EndpointFigures {
            name: name.to_string(),
            requests: self.requests,
            rps: if seconds > 0.0 { self.requests as f64 / seconds } else { 0.0 },
            mean_ms: if self.requests == 0 { 0.0 } else { self.total_us as f64 / self.requests as f64 / 1e3 },
            p50_ms: self.percentile_ms(0.50),
            p95_ms: self.percentile_ms(0.95),
            p99_ms: self.percentile_ms(0.99),
            max_ms: self.maximum_us as f64 / 1e3,
            histogram,
            latency_sum_seconds: self.total_us as f64 / 1e6,
            ..Default::default()
        }
    }
}

/// Per-endpoint figures from goose's metrics, over `seconds` of load, and their total.
pub fn endpoint_figures(metrics: &GooseMetrics, seconds: f64) -> (Vec<EndpointFigures>, EndpointFigures) {
    let mut endpoints = Vec::new();
    let mut all = Timing::default();
    let (mut failures, mut conflicts, mut rate_limited) = (0, 0, 0);
    let mut names: Vec<&String> = metrics.requests.keys().collect();
    names.sort();
    for name in names {
        let aggregate = &metrics.requests[name];
        let status = |code: u16| aggregate.status_code_counts.get(&code).copied().unwrap_or(0) as u64;
        let mut timing = Timing::default();
        timing.add(&aggregate.raw_data);
        all.add(&aggregate.raw_data);
        let mut figures = timing.figures(name, seconds);
        figures.failures = aggregate.fail_count as u64;
        figures.conflicts = status(409);
        figures.rate_limited = status(429);
        failures += figures.failures;
        conflicts += figures.conflicts;
        rate_limited += figures.rate_limited;
        endpoints.push(figures);
    }
    let total = EndpointFigures { failures, conflicts, rate_limited, ..all.figures("all", seconds) };
    (endpoints, total)
}

/// goose's threshold verdicts.
pub fn threshold_verdicts(metrics: &GooseMetrics) -> Vec<ThresholdVerdict> {
    metrics
        .thresholds
        .iter()
        .map(|result| ThresholdVerdict {
            rule: result.rule.clone(),
            observed: result.observed.clone(),
            passed: result.passed,
        })
        .collect()
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
