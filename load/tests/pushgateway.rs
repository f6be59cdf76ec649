//! Pushing a run's results to the real Pushgateway (Debian's `prometheus-pushgateway`, with
//! bcrypt basic auth and a state file of its own), and reading the series back.

mod common;

use billing_stack::test_pushgateway::{PASSWORD, TestPushgateway};
use common::{assert_exit, load_run, load_stack, stderr};

#[tokio::test]
async fn a_run_is_pushed_with_basic_auth_under_its_job_and_grouping_key() {
    let gateway = TestPushgateway::start().await.unwrap();
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let output = load_run("healthz", dir.path())
        .target(&stack.service_url)
        .users(2)
        .run_time("1s")
        .arg("--environment", "ci")
        .arg("--worker-index", "1")
        .arg("--workers", "2")
        .arg("--threshold", "rps>=1")
        .pushgateway(gateway.url(), PASSWORD)
        .output()
        .await;
    assert_exit(&output, 0);
    let summary = common::summary(dir.path());
    let scrape = gateway.scrape().await.unwrap();
    let group = [("job", "billing_load"), ("scenario", "healthz"), ("environment", "ci"), ("worker", "1")];
    let endpoint = [&group[..], &[("endpoint", "GET /healthz")]].concat();
    assert_eq!(scrape.value("billing_load_requests_total", &endpoint), summary.total.requests as f64);
    assert_eq!(scrape.value("billing_load_failures_total", &endpoint), 0.0);
    assert_eq!(scrape.type_of("billing_load_request_duration_seconds"), Some("histogram"));
    let inf = [&endpoint[..], &[("le", "+Inf")]].concat();
    assert_eq!(scrape.value("billing_load_request_duration_seconds_bucket", &inf), summary.total.requests as f64);
    assert_eq!(scrape.value("billing_load_threshold_passed", &[&group[..], &[("rule", "rps>=1")]].concat()), 1.0);
    assert_eq!(scrape.value("billing_load_run_passed", &group), 1.0);
    assert!(scrape.value("billing_load_run_duration_seconds", &group) > 0.0);
}

#[tokio::test]
async fn a_refused_push_keeps_the_reports_and_says_what_to_do() {
    let gateway = TestPushgateway::start().await.unwrap();
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let output = load_run("healthz", dir.path())
        .target(&stack.service_url)
        .users(1)
        .run_time("1s")
        .pushgateway(gateway.url(), "wrong")
        .output()
        .await;
    assert_exit(&output, 2);
    let message = stderr(&output);
    assert!(message.contains("were not pushed"), "{message}");
    assert!(message.contains("PUSHGATEWAY_USER"), "the message says how to fix it: {message}");
    assert!(dir.path().join("summary.json").is_file() && dir.path().join("report.html").is_file());
    assert!(common::stdout(&output).contains("PASSED"), "the verdict is still printed");
}

#[tokio::test]
async fn a_run_after_a_run_with_more_workers_leaves_none_of_the_old_groups_in_the_sums() {
    let gateway = TestPushgateway::start().await.unwrap();
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |run_id: &'static str, workers: usize, index: usize| {
        let report = dir.path().join(format!("{run_id}-{index}"));
        let (url, gateway) = (stack.service_url.clone(), gateway.url().to_string());
        async move {
            let output = load_run("healthz", &report)
                .target(&url)
                .users(1)
                .run_time("1s")
                .arg("--run-id", run_id)
                .arg("--worker-index", index.to_string())
                .arg("--workers", workers.to_string())
                .pushgateway(&gateway, PASSWORD)
                .output()
                .await;
            assert_exit(&output, 0);
        }
    };
    tokio::join!(run("old", 4, 0), run("old", 4, 1), run("old", 4, 2), run("old", 4, 3));
    let scrape = gateway.scrape().await.unwrap();
    assert_eq!(scrape.label_sets("billing_load_run_passed", &[("scenario", "healthz")]).len(), 4);
    tokio::join!(run("new", 2, 0), run("new", 2, 1));
    let scrape = gateway.scrape().await.unwrap();
    let groups = scrape.label_sets("billing_load_run_passed", &[("scenario", "healthz")]);
    assert_eq!(groups.len(), 2, "only the new run's two workers are left: {groups:?}");
    assert!(scrape.label_sets("billing_load_run_passed", &[("run_id", "old")]).is_empty(), "{groups:?}");
    assert_eq!(scrape.label_sets("billing_load_run_passed", &[("run_id", "new")]).len(), 2);
}
