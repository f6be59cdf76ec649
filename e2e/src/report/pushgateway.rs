//! Pushes a run's results to a Prometheus Pushgateway, so Prometheus can chart pass/fail counts
//! and durations per environment over time. The metrics are a `prometheus-client` registry
//! ([`registry`]); the push itself is `billing_stack::push`, the path the load tool uses too.
//!
//! # Where a run lands: the grouping key
//!
//! Every run is pushed with `PUT /metrics/job/billing_e2e/environment/<environment>`. A PUT
//! replaces every metric in that group, so **each environment keeps exactly its latest run**:
//! a journey that was removed from the suite disappears on the next push instead of lingering
//! with its last value, and `ci`, `staging` and `local` runs sit side by side without touching
//! each other. Prometheus, scraping the Pushgateway, turns the successive latest runs into a
//! history.
//!
//! The commit is a label on the `billing_e2e_run_info` series, *not* part of the grouping key:
//! the Pushgateway never forgets a group on its own, so a group per commit would add a group on
//! every push and grow without bound (and old commits' results would keep being scraped as if
//! current). The target URL is a series label for the same reason.
//!
//! Label values in the path that are empty or contain anything but `A-Z a-z 0-9 . _ ~ -` (a `/`
//! above all) use the Pushgateway's `<label>@base64/<URL-safe base64>` form, so an environment
//! such as `staging/eu` or `` cannot break the path.
//!
//! # The metrics
//!
//! All are gauges, sent in the Prometheus text format 0.0.4. The Pushgateway adds the grouping labels
//! `job="billing_e2e"` and `environment` (and `instance=""`) to each of them.
//!
//! | metric | labels | value |
//! | --- | --- | --- |
//! | `billing_e2e_journeys` | `result` = `passed`, `failed`, `skipped` | how many journeys ended so (all three are always present) |
//! | `billing_e2e_journey_passed` | `journey` | 1 if the journey passed, 0 if it failed; absent for skipped journeys |
//! | `billing_e2e_journey_skipped` | `journey`, `reason` | 1 for each journey that was skipped, with why; absent for the others |
//! | `billing_e2e_journey_duration_seconds` | `journey` | how long the journey ran; absent for skipped journeys |
//! | `billing_e2e_run_duration_seconds` | | how long the whole run took |
//! | `billing_e2e_run_timestamp_seconds` | | when the run started, Unix seconds |
//! | `billing_e2e_run_info` | `target`, `commit` | always 1; `commit` is `unknown` when the run does not know it |
//!
//! (The Pushgateway itself adds `push_time_seconds` and `push_failure_time_seconds` per group.)
//!
//! # Credentials
//!
//! `e2e run --pushgateway URL` uses [`Pushgateway::from_env`], which reads `PUSHGATEWAY_USER` and
//! `PUSHGATEWAY_PASSWORD` for HTTP basic auth: both or neither (an empty variable counts as unset,
//! as a missing CI secret is empty). A push is tried [`PUSH_ATTEMPTS`] times when the gateway is
//! unreachable or fails on its side.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use billing_stack::push::{LabelValue, PushError, Pushgateway};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{Outcome, RunReport};

/// The Pushgateway job every run is pushed under.
pub const JOB: &str = "billing_e2e";
/// How many times `e2e run` tries a push, and how long it waits before the second try (doubling after).
pub const PUSH_ATTEMPTS: u32 = 3;
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);

type Labels = Vec<(&'static str, LabelValue)>;
type Seconds = Gauge<f64, AtomicU64>;

/// The grouping key of a run: its environment.
pub fn grouping(report: &RunReport) -> [(&'static str, &str); 1] {
    [("environment", report.environment.as_str())]
}

/// Replaces the run's environment group on the Pushgateway with this run's metrics.
pub async fn push_run(gateway: &Pushgateway, report: &RunReport) -> Result<(), PushError> {
    gateway.push(JOB, &grouping(report), &registry(report)).await
}

/// The run's metrics (see the module documentation).
pub fn registry(report: &RunReport) -> Registry {
    let mut registry = Registry::default();
    let label = |name: &'static str, value: &str| vec![(name, LabelValue::new(value))];
    let ran = || report.journeys.iter().filter(|j| !matches!(j.outcome, Outcome::Skipped(_)));

    let journeys = Family::<Labels, Gauge>::default();
    for (result, count) in [("passed", report.passed()), ("failed", report.failed()), ("skipped", report.skipped())] {
        journeys.get_or_create(&label("result", result)).set(count as i64);
    }
    registry.register("billing_e2e_journeys", "Journeys in the latest run, by result", journeys);

    let passed = Family::<Labels, Gauge>::default();
    for journey in ran() {
        passed.get_or_create(&label("journey", &journey.name)).set(i64::from(journey.outcome == Outcome::Passed));
    }
    registry.register(
        "billing_e2e_journey_passed",
        "1 if the journey passed in the latest run, 0 if it failed",
        passed,
    );

    let skipped = Family::<Labels, Gauge>::default();
    for journey in &report.journeys {
        if let Outcome::Skipped(reason) = &journey.outcome {
            let labels = vec![("journey", LabelValue::new(&journey.name)), ("reason", LabelValue::new(reason))];
            skipped.get_or_create(&labels).set(1);
        }
    }
    registry.register(
        "billing_e2e_journey_skipped",
        "1 for each journey the latest run skipped, with the reason",
        skipped,
    );

    let durations = Family::<Labels, Seconds>::default();
    for journey in ran() {
        durations.get_or_create(&label("journey", &journey.name)).set(journey.duration.as_secs_f64());
    }
    registry.register("billing_e2e_journey_duration_seconds", "How long the journey ran in the latest run", durations);

    let run_duration = Seconds::default();
    run_duration.set(report.duration.as_secs_f64());
    registry.register("billing_e2e_run_duration_seconds", "How long the latest run took", run_duration);

    let started = Gauge::<i64>::default();
    started.set(report.started_at);
    registry.register("billing_e2e_run_timestamp_seconds", "When the latest run started, in Unix seconds", started);

    let info = Family::<Labels, Gauge>::default();
    let commit = report.commit.as_deref().unwrap_or("unknown");
    info.get_or_create(&vec![("target", LabelValue::new(&report.target)), ("commit", LabelValue::new(commit))]).set(1);
    registry.register("billing_e2e_run_info", "The latest run's target and commit; always 1", info);

    registry
}

/// The body a push of this run sends (the Prometheus text format 0.0.4).
pub fn to_prometheus_text(report: &RunReport) -> String {
    billing_stack::push::encode(&registry(report)).expect("gauges always encode")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::JourneyResult;

    fn journey(name: &str, outcome: Outcome, millis: u64) -> JourneyResult {
        JourneyResult::new(name, outcome, Duration::from_millis(millis))
    }

    fn report() -> RunReport {
        RunReport {
            target: "local".into(),
            environment: "ci".into(),
            commit: Some("0123abc".into()),
            started_at: 1_764_072_000,
            duration: Duration::from_millis(4_500),
            journeys: vec![
                journey("signup", Outcome::Passed, 1_250),
                journey("renewal", Outcome::Failed("no credits".into()), 2_000),
                journey("staging_only", Outcome::Skipped("needs the fake".into()), 0),
            ],
        }
    }

    /// The sample lines, sorted: within a family the encoder's order is not fixed.
    fn samples(text: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        lines.sort();
        lines
    }

    #[test]
    fn the_text_has_counts_per_result_and_per_journey_series() {
        let text = to_prometheus_text(&report());
        assert_eq!(
            samples(&text),
            [
                r#"billing_e2e_journey_duration_seconds{journey="renewal"} 2.0"#,
                r#"billing_e2e_journey_duration_seconds{journey="signup"} 1.25"#,
                r#"billing_e2e_journey_passed{journey="renewal"} 0"#,
                r#"billing_e2e_journey_passed{journey="signup"} 1"#,
                r#"billing_e2e_journey_skipped{journey="staging_only",reason="needs the fake"} 1"#,
                r#"billing_e2e_journeys{result="failed"} 1"#,
                r#"billing_e2e_journeys{result="passed"} 1"#,
                r#"billing_e2e_journeys{result="skipped"} 1"#,
                "billing_e2e_run_duration_seconds 4.5",
                r#"billing_e2e_run_info{target="local",commit="0123abc"} 1"#,
                "billing_e2e_run_timestamp_seconds 1764072000",
            ]
        );
    }

    #[test]
    fn every_family_has_help_and_a_gauge_type() {
        let text = to_prometheus_text(&report());
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        assert_eq!(types.len(), 7, "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("# HELP ")).count(), 7);
        assert!(types.iter().all(|l| l.ends_with(" gauge")), "{text}");
    }

    #[test]
    fn label_values_escape_backslashes_quotes_and_newlines() {
        let mut run = report();
        run.target = "C:\\path \"quoted\"\nnext".into();
        run.commit = None;
        let text = to_prometheus_text(&run);
        assert!(
            text.contains(r#"billing_e2e_run_info{target="C:\\path \"quoted\"\nnext",commit="unknown"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn a_run_is_grouped_by_its_environment_under_the_billing_e2e_job() {
        let gateway = Pushgateway::new("https://metrics.example.com/pushgateway").unwrap();
        let mut run = report();
        run.environment = "staging/eu".into();
        assert_eq!(
            gateway.group_url(JOB, &grouping(&run)),
            "https://metrics.example.com/pushgateway/metrics/job/billing_e2e/environment@base64/c3RhZ2luZy9ldQ=="
        );
    }
}
