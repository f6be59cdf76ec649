//! Whole runs of the `load` binary: reports, exit codes for thresholds and baselines, and the
//! scenarios' own rules (unique e-mails across workers, the rate-limit variant).

mod common;

use common::{assert_exit, keys_file, load_run, load_stack, stdout, summary};

#[tokio::test]
async fn a_run_on_the_embedded_stack_writes_every_report_and_exits_0_when_its_thresholds_hold() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let output = load_run("credential-vending", &reports)
        .in_process()
        .users(4)
        .run_time("2s")
        .only_threshold("error-rate<1%")
        .output()
        .await;
    assert_exit(&output, 0);
    for file in ["report.html", "report.md", "report.json", "summary.json", "summary.md", "chart.svg", "metrics.prom"] {
        assert!(reports.join(file).is_file(), "{file} was not written");
    }
    let summary = summary(&reports);
    let vending = &summary.endpoints[0];
    assert_eq!(vending.name, "POST /api/v1/credentials/exchange");
    assert!(vending.requests > 100, "only {} requests", vending.requests);
    assert_eq!(vending.failures, 0);
    assert!(vending.p50_ms > 0.0 && vending.p50_ms <= vending.p95_ms && vending.p95_ms <= vending.p99_ms);
    assert!(!summary.timeline.is_empty(), "the chart has seconds to show");
    let table = stdout(&output);
    for column in ["requests", "req/s", "p50", "p95", "p99", "errors", "429", "error-rate<1%", "PASSED"] {
        assert!(table.contains(column), "{column} missing from the summary table:\n{table}");
    }
    let markdown = std::fs::read_to_string(reports.join("summary.md")).unwrap();
    assert!(markdown.contains("| POST /api/v1/credentials/exchange |"), "{markdown}");
    assert!(std::fs::read_to_string(reports.join("report.html")).unwrap().contains("<html"));
}

#[tokio::test]
async fn a_threshold_that_breaks_exits_1_with_a_table_of_what_broke() {
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let output = load_run("healthz", dir.path())
        .target(&stack.service_url)
        .users(2)
        .run_time("1s")
        .arg("--threshold", "rps>=100000000")
        .output()
        .await;
    assert_exit(&output, 1);
    let table = stdout(&output);
    assert!(table.contains("what broke"), "{table}");
    assert!(table.contains("threshold   rps>=100000000: observed"), "{table}");
    assert!(table.contains("FAILED"), "{table}");
    assert!(!summary(dir.path()).thresholds[1].passed);
}

#[tokio::test]
async fn a_regression_beyond_the_tolerance_exits_1_and_a_saved_baseline_compares_clean() {
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline");
    let first = dir.path().join("first");
    let run = |report: &std::path::Path| load_run("healthz", report).target(&stack.service_url).users(2).run_time("1s");
    assert_exit(&run(&first).arg("--save-baseline", &baseline).output().await, 0);
    assert!(baseline.join("summary.json").is_file() && baseline.join("report.json").is_file());

    // The same service against a baseline ten times faster than it is: a regression.
    let mut faster = summary(&baseline);
    for endpoint in &mut faster.endpoints {
        endpoint.rps *= 10.0;
    }
    std::fs::write(baseline.join("summary.json"), serde_json::to_string(&faster).unwrap()).unwrap();
    let output = run(&dir.path().join("second")).arg("--baseline", &baseline).arg("--tolerance", "10").output().await;
    assert_exit(&output, 1);
    let table = stdout(&output);
    assert!(table.contains("REGRESSED"), "{table}");
    assert!(table.contains("baseline    GET /healthz rps"), "{table}");
    // goose's own report shows each figure's change from the baseline's report.json too.
    let goose_markdown = std::fs::read_to_string(dir.path().join("second/report.md")).unwrap();
    let row = goose_markdown.lines().find(|line| line.starts_with("| GET | /healthz |")).expect("a row for /healthz");
    assert!(row.contains("(+") || row.contains("(-"), "{row}");
}

#[tokio::test]
async fn onboarding_emails_never_collide_across_workers_users_and_iterations() {
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let worker = |index: usize| {
        let report = dir.path().join(format!("w{index}"));
        let url = stack.service_url.clone();
        async move {
            let output = load_run("onboarding", &report)
                .target(&url)
                .users(3)
                .run_time("2s")
                .only_threshold("error-rate<1%")
                .arg("--worker-index", index.to_string())
                .arg("--workers", "2")
                .arg("--run-id", "same")
                .output()
                .await;
            assert_exit(&output, 0);
            summary(&report)
        }
    };
    let (first, second) = tokio::join!(worker(0), worker(1));
    let signups = first.total.requests + second.total.requests;
    assert!(signups > 20, "only {signups} signups");
    assert_eq!(first.total.conflicts + second.total.conflicts, 0, "an e-mail was used twice");
    let customers: i64 = sqlx::query_scalar("SELECT count(*) FROM customers WHERE email LIKE 'load-same-%'")
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(customers as u64, signups);
    let sources: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT source FROM customers").fetch_all(&stack.pool).await.unwrap();
    assert!(sources.contains(&"gh_marketplace".to_string()), "{sources:?}");
}

#[tokio::test]
async fn the_rate_limit_variant_passes_when_the_limit_holds_and_counts_429_apart() {
    let dir = tempfile::tempdir().unwrap();
    let output = load_run("credential-vending", dir.path())
        .in_process()
        .users(4)
        .arg("--fixtures", "2")
        .run_time("2s")
        .arg("--verify-rate-limit", "60/5")
        .only_threshold("error-rate<1%")
        .output()
        .await;
    assert_exit(&output, 0);
    let summary = summary(dir.path());
    let check = summary.checks.iter().find(|check| check.name == "rate limit").expect("the rate-limit check ran");
    assert!(check.passed, "{check:?}");
    let vending = &summary.endpoints[0];
    assert!(vending.rate_limited > 0, "no 429 was seen");
    assert_eq!(vending.failures, 0, "429 must not count as errors");
}

#[tokio::test]
async fn the_rate_limit_variant_fails_when_a_target_lets_more_through_than_the_limit() {
    // The stack's limit is out of reach; the run claims 60/min with a burst of 5.
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = keys_file(dir.path(), &stack.service_url, 2, 0).await;
    let output = load_run("credential-vending", &dir.path().join("r"))
        .target(&stack.service_url)
        .arg("--keys-file", &keys)
        .users(2)
        .run_time("1s")
        .arg("--verify-rate-limit", "60/5")
        .flag("--no-default-thresholds")
        .output()
        .await;
    assert_exit(&output, 1);
    let table = stdout(&output);
    assert!(table.contains("rate limit"), "{table}");
    assert!(table.contains("the limit allows"), "{table}");
}

#[tokio::test]
async fn a_profile_steps_the_users_through_its_stages() {
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.toml");
    std::fs::write(
        &profile,
        "executor = \"users\"\n[[stages]]\nduration = \"1s\"\ntarget = 3\n[[stages]]\nduration = \"1s\"\ntarget = 3\n[[stages]]\nduration = \"1s\"\ntarget = 0\n",
    )
    .unwrap();
    let output =
        load_run("healthz", &dir.path().join("r")).target(&stack.service_url).arg("--profile", &profile).output().await;
    assert_exit(&output, 0);
    let summary = summary(&dir.path().join("r"));
    assert_eq!(summary.users, 3);
    assert!(summary.total.requests > 10, "{:?}", summary.total);
    let goose_report = std::fs::read_to_string(dir.path().join("r/report.md")).unwrap();
    assert!(goose_report.contains("Increasing") && goose_report.contains("Decreasing"), "{goose_report}");
}
