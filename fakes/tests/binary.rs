//! The standalone `stripe-fake` binary: starts on a free port, prints where it listens, serves
//! the API with a webhook endpoint, retention limit and API version from flags, and stops on
//! SIGTERM (what containers and Kubernetes send).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_prints_its_address_and_serves_the_api() {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_stripe-fake"))
            .args(["--port", "0", "--webhook-url", "http://127.0.0.1:9/hook", "--webhook-secret", "whsec_fixed"])
            .args(["--retain", "5", "--api-version", "2025-03-31.basil"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("stripe-fake starts"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut base_url = None;
    let mut endpoint_line = None;
    for line in lines.by_ref().take(5) {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("stripe-fake listening on ") {
            base_url = Some(url.to_string());
            break;
        }
        endpoint_line = Some(line);
    }
    let base_url = base_url.expect("the binary prints its address");
    assert!(base_url.starts_with("http://127.0.0.1:"));
    assert!(endpoint_line.unwrap_or_default().contains("whsec_fixed"));

    let client = billing_fakes::tls::client();
    let created = client
        .post(format!("{base_url}/v1/customers"))
        .bearer_auth("sk_test_x")
        .form(&[("email", "a@b.co")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let endpoints = json_of(client.get(format!("{base_url}/v1/webhook_endpoints")).bearer_auth("sk_test_x")).await;
    assert_eq!(endpoints["data"][0]["url"], "http://127.0.0.1:9/hook");
    let stats = json_of(client.get(format!("{base_url}/_fake/stats"))).await;
    assert_eq!(stats["retain"], 5);
    let versioned = client.get(format!("{base_url}/v1/customers")).bearer_auth("sk_test_x").send().await.unwrap();
    assert_eq!(versioned.headers()["stripe-version"], "2025-03-31.basil");

    // SAFETY: kill only sends a signal to the child this test started.
    unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "stripe-fake ignored SIGTERM");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(status.success(), "stripe-fake exited with {status} on SIGTERM");
}

/// The JSON the running binary answers `request` with.
async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.expect("the binary answers").json().await.expect("a JSON body")
}
