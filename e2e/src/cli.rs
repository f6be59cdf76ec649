//! The `e2e run` and `e2e list` commands: flags, the summary printed, the JUnit file and the
//! Pushgateway push.

use std::path::PathBuf;

use clap::Args;

use crate::report::{Outcome, RunReport};
use crate::runner::{self, RunOptions, Target};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Base URL of a deployed service to validate (default: the local stack).
    #[arg(long, env = "E2E_TARGET")]
    pub target: Option<String>,
    /// API key of an existing customer on the target (for the journeys that need one).
    #[arg(long, env = "E2E_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Only journeys whose name contains this (repeatable).
    #[arg(long = "filter")]
    pub filters: Vec<String>,
    /// Write the results as JUnit XML to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Push the results to this Prometheus Pushgateway (basic auth from PUSHGATEWAY_USER and
    /// PUSHGATEWAY_PASSWORD).
    #[arg(long, env = "PUSHGATEWAY_URL")]
    pub pushgateway: Option<String>,
    /// Environment label of the pushed results (default: `local`, or `staging` with --target).
    #[arg(long, env = "E2E_ENVIRONMENT")]
    pub environment: Option<String>,
    /// Commit under test (default: GITHUB_SHA, else `git rev-parse HEAD`).
    #[arg(long, env = "E2E_COMMIT")]
    pub commit: Option<String>,
    /// Journeys running at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Longest one journey may take, in seconds.
    #[arg(long, default_value_t = 90)]
    pub journey_timeout_secs: u64,
}

/// Runs the journeys; true when none failed.
pub async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let target = match &args.target {
        Some(url) if url != "local" => {
            Target::Deployed { base_url: url.trim_end_matches('/').to_string(), api_key: args.api_key.clone() }
        }
        _ => Target::Local,
    };
    let environment = args.environment.clone().unwrap_or_else(|| match target {
        Target::Local => "local".into(),
        Target::Deployed { .. } => "staging".into(),
    });
    let options = RunOptions {
        target,
        filters: args.filters.clone(),
        concurrency: args.concurrency,
        journey_timeout: std::time::Duration::from_secs(args.journey_timeout_secs),
        environment,
        commit: args.commit.clone().or_else(|| std::env::var("GITHUB_SHA").ok()).or_else(git_head),
    };
    if runner::select(&options.filters).is_empty() {
        anyhow::bail!("no journey matches {:?}: `e2e list` shows their names", options.filters);
    }
    let report = runner::run(&options).await;
    print_summary(&report);
    if let Some(path) = &args.junit {
        crate::report::junit::write_junit(&report, path)?;
        println!("JUnit XML written to {}", path.display());
    }
    if let Some(url) = &args.pushgateway {
        use crate::report::pushgateway::{FIRST_BACKOFF, PUSH_ATTEMPTS, push_run};
        let gateway = crate::report::Pushgateway::from_env(url)?.with_retries(PUSH_ATTEMPTS, FIRST_BACKOFF);
        push_run(&gateway, &report).await?;
        println!("results pushed to {url}");
    }
    Ok(report.failed() == 0)
}

pub fn list() {
    for journey in crate::journeys::all() {
        let needs = if journey.needs.is_empty() { "API only".to_string() } else { format!("{:?}", journey.needs) };
        println!("{:<52} {:<40} {}", journey.name, needs, journey.description);
    }
}

fn print_summary(report: &RunReport) {
    println!();
    for journey in &report.journeys {
        let (mark, detail) = match &journey.outcome {
            Outcome::Passed => ("PASS", String::new()),
            Outcome::Failed(error) => ("FAIL", format!("\n       {}", error.replace('\n', "\n       "))),
            Outcome::Skipped(reason) => ("SKIP", format!("  ({reason})")),
        };
        println!("{mark}  {:<52} {:>6.2}s{detail}", journey.name, journey.duration.as_secs_f64());
    }
    println!(
        "\njourneys on {} ({}): {} passed, {} failed, {} skipped in {:.1}s",
        report.target,
        report.environment,
        report.passed(),
        report.failed(),
        report.skipped(),
        report.duration.as_secs_f64()
    );
}

fn git_head() -> Option<String> {
    let output = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}
