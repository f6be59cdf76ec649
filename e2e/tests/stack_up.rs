//! `e2e stack up` as a person uses it: it prints working URLs and an API key, and stops
//! cleanly on Ctrl-C (SIGINT).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[tokio::test]
async fn stack_up_prints_a_working_service_and_key_and_stops_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_e2e"))
        .args(["stack", "up", "--exit-after-secs", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the e2e binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    loop {
        let line = received.recv_timeout(Duration::from_secs(60)).expect("`stack is up` within a minute");
        let up = line.starts_with("stack is up");
        printed.push(line);
        if up {
            break;
        }
    }
    let field = |label: &str| {
        printed
            .iter()
            .find_map(|l| l.strip_prefix(label))
            .map(|rest| rest.trim().to_string())
            .unwrap_or_else(|| panic!("no `{label}` line in {printed:?}"))
    };
    let service = field("billing service");
    let demo = field("demo customer");
    let key = demo.split("API key: ").nth(1).and_then(|k| k.strip_suffix(')')).expect("an API key").to_string();

    let http = billing_service::tls::client();
    let health = http.get(format!("{service}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let usage = http.get(format!("{service}/api/v1/usage")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(usage.status(), 200);

    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = finished.recv_timeout(Duration::from_secs(30)).expect("stops within 30 s of Ctrl-C").unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(http.get(format!("{service}/healthz")).send().await.is_err(), "the service is gone");
}
