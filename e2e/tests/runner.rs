//! The runner as CI and release managers use it: against a deployed target only the journeys
//! that need nothing but the API run, and `e2e run` writes JUnit and exits by the results.

use billing_e2e::Stack;
use billing_e2e::runner::{self, RunOptions, Target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_deployed_target_only_api_journeys_run_and_the_rest_are_skipped() {
    // A stack stands in for the deployed service; the runner sees only its URL.
    let deployed = Stack::start().await.unwrap();
    let (signup, _) = deployed.signed_up_customer("release-manager@example.com").await.unwrap();
    let options = RunOptions {
        target: Target::Deployed { base_url: deployed.service_url.clone(), api_key: Some(signup.api_key) },
        environment: "staging".into(),
        ..Default::default()
    };

    let report = runner::run(&options).await;

    let api_only: Vec<&str> =
        billing_e2e::journeys::all().iter().filter(|j| j.runs_against_deployed_target(true)).map(|j| j.name).collect();
    assert!(api_only.len() >= 10, "{api_only:?}");
    assert_eq!(report.failed(), 0, "{:#?}", report.journeys);
    assert_eq!(report.passed(), api_only.len());
    assert_eq!(report.skipped(), billing_e2e::journeys::all().len() - api_only.len());
    assert_eq!(report.target, deployed.service_url);
}

#[test]
fn e2e_run_writes_junit_and_exits_by_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("reports/e2e.xml");
    let passed = std::process::Command::new(env!("CARGO_BIN_EXE_e2e"))
        .args(["run", "--filter", "low_credit", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&passed.stdout);
    assert!(passed.status.success(), "{stdout}");
    assert!(stdout.contains("PASS  low_credit_warning"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"name="low_credit_warning""#) && xml.contains(r#"failures="0""#), "{xml}");

    // A target where nothing listens: the journey fails, the JUnit says so, the exit code is 1.
    let failed = std::process::Command::new(env!("CARGO_BIN_EXE_e2e"))
        .args(["run", "--target", "http://127.0.0.1:9", "--filter", "low_credit", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", String::from_utf8_lossy(&failed.stdout));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"failures="1""#) && xml.contains("<failure"), "{xml}");

    let unknown =
        std::process::Command::new(env!("CARGO_BIN_EXE_e2e")).args(["run", "--filter", "nope"]).output().unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("e2e list"));
}
