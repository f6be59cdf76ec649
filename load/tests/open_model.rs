//! The open model (`--rate`): requests arrive at the asked rate whatever the latency; when the
//! target cannot keep up the report says so, and latency counts from when each request was due
//! (coordinated omission shown, not hidden).

mod common;

use std::time::Duration;

use common::{assert_exit, load_run, load_stack, summary};

#[tokio::test]
async fn the_achieved_rate_is_within_5_percent_of_the_asked_rate_when_the_target_keeps_up() {
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let output = load_run("healthz", dir.path())
        .target(&stack.service_url)
        .arg("--rate", "500")
        .run_time("3s")
        .users(16)
        .output()
        .await;
    assert_exit(&output, 0);
    let summary = summary(dir.path());
    let open = summary.open_model.expect("an open-model run reports its rate");
    assert_eq!(summary.model, "open");
    assert!((open.asked_rate - 500.0).abs() < 1.0, "{open:?}");
    assert!((open.achieved_rate - 500.0).abs() <= 25.0, "achieved {} req/s for 500 asked", open.achieved_rate);
    assert!(open.kept_up, "{open:?}");
    assert_eq!(summary.total.requests, 1500, "the schedule asks for exactly 1,500 requests");
}

/// A target that takes 100 ms over every request.
async fn slow_target() -> String {
    let app = axum::Router::new().route(
        "/healthz",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_target_that_cannot_keep_up_is_reported_and_its_stalls_count_in_the_latency() {
    let target = slow_target().await;
    let dir = tempfile::tempdir().unwrap();
    // Two users can make at most 20 requests a second against 100 ms answers.
    let output =
        load_run("healthz", dir.path()).target(&target).arg("--rate", "100").run_time("2s").users(2).output().await;
    let text = common::stdout(&output);
    assert!(text.contains("could not keep up"), "{text}");
    let summary = summary(dir.path());
    let open = summary.open_model.unwrap();
    assert!(!open.kept_up, "{open:?}");
    assert!(open.late_requests > 0);
    // Each answer takes 100 ms, but a request due at the end of the run waited most of it for
    // a free user: the latency shows the wait, as a client arriving then would see it.
    let healthz = &summary.endpoints[0];
    assert!(healthz.p99_ms > 1000.0, "p99 {} ms hides the stall", healthz.p99_ms);
    assert!(healthz.p50_ms > 150.0, "p50 {} ms hides the stall", healthz.p50_ms);
}
