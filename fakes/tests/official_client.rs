//! Stripe's official Python client against the fake: `tests/stripe_python_compat.py` runs a whole
//! billing journey and verifies the webhooks with `stripe.Webhook.construct_event`. CI installs
//! the client; without it this test fails and says how to install it (it never skips silently).

use std::process::Command;

use billing_fakes::StripeFake;

const PINNED: &str = "16.1.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_client_runs_a_billing_journey_against_the_fake() {
    let probe = Command::new("python3").args(["-c", "import stripe"]).output();
    match probe {
        Ok(output) if output.status.success() => {}
        Ok(_) => panic!("the official Stripe Python client is missing: pip install stripe=={PINNED}"),
        Err(error) => panic!("python3 is needed for this test ({error}); then: pip install stripe=={PINNED}"),
    }
    let fake = StripeFake::start().await.expect("fake starts");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stripe_python_compat.py");
    let base_url = fake.base_url();
    let output = tokio::task::spawn_blocking(move || Command::new("python3").arg(script).arg(base_url).output())
        .await
        .expect("the script runs")
        .expect("python3 starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the Stripe Python journey failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("OK: stripe-python"), "{stdout}");
    println!("{stdout}{stderr}");
}
