//! What the load tool's tests share: running the real `load` binary, and a stack to aim it at.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use billing_load::summary::RunSummary;
use billing_stack::test_pushgateway::USER;
use billing_stack::{Stack, StackOptions};

/// The `load` binary, as a user runs it.
pub fn load() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_load"));
    // A test never pushes by accident, nor reads a developer's settings.
    for name in [
        "PUSHGATEWAY_URL",
        "LOAD_TARGET",
        "LOAD_API_KEYS_FILE",
        "LOAD_RUN_ID",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_SECRET_KEY",
        "STRIPE_API_BASE",
        "LOAD_ALLOWED_TARGETS",
    ] {
        command.env_remove(name);
    }
    command.kill_on_drop(true);
    command
}

/// Runs `load` with `args` and returns its output.
pub async fn run_load(args: &[&str]) -> Output {
    load().args(args).output().await.expect("the load binary runs")
}

/// `load run <scenario>` as the tests start it: quiet (no live table), its reports in
/// `report_dir`, and whatever flags the test adds, e.g.
/// `load_run("healthz", dir).target(url).users(2).run_time("1s").output().await`.
pub struct LoadRun {
    command: tokio::process::Command,
}

pub fn load_run(scenario: &str, report_dir: &Path) -> LoadRun {
    let mut command = load();
    command.args(["run", scenario, "--quiet", "--report-dir"]).arg(report_dir);
    LoadRun { command }
}

impl LoadRun {
    /// Aimed at a running service.
    pub fn target(self, url: &str) -> LoadRun {
        self.arg("--target", url)
    }

    /// Aimed at a stack the run starts for itself.
    pub fn in_process(self) -> LoadRun {
        self.arg("--service", "in-process")
    }

    pub fn users(self, users: usize) -> LoadRun {
        self.arg("--users", users.to_string())
    }

    pub fn run_time(self, run_time: &str) -> LoadRun {
        self.arg("--run-time", run_time)
    }

    /// Judged by `rule` alone, not by the scenario's default thresholds.
    pub fn only_threshold(self, rule: &str) -> LoadRun {
        self.flag("--no-default-thresholds").arg("--threshold", rule)
    }

    /// Pushes its results to `gateway` as the test Pushgateway's user, with `password`.
    pub fn pushgateway(self, gateway: &str, password: &str) -> LoadRun {
        self.arg("--pushgateway", gateway).env("PUSHGATEWAY_USER", USER).env("PUSHGATEWAY_PASSWORD", password)
    }

    /// `flag value`.
    pub fn arg(mut self, flag: &str, value: impl AsRef<OsStr>) -> LoadRun {
        self.command.arg(flag).arg(value);
        self
    }

    /// A flag that takes no value.
    pub fn flag(mut self, flag: &str) -> LoadRun {
        self.command.arg(flag);
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> LoadRun {
        self.command.env(name, value);
        self
    }

    /// Runs it to the end and returns its output.
    pub async fn output(mut self) -> Output {
        self.command.output().await.expect("the load binary runs")
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Says what the run printed when its exit code is not `expected`.
pub fn assert_exit(output: &Output, expected: i32) {
    assert_eq!(
        output.status.code(),
        Some(expected),
        "exit code; stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

pub fn summary(report_dir: &Path) -> RunSummary {
    let text = std::fs::read_to_string(report_dir.join("summary.json")).expect("the run wrote summary.json");
    serde_json::from_str(&text).expect("summary.json is a run summary")
}

/// A stack for load to aim at, with the abuse limits out of reach (as the embedded target has).
pub async fn load_stack() -> Stack {
    Stack::start_with(StackOptions {
        configure: Box::new(|config| billing_load::embedded::configure_for_load(config, None)),
        ..Default::default()
    })
    .await
    .expect("the stack starts")
}

/// Makes a keys file on `target` with `load keys`.
pub async fn keys_file(dir: &Path, target: &str, keys: usize, pro_customers: usize) -> PathBuf {
    keys_file_with(dir, target, keys, pro_customers, &[]).await
}

/// Makes a keys file on `stack` with `load keys`, with access to the stack's Stripe (so its Pro
/// customers' paid invoices are recorded).
pub async fn keys_file_on(dir: &Path, stack: &Stack, keys: usize, pro_customers: usize) -> PathBuf {
    let access = stack.stripe_access();
    let env = [("STRIPE_SECRET_KEY", access.secret_key.as_str()), ("STRIPE_API_BASE", access.api_base.as_str())];
    keys_file_with(dir, &stack.service_url, keys, pro_customers, &env).await
}

async fn keys_file_with(dir: &Path, target: &str, keys: usize, pro_customers: usize, env: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("keys.json");
    let output = load()
        .envs(env.iter().copied())
        .args([
            "keys",
            "--target",
            target,
            "--count",
            &keys.to_string(),
            "--pro-customers",
            &pro_customers.to_string(),
            "--output",
            path.to_str().unwrap(),
        ])
        .output()
        .await
        .expect("the load binary runs");
    assert_exit(&output, 0);
    path
}

/// A counter of the service's `/metrics`, summed over the series whose labels contain all of
/// `labels` (e.g. `route="/api/v1/credentials/exchange"`).
pub async fn service_counter(service_url: &str, name: &str, labels: &[&str]) -> f64 {
    let text = billing_service::tls::client()
        .get(format!("{service_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
