//! Many workers: three `load` processes share one run against one service and one Pushgateway,
//! each with its own worker index and share of the keys; what they pushed, summed as Prometheus
//! sums it, adds up to what the service's `/metrics` counted.

mod common;

use billing_stack::test_pushgateway::{PASSWORD, TestPushgateway};
use common::{assert_exit, keys_file, load_run, load_stack, service_counter, summary};

const EXCHANGE: &str = r#"route="/api/v1/credentials/exchange""#;

#[tokio::test]
async fn three_workers_counts_add_up_to_what_the_service_counted() {
    let stack = load_stack().await;
    let gateway = TestPushgateway::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_file(dir.path(), &stack.service_url, 6, 0).await;
    let before = service_counter(&stack.service_url, "billing_http_requests_total", &[EXCHANGE]).await;
    let worker = |index: usize| {
        let report = dir.path().join(format!("worker-{index}"));
        let (url, keys, gateway) = (stack.service_url.clone(), keys.clone(), gateway.url().to_string());
        async move {
            let output = load_run("credential-vending", &report)
                .target(&url)
                .arg("--keys-file", &keys)
                .users(2)
                .run_time("2s")
                .flag("--no-default-thresholds")
                .arg("--worker-index", index.to_string())
                .arg("--workers", "3")
                .arg("--run-id", "shared")
                .pushgateway(&gateway, PASSWORD)
                .output()
                .await;
            assert_exit(&output, 0);
            summary(&report)
        }
    };
    let summaries = [worker(0), worker(1), worker(2)];
    let summaries = futures_join(summaries).await;
    let counted: u64 = summaries.iter().map(|summary| summary.total.requests).sum();
    let after = service_counter(&stack.service_url, "billing_http_requests_total", &[EXCHANGE]).await;
    assert!(counted > 100, "only {counted} requests");
    assert_eq!(counted as f64, after - before, "the workers' totals and the service's count differ");
    let scrape = gateway.scrape().await.unwrap();
    let pushed: f64 = scrape
        .values("billing_load_requests_total", &[("job", "billing_load"), ("scenario", "credential-vending")])
        .iter()
        .sum();
    assert_eq!(pushed, after - before, "the pushed totals, summed over workers, and the service's count differ");
    let workers = scrape.label_sets("billing_load_run_passed", &[("scenario", "credential-vending")]);
    assert_eq!(workers.len(), 3, "one group per worker: {workers:?}");
    let inf: f64 = scrape
        .values("billing_load_request_duration_seconds_bucket", &[("scenario", "credential-vending"), ("le", "+Inf")])
        .iter()
        .sum();
    assert_eq!(inf, pushed, "the summed histogram counts every request once");
    let indexes: Vec<usize> = summaries.iter().map(|summary| summary.worker_index).collect();
    assert_eq!(indexes, vec![0, 1, 2]);

    // One verdict for the run: `load merge` over the three report folders.
    let merged_dir = dir.path().join("merged");
    let junit = dir.path().join("merged.xml");
    let mut args: Vec<String> = vec!["merge".into()];
    args.extend((0..3).map(|index| dir.path().join(format!("worker-{index}")).display().to_string()));
    args.extend([
        "--report-dir".into(),
        merged_dir.display().to_string(),
        "--junit".into(),
        junit.display().to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = common::run_load(&args).await;
    assert_exit(&output, 0);
    let merged = summary(&merged_dir);
    assert_eq!(merged.total.requests, counted, "the merged run counts every worker's requests");
    assert_eq!(merged.merged_workers, vec![0, 1, 2]);
    assert_eq!(merged.total.latency.len(), counted, "one histogram of every request");
    let rps: f64 = summaries.iter().map(|summary| summary.total.rps).sum();
    assert!((merged.total.rps - rps).abs() < 1e-6, "throughput is summed: {} vs {rps}", merged.total.rps);
    assert!(std::fs::read_to_string(&junit).unwrap().contains("<testsuites"));
    assert!(merged_dir.join("chart.svg").is_file() && merged_dir.join("summary.md").is_file());

    // The folders of another run are not merged with these.
    let mut other = summary(&dir.path().join("worker-2"));
    other.run_id = "another".into();
    std::fs::write(dir.path().join("worker-2/summary.json"), serde_json::to_string(&other).unwrap()).unwrap();
    let output = common::run_load(&args).await;
    assert_exit(&output, 2);
    assert!(common::stderr(&output).contains("--run-id"), "{}", common::stderr(&output));
}

async fn futures_join<F: Future>(futures: [F; 3]) -> Vec<F::Output> {
    let [a, b, c] = futures;
    let (a, b, c) = tokio::join!(a, b, c);
    vec![a, b, c]
}
