//! The files under `ci/` for load: the Kubernetes Indexed Job passes its completion index as the
//! worker index, and every metric the PromQL and the Grafana dashboard query is one the tool pushes.

use std::collections::BTreeSet;
use std::path::Path;

use billing_load::summary::{BaselineDelta, CheckResult, EndpointFigures, OpenModel, RunSummary, ThresholdVerdict};

fn ci_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci").join(path)).unwrap()
}

#[test]
fn the_indexed_job_makes_its_completion_index_the_worker_index() {
    let job = ci_file("load/indexed-job.yaml");
    assert!(job.contains("completionMode: Indexed"));
    let number = |key: &str| -> u32 {
        let line = job.lines().find(|line| line.trim_start().starts_with(key)).unwrap_or_else(|| panic!("no {key}"));
        line.rsplit([' ', '=']).next().unwrap().trim().parse().unwrap()
    };
    let workers = number("- --workers=");
    assert_eq!(number("completions:"), workers, "completions and --workers differ");
    assert_eq!(number("parallelism:"), workers, "parallelism and --workers differ");
    assert!(job.contains("- --worker-index=$(WORKER_INDEX)"));
    let index = job.find("name: WORKER_INDEX").unwrap();
    assert!(job[index..].lines().take(4).any(|line| line.contains("batch.kubernetes.io/job-completion-index")));
    assert!(job.contains("- --pushgateway="));
}

/// A summary with one of everything, so the registry holds every metric it can.
fn full_summary() -> RunSummary {
    let mut latency = billing_load::latency::LatencyHistogram::new();
    latency.record_us(900, 5);
    latency.record_us(1_900, 5);
    let endpoint = EndpointFigures { name: "POST /x".into(), requests: 10, latency, ..Default::default() };
    RunSummary {
        scenario: "webhooks".into(),
        environment: "ci".into(),
        worker_index: 0,
        workers: 1,
        target: "http://127.0.0.1:1".into(),
        run_id: "r".into(),
        started_at: "2026-11-26T12:00:00Z".into(),
        duration_seconds: 1.0,
        model: "open".into(),
        users: 1,
        load_seconds: 1.0,
        endpoints: vec![endpoint.clone()],
        total: endpoint,
        rules: vec!["p95<1s".into()],
        thresholds: vec![ThresholdVerdict { rule: "p95<1s".into(), observed: "1ms".into(), passed: true }],
        open_model: Some(OpenModel {
            asked_rate: 1.0,
            achieved_rate: 1.0,
            kept_up: true,
            late_requests: 0,
            worst_lateness_ms: 0.0,
            note: String::new(),
        }),
        coordinated_omission: None,
        checks: vec![CheckResult {
            name: "webhook outcome".into(),
            passed: true,
            detail: String::new(),
            problems: vec![],
        }],
        baseline: vec![BaselineDelta {
            endpoint: "POST /x".into(),
            metric: "rps".into(),
            baseline: 1.0,
            current: 1.0,
            change: 0.0,
            regressed: false,
        }],
        baseline_note: None,
        machine: None,
        merged_workers: vec![],
        timeline: vec![],
        reports: Default::default(),
    }
}

fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("billing_load_") {
        let name: String = rest[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[start + name.len()..];
        names.insert(name);
    }
    names
}

#[test]
fn every_metric_the_promql_and_the_dashboard_query_is_pushed() {
    let pushed = billing_load::prometheus::text(&billing_load::prometheus::registry(&full_summary()));
    let pushed: BTreeSet<String> = pushed
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let dashboard = ci_file("grafana/load-dashboard.json");
    serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON");
    for (file, text) in [("promql.md", ci_file("load/promql.md")), ("load-dashboard.json", dashboard)] {
        let queried = metric_names(&text);
        assert!(queried.len() > 5, "{file} queries next to nothing");
        for name in queried {
            assert!(pushed.contains(&name), "{file} queries {name}, which is not pushed; pushed: {pushed:?}");
        }
    }
}
