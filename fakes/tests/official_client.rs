//! Stripe's official clients against the fake, each running a whole billing journey and verifying
//! the webhooks with its own signature check: stripe-python (`tests/stripe_python_compat.py`) and
//! stripe-node (`tests/node/stripe_node_compat.mjs`). The project's set-up (`scripts/test`)
//! installs both at their pinned versions; without them these tests fail and say how to install
//! them (they never skip).

use std::path::{Path, PathBuf};
use std::process::Command;

use billing_fakes::StripeFake;

const PINNED: &str = "16.1.0";

fn node_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// The stripe-node version pinned in `tests/node/package.json`.
fn pinned_node_client() -> String {
    let manifest = std::fs::read_to_string(node_folder().join("package.json")).expect("tests/node/package.json exists");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("package.json is JSON");
    manifest["dependencies"]["stripe"].as_str().expect("package.json pins stripe").to_string()
}

/// Runs a compatibility script against a fresh fake and returns its stdout, failing with both
/// streams if it fails.
async fn run_against_fake(program: &'static str, script: PathBuf, working_dir: PathBuf) -> String {
    let fake = StripeFake::start().await.expect("fake starts");
    let base_url = fake.base_url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(program).arg(script).arg(base_url).current_dir(working_dir).output()
    })
    .await
    .expect("the script runs")
    .unwrap_or_else(|error| panic!("{program} does not start: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the {program} journey failed ({}):\n{stdout}\n{stderr}", output.status);
    println!("{stdout}{stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_client_runs_a_billing_journey_against_the_fake() {
    let probe = Command::new("python3").args(["-c", "import stripe"]).output();
    match probe {
        Ok(output) if output.status.success() => {}
        Ok(_) => {
            panic!("the official Stripe Python client is missing: pip install stripe=={PINNED} (scripts/test does it)")
        }
        Err(error) => panic!("python3 is needed for this test ({error}); then: pip install stripe=={PINNED}"),
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stripe_python_compat.py");
    let stdout = run_against_fake("python3", script, PathBuf::from(env!("CARGO_MANIFEST_DIR"))).await;
    assert!(stdout.contains("OK: stripe-python"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_node_client_runs_a_billing_journey_against_the_fake() {
    let pinned = pinned_node_client();
    let install = "cd fakes/tests/node && npm ci (scripts/test does it)";
    let version = match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).trim().to_string(),
        _ => panic!("Node.js 20 or newer is needed for this test (apt-get install nodejs npm); then {install}"),
    };
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    assert!(
        major >= 20,
        "Node.js {version} is too old for stripe-node {pinned}: install Node.js 20 or newer, then {install}"
    );
    let installed = std::fs::read_to_string(node_folder().join("node_modules/stripe/package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|manifest| manifest["version"].as_str().map(str::to_string));
    match installed {
        Some(installed) if installed == pinned => {}
        Some(other) => panic!("stripe-node {other} is installed but {pinned} is pinned: {install}"),
        None => panic!("the official Stripe Node client (stripe {pinned}) is missing: {install}"),
    }
    let stdout = run_against_fake("node", node_folder().join("stripe_node_compat.mjs"), node_folder()).await;
    assert!(stdout.contains(&format!("OK: stripe-node {pinned}")), "{stdout}");
}
