//! The command line: `load list`, and every usage or set-up error exits 2 with a message that
//! says how to fix it, before anything starts.

mod common;

use common::{assert_exit, run_load, stderr, stdout};

#[tokio::test]
async fn list_shows_every_scenario_with_its_default_thresholds() {
    let output = run_load(&["list"]).await;
    assert_exit(&output, 0);
    let text = stdout(&output);
    for scenario in ["onboarding", "credential-vending", "webhooks", "all"] {
        assert!(text.contains(&format!("{scenario}\n")), "{scenario} missing from:\n{text}");
    }
    assert!(text.contains("p95<5ms"), "{text}");
    assert!(text.contains("gh_marketplace"), "{text}");
}

/// Runs `load run` with `args` and expects exit code 2 and `hint` in the message.
async fn refused(args: &[&str], hint: &str) {
    let output = run_load(&[&["run"], args].concat()).await;
    assert_exit(&output, 2);
    let message = stderr(&output);
    assert!(message.contains(hint), "expected {hint:?} in:\n{message}");
}

#[tokio::test]
async fn a_remote_target_needs_to_be_listed_or_confirmed_as_production() {
    refused(&["healthz", "--target", "https://billing.example.com"], "--i-know-this-is-production").await;
}

#[tokio::test]
async fn a_remote_target_listed_in_load_allowed_targets_still_needs_its_keys_file() {
    let output = common::load()
        .args(["run", "credential-vending", "--target", "https://billing.staging.example.com"])
        .env("LOAD_ALLOWED_TARGETS", "*.staging.example.com")
        .output()
        .await
        .unwrap();
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("scripts/create-load-test-keys"), "{}", stderr(&output));
}

#[tokio::test]
async fn webhooks_against_a_remote_target_need_the_endpoint_secret_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(
        &keys,
        r#"{"target": "https://billing.example.com", "created_at": "", "api_keys": ["bk_x"], "pro_customers": []}"#,
    )
    .unwrap();
    refused(
        &[
            "webhooks",
            "--target",
            "https://billing.example.com",
            "--i-know-this-is-production",
            "--keys-file",
            keys.to_str().unwrap(),
        ],
        "STRIPE_WEBHOOK_SECRET",
    )
    .await;
}

#[tokio::test]
async fn a_keys_file_made_for_another_target_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, r#"{"target": "http://127.0.0.1:1", "created_at": "", "api_keys": ["bk_x"]}"#).unwrap();
    refused(
        &["credential-vending", "--target", "http://127.0.0.1:2", "--keys-file", keys.to_str().unwrap()],
        "made for",
    )
    .await;
}

#[tokio::test]
async fn a_threshold_that_is_not_a_rule_is_refused_with_examples() {
    refused(&["healthz", "--threshold", "p95 under 50"], "p95<50ms").await;
}

#[tokio::test]
async fn a_worker_index_must_be_below_the_number_of_workers() {
    refused(&["healthz", "--worker-index", "3", "--workers", "3"], "counts from 0").await;
}

#[tokio::test]
async fn durations_rates_and_profiles_are_checked_first() {
    refused(&["healthz", "--run-time", "soon"], "30s").await;
    refused(&["healthz", "--rate", "0"], "--rate").await;
    refused(&["healthz", "--profile", "/nonexistent/profile.toml"], "cannot read --profile").await;
    refused(&["healthz", "--baseline", "/nonexistent"], "--save-baseline").await;
    refused(&["onboarding", "--verify-rate-limit", "60/10"], "credential-vending").await;
    refused(&["credential-vending", "--verify-rate-limit", "sixty"], "60/10").await;
}

#[tokio::test]
async fn an_unknown_scenario_is_a_usage_error() {
    let output = run_load(&["run", "checkout"]).await;
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("possible values"), "{}", stderr(&output));
}

#[tokio::test]
async fn run_all_load_tests_asks_before_loading_a_target_that_is_not_local() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/run-all-load-tests");
    let output = tokio::process::Command::new("bash")
        .arg(&script)
        .args(["--target", "https://billing.example.com"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("pass --yes"), "{}", stderr(&output));
    let help = tokio::process::Command::new("bash").arg(&script).arg("--help").output().await.unwrap();
    assert_exit(&help, 0);
    assert!(stdout(&help).contains("--against REF"), "{}", stdout(&help));
    // The absolute baseline is no longer the script's gate, and says so.
    let baseline = tokio::process::Command::new("bash").arg(&script).arg("--baseline").output().await.unwrap();
    assert_exit(&baseline, 2);
    assert!(stderr(&baseline).contains("--against"), "{}", stderr(&baseline));
}
