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
    // The merge Job waits for as many workers as there are, and writes where the workers write.
    let merge = &job[job.find("name: billing-load-merge").expect("a merge Job")..];
    let waits_for = merge.lines().skip_while(|line| !line.contains("name: WORKERS")).nth(1).unwrap();
    assert_eq!(waits_for.trim(), format!("value: \"{workers}\""), "the merge waits for {workers} workers");
    assert!(job.contains("- --report-dir=/reports/$(LOAD_RUN_ID)/worker-$(WORKER_INDEX)"));
    assert!(merge.contains("load merge /reports/\"$run\"/worker-*"));
}

/// Runs a schema validator (installed by scripts/test) and returns whether it accepted the files.
fn validates(program: &[&str], files: &[std::path::PathBuf]) -> (bool, String) {
    let output = std::process::Command::new(program[0])
        .args(&program[1..])
        .args(files)
        .output()
        .unwrap_or_else(|err| panic!("{program:?} does not run ({err}): scripts/test installs it"));
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!said.contains("No module named"), "{program:?} is not installed: run scripts/test\n{said}");
    (output.status.success(), said)
}

/// The validators' versions, installed by scripts/test (which reads them from here).
const CHECK_JSONSCHEMA_PINNED: &str = "0.39.0";
const KUBERNETES_VALIDATE_PINNED: &str = "1.37.0";

#[test]
fn the_validators_are_the_pinned_versions() {
    for (module, pinned) in
        [("check_jsonschema", CHECK_JSONSCHEMA_PINNED), ("kubernetes_validate", KUBERNETES_VALIDATE_PINNED)]
    {
        let output = std::process::Command::new("python3").args(["-m", module, "--version"]).output().unwrap();
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(said.contains(pinned), "{module} is not {pinned} ({said}): run scripts/test");
    }
}

const WORKFLOW_SCHEMA: [&str; 5] = ["python3", "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"];
const KUBERNETES: [&str; 3] = ["python3", "-m", "kubernetes_validate"];

#[test]
fn the_workflows_users_copy_are_valid_github_actions_workflows() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/github-actions");
    let workflows: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    assert!(workflows.len() >= 3, "{workflows:?}");
    let (valid, said) = validates(&WORKFLOW_SCHEMA, &workflows);
    assert!(valid, "{said}");
    // The validator does reject a broken one.
    let broken = tempfile::tempdir().unwrap();
    let path = broken.path().join("broken.yml");
    std::fs::write(&path, "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps: not-a-list\n").unwrap();
    assert!(!validates(&WORKFLOW_SCHEMA, &[path]).0);
}

#[test]
fn the_kubernetes_manifests_are_valid_for_kubernetes() {
    let job = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/load/indexed-job.yaml");
    let (valid, said) = validates(&KUBERNETES, std::slice::from_ref(&job));
    assert!(valid, "{said}");
    for kind in
        ["persistentvolumeclaim/billing-load-reports", "job/billing-load-credential-vending", "job/billing-load-merge"]
    {
        assert!(said.contains(kind), "{kind} was not validated: {said}");
    }
    let broken = tempfile::tempdir().unwrap();
    let path = broken.path().join("broken.yaml");
    std::fs::write(&path, ci_file("load/indexed-job.yaml").replace("completions: 4", "completions: four")).unwrap();
    assert!(!validates(&KUBERNETES, &[path]).0);
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
