//! `scripts/check-latest-stripe-clients`, the nightly check that the registries' newest official
//! Stripe clients pass the same journeys as the pinned ones. Here it is run with given versions
//! (a test must not change its verdict the day a registry publishes): stripe-node 23.2.0, the
//! release that pins `2026-11-18.endive`, newer than any version the fake knows, and
//! stripe-python 16.0.1, which pins `2026-09-30.endive`, between two it knows, and is not the
//! version scripts/test installs, so its passing shows the script ran its own copy. Like the
//! pinned clients' tests, these need node, npm, python3 and pip (scripts/test installs them) and
//! reach npm and PyPI; they fail, never skip, without them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("fakes/ sits in the repository").to_path_buf()
}

/// What one run of the script did.
struct Run {
    status: Option<i32>,
    stdout: String,
    /// Both streams, for messages and failures.
    printed: String,
    left_files_behind: bool,
}

/// Runs the script with `args` and extra environment, its temporary files under a directory of
/// the test's own (named after `test`).
fn run_script(test: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let scratch = std::env::temp_dir().join(format!("latest-clients-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let output = Command::new(repository().join("scripts/check-latest-stripe-clients"))
        .args(args)
        .envs(env.iter().copied())
        .env("STRIPE_FAKE_BIN", env!("CARGO_BIN_EXE_stripe-fake"))
        .env("TMPDIR", &scratch)
        .env_remove("PYTHONPATH")
        .output()
        .expect("the script runs (bash)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let printed = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let left_files_behind = std::fs::read_dir(&scratch).unwrap().next().is_some();
    std::fs::remove_dir_all(&scratch).unwrap();
    Run { status: output.status.code(), stdout, printed, left_files_behind }
}

/// The version of the pinned stripe-node that scripts/test installed, if any.
fn pinned_node_client_installed() -> Option<String> {
    let manifest = repository().join("fakes/tests/node/node_modules/stripe/package.json");
    let text = std::fs::read_to_string(manifest).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["version"].as_str().map(str::to_string)
}

/// The pinned versions, read where scripts/test reads them (a bump must not break this test).
fn pinned() -> (String, String) {
    let manifest = std::fs::read_to_string(repository().join("fakes/tests/node/package.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let node = manifest["dependencies"]["stripe"].as_str().unwrap().to_string();
    let test = std::fs::read_to_string(repository().join("fakes/tests/official_client.rs")).unwrap();
    let python = test.lines().find_map(|line| line.strip_prefix("const PINNED: &str = \"")).unwrap();
    (node, python.trim_end_matches("\";").to_string())
}

/// The words of the client's row in the summary table the script ends its output with.
fn summary_row<'a>(run: &'a Run, client: &str) -> Vec<&'a str> {
    let summary = run.stdout.rsplit("==> summary").next().unwrap_or_default();
    let row = summary.lines().find(|line| line.starts_with(&format!("{client} ")));
    row.unwrap_or_else(|| panic!("no summary row for {client}:\n{}", run.printed)).split_whitespace().collect()
}

#[test]
fn the_script_runs_both_journeys_with_the_versions_asked_for_and_leaves_the_pinned_clients_alone() {
    let pinned_before = pinned_node_client_installed();
    let (node_pin, python_pin) = pinned();
    let run = run_script("both", &["--node-version", "23.2.0", "--python-version", "16.0.1"], &[]);
    let printed = &run.printed;
    assert_eq!(run.status, Some(0), "{printed}");
    assert!(printed.contains("OK: stripe-node 23.2.0 ran the journey"), "{printed}");
    assert!(printed.contains("OK: stripe-python 16.0.1 ran the journey"), "{printed}");
    assert_eq!(
        summary_row(&run, "stripe-node"),
        ["stripe-node", "23.2.0", &node_pin, "2026-11-18.endive", "2026-10-28.endive", "ok"]
    );
    assert_eq!(
        summary_row(&run, "stripe-python"),
        ["stripe-python", "16.0.1", &python_pin, "2026-09-30.endive", "2026-04-22.dahlia", "ok"]
    );
    assert!(printed.contains("the fake: Stripe-Version 2026-11-18.endive is newer than any release"), "{printed}");
    assert!(!run.left_files_behind, "the temporary clients are removed");
    assert_eq!(pinned_node_client_installed(), pinned_before, "the pinned stripe-node is not replaced");
}

#[test]
fn a_client_the_fake_refuses_is_reported_with_what_failed_and_fails_the_run() {
    let run = run_script(
        "strict",
        &["--clients", "node", "--node-version", "23.2.0"],
        &[("STRIPE_FAKE_STRICT_API_VERSIONS", "true")],
    );
    let printed = &run.printed;
    assert_eq!(run.status, Some(1), "{printed}");
    assert_eq!(
        summary_row(&run, "stripe-node"),
        ["stripe-node", "23.2.0", &pinned().0, "2026-11-18.endive", "refused", "(400)", "FAILED", "(exit", "1)"]
    );
    assert!(printed.contains("Invalid Stripe API version: 2026-11-18.endive."), "{printed}");
    assert!(!printed.contains("stripe-python "), "only the clients asked for run: {printed}");
    assert!(!run.left_files_behind);
}

#[test]
fn bad_arguments_are_refused_before_anything_is_installed() {
    let run = run_script("arguments", &["--clients", "ruby"], &[]);
    assert_eq!(run.status, Some(2), "{}", run.printed);
    assert!(run.printed.contains("--clients must name node, python or both"), "{}", run.printed);
}
