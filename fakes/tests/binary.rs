//! The standalone `stripe-fake` binary: starts on a free port, prints where it listens, serves
//! the API with a webhook endpoint, retention limit and API version from flags, says once in its
//! log which shapes answer a version it does not know (or refuses it with
//! `--strict-api-versions`), and stops on SIGTERM (what containers and Kubernetes send).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

/// Starts the binary on a free port with `args`, its stderr piped into a channel line by line;
/// returns it with its base URL.
fn start_binary(args: &[&str]) -> (KillOnDrop, String, mpsc::Receiver<String>) {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_stripe-fake"))
            .args(["--port", "0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stripe-fake starts"),
    );
    let (lines, log) = mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let base_url = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("stripe-fake listening on ").map(str::to_string))
        .expect("the binary prints its address");
    (child, base_url, log)
}

/// The log lines up to and including the first that contains `marker`, waiting at most 10 s.
fn log_until(log: &mpsc::Receiver<String>, marker: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match log.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(marker);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => panic!("no log line with {marker:?} in 10 s; the log so far:\n{}", seen.join("\n")),
        }
    }
}

#[tokio::test]
async fn the_binary_says_once_in_its_log_which_shapes_answer_a_version_it_does_not_know() {
    let (_child, base_url, log) = start_binary(&[]);
    let client = billing_fakes::tls::client();
    for version in ["2026-11-18.endive", "2026-11-18.endive", "2025-03-31.basil", "2099-01-01"] {
        let answer = client
            .get(format!("{base_url}/v1/customers"))
            .bearer_auth("sk_test_x")
            .header("Stripe-Version", version)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{version}");
        assert_eq!(answer.headers()["stripe-version"], version);
    }
    // The log is written in request order: once the last version's line is there, so are the others.
    let lines = log_until(&log, "Stripe-Version 2099-01-01 ");
    let future: Vec<_> = lines.iter().filter(|line| line.contains("Stripe-Version 2026-11-18.endive ")).collect();
    assert_eq!(future.len(), 1, "said once: {lines:#?}");
    assert!(future[0].contains("newer than any release the fake knows"), "{}", future[0]);
    assert!(future[0].contains("in the shapes of 2026-10-28.endive"), "{}", future[0]);
    assert!(!lines.iter().any(|line| line.contains("\u{1b}[")), "no colour codes in a log that is not a terminal");
    assert!(!lines.iter().any(|line| line.contains("2025-03-31.basil")), "a known version is not logged: {lines:#?}");
}

#[tokio::test]
async fn the_binary_with_strict_api_versions_refuses_versions_it_does_not_know() {
    let (_child, base_url, _log) = start_binary(&["--strict-api-versions"]);
    let client = billing_fakes::tls::client();
    let ask = |version: &'static str| {
        client.get(format!("{base_url}/v1/customers")).bearer_auth("sk_test_x").header("Stripe-Version", version).send()
    };
    assert_eq!(ask("2026-11-18.endive").await.unwrap().status(), 400);
    assert_eq!(ask("2026-10-28.endive").await.unwrap().status(), 200);

    let refused = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_stripe-fake"))
            .args(["--port", "0", "--strict-api-versions", "--api-version", "2026-11-18.endive"])
            .output()
            .expect("stripe-fake runs")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a strict fake refuses an unknown account version: {stderr}");
    assert!(stderr.contains("--api-version") && stderr.contains("2026-11-18.endive"), "{stderr}");
}

/// The JSON the running binary answers `request` with.
async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.expect("the binary answers").json().await.expect("a JSON body")
}
