//! goose's live dashboard (`--dashboard`), in a real headless browser (Debian's Chromium driven
//! by playwright-core from `load/tests/dashboard/`, installed by `scripts/test`): a screenshot
//! taken during a run shows live figures.

mod common;

use std::path::Path;
use std::time::Duration;

use billing_stack::wait_until;
use common::load_stack;

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn the_dashboard_shows_live_figures_during_a_run() {
    let dashboard = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard");
    assert!(
        dashboard.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run scripts/test (or `npm ci --prefix load/tests/dashboard`)"
    );
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut run = common::load()
        .args([
            "run",
            "healthz",
            "--target",
            &stack.service_url,
            "--rate",
            "200",
            "--users",
            "8",
            "--run-time",
            "40s",
            "--quiet",
            "--dashboard",
            "--dashboard-port",
            &port.to_string(),
            "--report-dir",
            dir.path().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    wait_until("the dashboard to answer", Duration::from_secs(60), || async {
        Ok(billing_service::tls::client()
            .get(format!("{url}api/v1/health"))
            .send()
            .await
            .ok()
            .filter(|response| response.status().is_success())
            .map(|_| ()))
    })
    .await
    .unwrap();

    let screenshot = dir.path().join("dashboard.png");
    let browser = tokio::process::Command::new("node")
        .arg(dashboard.join("screenshot.mjs"))
        .arg(&url)
        .arg(&screenshot)
        .current_dir(&dashboard)
        .output()
        .await
        .expect("node runs");
    run.kill().await.unwrap();
    assert!(browser.status.success(), "the browser failed: {}", String::from_utf8_lossy(&browser.stderr));
    let figures: serde_json::Value = serde_json::from_slice(&browser.stdout).expect("the script prints what it read");
    assert!(figures["users"].as_f64().unwrap() > 0.0, "{figures}");
    assert!(figures["rps"].as_f64().unwrap() > 0.0, "{figures}");
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "the screenshot is a PNG");
    assert!(png.len() > 20_000, "a {}-byte screenshot shows next to nothing", png.len());
    // Kept for a person to look at, when asked.
    if let Some(keep) = std::env::var_os("LOAD_DASHBOARD_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).unwrap();
    }
}
