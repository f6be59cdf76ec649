//! The `e2e run` and `e2e list` commands: flags, the summary printed, the JUnit file and the
//! Pushgateway push.
//!
//! Against a deployed target (`--target`) the run is given what a release manager has: the
//! service's URL, an existing customer's key, the deployment's Stripe test-mode account
//! (`STRIPE_API_BASE`, `STRIPE_SECRET_KEY`), the signing secret of the service's webhook
//! endpoint (`STRIPE_WEBHOOK_SECRET`) and, optionally, its database. A setting that cannot be
//! right (a live Stripe key above all) stops the run before anything is sent, with exit code 2.

use std::path::PathBuf;

use billing_stack::stripe_api::DEFAULT_API_BASE;
use billing_stack::{StripeApi, TestModeKey};
use clap::Args;

use crate::report::{Outcome, RunReport};
use crate::runner::{self, Deployment, RunOptions, Target};

/// A setting that stops `e2e run` before it starts (exit code 2), saying what to change.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Base URL of a deployed service to validate (default: the local stack).
    #[arg(long, env = "E2E_TARGET")]
    pub target: Option<String>,
    /// API key of an existing customer on the target (for the journeys that need one).
    #[arg(long, env = "E2E_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Stripe's API, for a deployed target: real Stripe, or whatever stands in for it.
    #[arg(long, env = "STRIPE_API_BASE", default_value = DEFAULT_API_BASE)]
    pub stripe_api_base: String,
    /// A test-mode secret key (sk_test_… or rk_test_…) of the deployment's Stripe account, for a
    /// deployed target; live keys are refused.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// The signing secret (whsec_…) of the deployed service's webhook endpoint, for the journeys
    /// that deliver Stripe events themselves.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,
    /// The deployed service's database: each journey then ends with the reconciliation check
    /// of the customers it made (needs STRIPE_SECRET_KEY too).
    #[arg(long, env = "E2E_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
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

/// Runs the journeys; true when none failed. A [`UsageError`] when a setting cannot be right.
pub async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let target = match &args.target {
        Some(url) if url != "local" => Target::Deployed(deployment(&args, url).await?),
        _ => Target::Local,
    };
    let environment = args.environment.clone().unwrap_or_else(|| match target {
        Target::Local => "local".into(),
        Target::Deployed(_) => "staging".into(),
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

/// The deployed target from the flags: checked, and connected to its database when one is given.
pub async fn deployment(args: &RunArgs, url: &str) -> Result<Deployment, UsageError> {
    let mut deployment = Deployment::at(url);
    reqwest::Url::parse(&deployment.base_url).map_err(|err| {
        UsageError(format!(
            "--target {url} is not a URL ({err}): give the service's base URL, e.g. https://staging.example.com"
        ))
    })?;
    deployment.api_key = args.api_key.clone().filter(|key| !key.trim().is_empty());
    if let Some(key) = args.stripe_secret_key.as_deref().filter(|key| !key.trim().is_empty()) {
        let key = TestModeKey::parse(key).map_err(|err| UsageError(format!("STRIPE_SECRET_KEY: {err}")))?;
        reqwest::Url::parse(&args.stripe_api_base).map_err(|err| {
            UsageError(format!(
                "STRIPE_API_BASE={} is not a URL ({err}): leave it unset for {DEFAULT_API_BASE}",
                args.stripe_api_base
            ))
        })?;
        deployment.stripe = Some(StripeApi::new(&args.stripe_api_base, key, billing_service::tls::client()));
    }
    if let Some(secret) = args.stripe_webhook_secret.as_deref().filter(|secret| !secret.trim().is_empty()) {
        if !secret.starts_with("whsec_") {
            return Err(UsageError(
                "STRIPE_WEBHOOK_SECRET is not a webhook signing secret: it starts with whsec_ (the Stripe dashboard \
                 shows it on the page of the service's webhook endpoint)"
                    .into(),
            ));
        }
        deployment.webhook_secret = Some(secret.trim().to_string());
    }
    if let Some(database_url) = args.database_url.as_deref().filter(|url| !url.trim().is_empty()) {
        if deployment.stripe.is_none() {
            return Err(UsageError(
                "--database-url needs STRIPE_SECRET_KEY too: the reconciliation check compares the database's charges \
                 with Stripe's PaymentIntents"
                    .into(),
            ));
        }
        let pool = billing_service::app::connect(database_url, 4).await.map_err(|err| {
            UsageError(format!(
                "cannot connect to the deployed database (--database-url / E2E_DATABASE_URL): {err}; check the URL \
                 and that this machine may reach it"
            ))
        })?;
        deployment.database = Some(pool);
    }
    Ok(deployment)
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
