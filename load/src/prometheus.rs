//! A run's results as Prometheus metrics, for the Pushgateway.
//!
//! Pushed under job `billing_load` with the grouping key {scenario, environment, run_id,
//! worker}: one group per worker of a run, so a sum over the groups of a scenario adds up one
//! run's workers. Each push then removes the groups of that scenario and environment that an
//! *earlier* run left ([`crate::push`]), so groups never grow without bound and a 2-worker run
//! after a 4-worker one is not summed with the old run's workers 2 and 3. Requests and
//! failures are counters and latency is a **histogram** (buckets, `_sum`, `_count`): quantiles
//! cannot be combined across workers, while `histogram_quantile` over buckets summed across
//! workers can (`ci/load/promql.md`).
//!
//! | metric | labels | |
//! | --- | --- | --- |
//! | `billing_load_requests_total` | `endpoint` | requests made |
//! | `billing_load_failures_total` | `endpoint` | failed requests (409 and 429 are not failures) |
//! | `billing_load_conflicts_total` | `endpoint` | 409 answers |
//! | `billing_load_rate_limited_total` | `endpoint` | 429 answers |
//! | `billing_load_request_duration_seconds` | `endpoint` | latency histogram |
//! | `billing_load_requests_per_second` | `endpoint` | throughput over the run |
//! | `billing_load_threshold_passed` | `rule` | 1 held, 0 broke |
//! | `billing_load_baseline_change_ratio` | `endpoint`, `figure` | change from the baseline (error rate: points) |
//! | `billing_load_baseline_regressed` | `endpoint`, `figure` | 1 when beyond the tolerance |
//! | `billing_load_check_passed` | `check` | after-run checks (webhook outcome, rate limit…) |
//! | `billing_load_open_model_requests_per_second` | `kind` = asked, achieved | the open model |
//! | `billing_load_run_passed` | | 1 when the run passed |
//! | `billing_load_run_duration_seconds` | | |
//! | `billing_load_run_timestamp_seconds` | | when the run started |
//! | `billing_load_run_info` | `target`, `run_id`, `model` | always 1 |

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::summary::{EndpointFigures, RunSummary, histogram_bounds};

/// The Pushgateway job every load run pushes under.
pub const JOB: &str = "billing_load";

/// The grouping key of a run: one group per scenario, environment, run and worker.
pub fn grouping(summary: &RunSummary) -> Vec<(&'static str, String)> {
    vec![
        ("scenario", summary.scenario.clone()),
        ("environment", summary.environment.clone()),
        ("run_id", summary.run_id.clone()),
        ("worker", summary.worker_index.to_string()),
    ]
}

/// The metric each group carries that says when its run started (Unix seconds): what tells
/// an earlier run's groups from this one's.
pub const RUN_TIMESTAMP: &str = "billing_load_run_timestamp_seconds";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Endpoint {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Rule {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Figure {
    endpoint: String,
    figure: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Check {
    check: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Info {
    target: String,
    run_id: String,
    model: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// A latency histogram already counted (the recorder counted the requests): encoded as
/// Prometheus histogram buckets through prometheus-client's own encoder.
#[derive(Debug, Clone)]
struct HistogramSnapshot {
    sum: f64,
    count: u64,
    /// `(upper bound, requests in this bucket)`, the last bound `f64::MAX` (+Inf).
    buckets: Vec<(f64, u64)>,
}

impl HistogramSnapshot {
    fn of(figures: &EndpointFigures) -> HistogramSnapshot {
        let latency = &figures.latency;
        let bounds = histogram_bounds();
        let mut buckets = Vec::with_capacity(bounds.len() + 1);
        let mut below = 0;
        for bound in bounds {
            let cumulative = latency.count_at_or_below(std::time::Duration::from_secs_f64(bound));
            buckets.push((bound, cumulative - below));
            below = cumulative;
        }
        buckets.push((f64::MAX, latency.len().saturating_sub(below)));
        HistogramSnapshot { sum: latency.mean_ms() * latency.len() as f64 / 1e3, count: latency.len(), buckets }
    }
}

/// One histogram per endpoint, as one metric family (a `Family` would need a constructor for
/// empty histograms; these are already counted).
#[derive(Debug, Clone)]
struct EndpointHistograms(Vec<(Endpoint, HistogramSnapshot)>);

impl TypedMetric for EndpointHistograms {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for EndpointHistograms {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (label, histogram) in &self.0 {
            encoder.encode_family(label)?.encode_histogram::<NoLabelSet>(
                histogram.sum,
                histogram.count,
                &histogram.buckets,
                None,
            )?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The registry of one run's results.
pub fn registry(summary: &RunSummary) -> Registry {
    let mut registry = Registry::with_prefix("billing_load");
    let requests = Family::<Endpoint, Counter>::default();
    let failures = Family::<Endpoint, Counter>::default();
    let conflicts = Family::<Endpoint, Counter>::default();
    let rate_limited = Family::<Endpoint, Counter>::default();
    let rps = Family::<Endpoint, FloatGauge>::default();
    for figures in &summary.endpoints {
        let label = Endpoint { endpoint: figures.name.clone() };
        requests.get_or_create(&label).inc_by(figures.requests);
        failures.get_or_create(&label).inc_by(figures.failures);
        conflicts.get_or_create(&label).inc_by(figures.conflicts);
        rate_limited.get_or_create(&label).inc_by(figures.rate_limited);
        rps.get_or_create(&label).set(figures.rps);
    }
    registry.register("requests", "Requests made", requests);
    registry.register("failures", "Failed requests (409 and 429 are counted apart, not as failures)", failures);
    registry.register("conflicts", "Requests answered 409", conflicts);
    registry.register("rate_limited", "Requests answered 429", rate_limited);
    let histograms = summary
        .endpoints
        .iter()
        .map(|figures| (Endpoint { endpoint: figures.name.clone() }, HistogramSnapshot::of(figures)))
        .collect();
    registry.register(
        "request_duration_seconds",
        "Latency of the requests (histogram buckets: sum them across workers for histogram_quantile)",
        EndpointHistograms(histograms),
    );
    registry.register("requests_per_second", "Throughput over the run", rps);

    let thresholds = Family::<Rule, Gauge>::default();
    for verdict in &summary.thresholds {
        thresholds.get_or_create(&Rule { rule: verdict.rule.clone() }).set(verdict.passed as i64);
    }
    registry.register("threshold_passed", "1 when the threshold held, 0 when it broke", thresholds);

    let change = Family::<Figure, FloatGauge>::default();
    let regressed = Family::<Figure, Gauge>::default();
    for delta in &summary.baseline {
        let label = Figure { endpoint: delta.endpoint.clone(), figure: delta.metric.clone() };
        change.get_or_create(&label).set(delta.change);
        regressed.get_or_create(&label).set(delta.regressed as i64);
    }
    registry.register("baseline_change_ratio", "Change from the baseline (error rate: percentage points)", change);
    registry.register("baseline_regressed", "1 when the figure regressed beyond the tolerance", regressed);

    let checks = Family::<Check, Gauge>::default();
    for check in &summary.checks {
        checks.get_or_create(&Check { check: check.name.clone() }).set(check.passed as i64);
    }
    registry.register("check_passed", "1 when the after-run check passed", checks);

    if let Some(open) = &summary.open_model {
        let rates = Family::<Kind, FloatGauge>::default();
        rates.get_or_create(&Kind { kind: "asked".into() }).set(open.asked_rate);
        rates.get_or_create(&Kind { kind: "achieved".into() }).set(open.achieved_rate);
        registry.register("open_model_requests_per_second", "The open model's asked and achieved arrival rate", rates);
    }

    let passed = Gauge::<i64>::default();
    passed.set(summary.passed() as i64);
    registry.register("run_passed", "1 when the run passed", passed);
    let duration = FloatGauge::default();
    duration.set(summary.duration_seconds);
    registry.register("run_duration_seconds", "How long the load ran", duration);
    let started = FloatGauge::default();
    started
        .set(chrono::DateTime::parse_from_rfc3339(&summary.started_at).map(|at| at.timestamp() as f64).unwrap_or(0.0));
    registry.register("run_timestamp_seconds", "When the run started (Unix seconds)", started);
    let info = Family::<Info, Gauge>::default();
    info.get_or_create(&Info {
        target: summary.target.clone(),
        run_id: summary.run_id.clone(),
        model: summary.model.clone(),
    })
    .set(1);
    registry.register("run_info", "The run's target, id and load model (always 1)", info);
    registry
}

/// The registry as Prometheus text (for tests and for the report folder).
pub fn text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).expect("encoding into a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_pushed_as_cumulative_histogram_buckets_ending_in_inf() {
        let mut latency = crate::latency::LatencyHistogram::new();
        for us in [50, 150, 300, 350, 700, 900, 1_500, 3_000, 3_100, 20_000_000] {
            latency.record_us(us, 1);
        }
        let figures = EndpointFigures { name: "GET /healthz".into(), requests: 10, latency, ..Default::default() };
        let summary = RunSummary {
            worker_index: 2,
            workers: 3,
            started_at: "2026-11-26T12:00:00Z".into(),
            ..RunSummary::of_one_endpoint("healthz", figures)
        };
        let text = text(&registry(&summary));
        for line in [
            r#"billing_load_request_duration_seconds_bucket{le="0.0001",endpoint="GET /healthz"} 1"#,
            r#"billing_load_request_duration_seconds_bucket{le="0.0008",endpoint="GET /healthz"} 5"#,
            r#"billing_load_request_duration_seconds_bucket{le="0.0016",endpoint="GET /healthz"} 7"#,
            r#"billing_load_request_duration_seconds_bucket{le="13.1072",endpoint="GET /healthz"} 9"#,
            r#"billing_load_request_duration_seconds_bucket{le="+Inf",endpoint="GET /healthz"} 10"#,
            r#"billing_load_request_duration_seconds_count{endpoint="GET /healthz"} 10"#,
            r#"billing_load_requests_total{endpoint="GET /healthz"} 10"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert_eq!(text.matches("# TYPE billing_load_request_duration_seconds histogram").count(), 1);
        let group: Vec<(&str, String)> = grouping(&summary);
        assert_eq!(
            group,
            vec![
                ("scenario", "healthz".into()),
                ("environment", "local".into()),
                ("run_id", "r".into()),
                ("worker", "2".into())
            ]
        );
    }
}
