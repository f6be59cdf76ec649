//! `load run`: check the command line, set up the target and its fixtures, run goose, check the
//! outcome, compare with the baseline, write the reports and push the results.
//!
//! Everything that can be wrong with the command line is found before anything starts (exit
//! code 2). A run that happened always writes its reports, whatever failed after.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use billing_stack::{ApiClient, StripeAccess, reconcile};
use goose::config::GooseConfiguration;
use goose::prelude::*;

use crate::arrival::{ArrivalSchedule, Pacer};
use crate::baseline::{self, Baseline};
use crate::cli::RunArgs;
use crate::context::{LoadContext, RunIdentity};
use crate::embedded::{self, CredentialLimit, Embedded};
use crate::error::LoadError;
use crate::outcome;
use crate::profile::{Executor, Profile, parse_duration};
use crate::scenarios::credential_vending::{RateLimitCheck, VendingFixtures};
use crate::scenarios::webhooks::{DeliveryLog, WebhookFixtures};
use crate::scenarios::{self, ScenarioName};
use crate::setup::{self, KeysFile};
use crate::summary::{self, CheckResult, OpenModel, RunSummary};
use crate::target::{BaseUrl, guard_production};
use crate::timeline::Timeline;
use crate::{progress, prometheus, push, report, thresholds};

/// Users when `--users` is not given.
const DEFAULT_USERS: usize = 32;
/// Fixtures made on the embedded stack when `--fixtures` is not given.
const DEFAULT_KEYS: usize = 32;
const DEFAULT_PRO_CUSTOMERS: usize = 16;

/// The shape of the load, from `--users/--ramp/--run-time`, `--rate` or `--profile`.
#[derive(Debug, Clone)]
enum Shape {
    Closed { users: usize, ramp: Duration, hold: Duration },
    Plan { users: usize, plan: String, length: Duration },
    Open { users: usize, schedule: ArrivalSchedule },
}

impl Shape {
    fn from_args(args: &RunArgs) -> Result<Shape, LoadError> {
        let duration = |flag: &str, text: &str| {
            parse_duration(text).map_err(|err| LoadError::Usage(format!("--{flag} {text:?}: {err}")))
        };
        if args.users == Some(0) {
            return Err(LoadError::Usage("--users must be at least 1".into()));
        }
        if let Some(path) = &args.profile {
            let profile = Profile::read(path)?;
            return Ok(match profile.executor {
                Executor::Users => Shape::Plan {
                    users: profile.peak() as usize,
                    plan: profile.test_plan(),
                    length: profile.duration(),
                },
                Executor::ArrivalRate => Shape::Open {
                    users: args.users.unwrap_or_else(|| open_model_users(profile.peak() as f64)),
                    schedule: profile.schedule(),
                },
            });
        }
        let ramp = duration("ramp", &args.ramp)?;
        let hold = duration("run-time", &args.run_time)?;
        if hold.is_zero() {
            return Err(LoadError::Usage("--run-time must be longer than 0s".into()));
        }
        match args.rate {
            Some(rate) if !(rate > 0.0 && rate.is_finite()) => {
                Err(LoadError::Usage(format!("--rate {rate}: give a number of requests per second above 0")))
            }
            Some(rate) => Ok(Shape::Open {
                users: args.users.unwrap_or_else(|| open_model_users(rate)),
                schedule: ArrivalSchedule::constant(rate, ramp, hold),
            }),
            None => Ok(Shape::Closed { users: args.users.unwrap_or(DEFAULT_USERS), ramp, hold }),
        }
    }

    fn users(&self) -> usize {
        match self {
            Shape::Closed { users, .. } | Shape::Plan { users, .. } | Shape::Open { users, .. } => *users,
        }
    }

    fn length(&self) -> Duration {
        match self {
            Shape::Closed { ramp, hold, .. } => *ramp + *hold,
            Shape::Plan { length, .. } => *length,
            Shape::Open { schedule, .. } => schedule.duration(),
        }
    }

    /// goose's options for this shape.
    fn goose_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        match self {
            Shape::Closed { users, ramp, hold } => {
                args.extend([
                    "--users".into(),
                    users.to_string(),
                    "--run-time".into(),
                    format!("{}s", hold.as_secs().max(1)),
                ]);
                if ramp.is_zero() || *users < 2 {
                    args.extend(["--increase-rate".into(), users.to_string()]);
                } else {
                    args.extend(["--increase-time".into(), format!("{}s", ramp.as_secs().max(1))]);
                }
                args.push("--no-reset-metrics".into());
            }
            Shape::Plan { plan, .. } => args.extend(["--test-plan".into(), plan.clone()]),
            Shape::Open { users, schedule } => {
                // The users only send; the schedule sets the pace. A second more than the
                // schedule lets the last slots finish.
                let seconds = schedule.duration().as_secs_f64().ceil() as u64 + 1;
                args.extend([
                    "--users".into(),
                    users.to_string(),
                    "--increase-rate".into(),
                    (users * 4).to_string(),
                    "--run-time".into(),
                    format!("{seconds}s"),
                    "--no-reset-metrics".into(),
                ]);
            }
        }
        args
    }
}

/// Senders for an open model at `rate`: enough that each has 50 ms per request.
fn open_model_users(rate: f64) -> usize {
    ((rate / 20.0).ceil() as usize).clamp(16, 1024)
}

/// Checks that only need the command line.
fn check_args(args: &RunArgs) -> Result<(), LoadError> {
    if args.workers == 0 || args.worker_index >= args.workers {
        return Err(LoadError::Usage(format!(
            "--worker-index {} --workers {}: the index counts from 0 and must be below the number of workers",
            args.worker_index, args.workers
        )));
    }
    if !(0.0..=1000.0).contains(&args.tolerance) {
        return Err(LoadError::Usage(format!("--tolerance {}: give a percentage, e.g. 10", args.tolerance)));
    }
    if args.duplicates > 100 {
        return Err(LoadError::Usage(format!("--duplicates {}: give a percentage from 0 to 100", args.duplicates)));
    }
    if args.verify_rate_limit.is_some() && !args.scenario.parts().contains(&ScenarioName::CredentialVending) {
        return Err(LoadError::Usage("--verify-rate-limit is for the credential-vending scenario".into()));
    }
    if args.environment.is_empty() || args.environment.contains('/') {
        return Err(LoadError::Usage(format!(
            "--environment {:?}: give a name like local, ci or staging",
            args.environment
        )));
    }
    Ok(())
}

/// The target of the run: the embedded stack, or a deployed service with what it needs.
struct Target {
    base: BaseUrl,
    embedded: Option<Embedded>,
    keys_file: Option<KeysFile>,
    webhook_secret: Option<String>,
    signing_key: Option<Vec<u8>>,
}

async fn target(args: &RunArgs, limit: Option<CredentialLimit>) -> Result<Target, LoadError> {
    let Some(url) = &args.target else {
        let embedded = embedded::start(args.service, limit).await?;
        let base = BaseUrl::parse(&embedded.stack.service_url)?;
        return Ok(Target {
            base,
            webhook_secret: Some(embedded.stack.webhook_secret.clone()),
            signing_key: embedded.signing_key.clone(),
            embedded: Some(embedded),
            keys_file: None,
        });
    };
    let base = BaseUrl::parse(url)?;
    guard_production(&base, std::env::var("LOAD_ALLOWED_TARGETS").ok().as_deref(), args.i_know_this_is_production)?;
    let parts = args.scenario.parts();
    let needs_keys = parts.contains(&ScenarioName::CredentialVending) || parts.contains(&ScenarioName::Webhooks);
    let keys_file = match (&args.keys_file, needs_keys) {
        (Some(path), true) => Some(KeysFile::read(path)?),
        (None, true) => {
            return Err(LoadError::Usage(format!(
                "{} against {url} needs API keys: make them with `scripts/create-load-test-keys --target {url} --output FILE`, then pass --keys-file FILE (or set LOAD_API_KEYS_FILE)",
                args.scenario
            )));
        }
        _ => None,
    };
    if let Some(file) = &keys_file
        && BaseUrl::parse(&file.target).map(|made_on| made_on.authority() != base.authority()).unwrap_or(true)
    {
        return Err(LoadError::Usage(format!(
            "the keys file was made for {}, not {url}: make one for this target with scripts/create-load-test-keys",
            file.target
        )));
    }
    let webhook_secret = std::env::var("STRIPE_WEBHOOK_SECRET").ok().filter(|secret| !secret.is_empty());
    if parts.contains(&ScenarioName::Webhooks) && webhook_secret.is_none() {
        return Err(LoadError::Usage(format!(
            "webhooks against {url} must be signed with the target's endpoint secret: set STRIPE_WEBHOOK_SECRET=whsec_… (from the target's Stripe webhook endpoint)"
        )));
    }
    let signing_key =
        std::env::var("CREDENTIAL_SIGNING_KEY").ok().filter(|key| !key.is_empty()).map(String::into_bytes);
    Ok(Target { base, embedded: None, keys_file, webhook_secret, signing_key })
}

/// This worker's share of a list: every `workers`-th item from `worker_index`.
pub fn shard<T: Clone>(items: &[T], worker_index: usize, workers: usize) -> Vec<T> {
    items.iter().skip(worker_index).step_by(workers).cloned().collect()
}

async fn fixtures(
    args: &RunArgs,
    target: &Target,
    run: &RunIdentity,
    http: &reqwest::Client,
    limit: Option<CredentialLimit>,
) -> Result<(Option<VendingFixtures>, Option<WebhookFixtures>), LoadError> {
    let parts = args.scenario.parts();
    let api = ApiClient::new(&target.base.as_str(), http.clone());
    let mut vending = None;
    let mut webhooks = None;
    if parts.contains(&ScenarioName::CredentialVending) {
        let keys = match &target.keys_file {
            Some(file) => shard(&file.api_keys, run.worker_index, run.workers),
            None => setup::api_keys(&api, run, args.fixtures.unwrap_or(DEFAULT_KEYS).max(1))
                .await
                .map_err(|err| LoadError::setup("making API keys on the embedded stack", err))?,
        };
        if keys.is_empty() {
            return Err(LoadError::Usage(format!(
                "worker {} of {} has no API key: the keys file needs at least one key per worker (scripts/create-load-test-keys --count N)",
                run.worker_index, run.workers
            )));
        }
        let rate_limit = limit.map(|limit| RateLimitCheck::new(limit.per_minute, limit.burst, keys.len()));
        vending = Some(VendingFixtures {
            keys,
            signing_key: target.signing_key.clone(),
            rate_limit,
            verified: Default::default(),
        });
    }
    if parts.contains(&ScenarioName::Webhooks) {
        let customers = match &target.keys_file {
            Some(file) => shard(&file.pro_customers, run.worker_index, run.workers),
            None => {
                let stripe = target.embedded.as_ref().map(|embedded| embedded.stack.stripe_api());
                let count = args.fixtures.unwrap_or(DEFAULT_PRO_CUSTOMERS).max(1);
                let customers = setup::pro_customers(&api, run, count, stripe.as_ref())
                    .await
                    .map_err(|err| LoadError::setup("making Pro customers on the embedded stack", err))?;
                if let Some(embedded) = &target.embedded {
                    // Their own first invoices' webhooks, before the timed part starts.
                    embedded
                        .stack
                        .wait_for_webhooks()
                        .await
                        .map_err(|err| LoadError::setup("waiting for set-up webhooks", err))?;
                }
                customers
            }
        };
        if customers.is_empty() {
            return Err(LoadError::Usage(format!(
                "worker {} of {} has no Pro customer: the keys file needs at least one per worker (scripts/create-load-test-keys --pro-customers N)",
                run.worker_index, run.workers
            )));
        }
        webhooks = Some(WebhookFixtures {
            secret: target.webhook_secret.clone().expect("checked with the target"),
            customers,
            duplicate_percent: args.duplicates,
            log: DeliveryLog::default(),
        });
    }
    Ok((vending, webhooks))
}

fn default_report_dir(scenario: ScenarioName) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    workspace.join("target/load-reports").join(format!("{scenario}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")))
}

fn goose_configuration(
    args: &RunArgs,
    shape: &Shape,
    base: &BaseUrl,
    rules: &[String],
    report_dir: &Path,
    baseline: Option<&Baseline>,
) -> Result<GooseConfiguration, LoadError> {
    let mut goose = vec!["--host".to_string(), base.as_str()];
    goose.extend(shape.goose_args());
    for (_, file) in report::GOOSE_REPORTS {
        goose.extend(["--report-file".into(), report_dir.join(file).display().to_string()]);
    }
    for rule in rules {
        goose.extend(["--threshold".into(), rule.clone()]);
    }
    if !rules.is_empty() {
        // Judge at the end, as k6 does by default: the run finishes and every report is written.
        goose.push("--no-threshold-abort".into());
    }
    if let Some(baseline) = baseline {
        goose.extend(["--baseline-file".into(), baseline.dir.join(baseline::GOOSE_REPORT_FILE).display().to_string()]);
    }
    if args.dashboard {
        goose.extend(["--dashboard".into(), "--dashboard-port".into(), args.dashboard_port.to_string()]);
        // goose's run folder (where the dashboard saves reports) is the report folder, not
        // goose-runs/ in the working directory.
        goose.extend(["--output-dir".into(), report_dir.display().to_string()]);
    }
    if let Some(mode) = &args.co_mitigation {
        goose.extend(["--co-mitigation".into(), mode.clone()]);
    }
    // No telnet controller: several workers on one machine would fight over its port.
    goose.extend(["--no-telnet".into(), "--quiet".into(), "--no-print-metrics".into()]);
    goose.extend(["--notes".into(), format!("billing load: {} ({})", args.scenario, args.environment)]);
    GooseConfiguration::parse_args_default(&goose)
        .map_err(|err| LoadError::Usage(format!("goose refused the run's options: {err}")))
}

/// A finished run: its summary (which says whether it passed) and, when the results could
/// not be pushed, why (the reports are written all the same).
pub struct Finished {
    pub summary: RunSummary,
    pub push_failure: Option<LoadError>,
}

impl Finished {
    /// 0 passed; 1 something broke; 2 it passed but its results were not pushed.
    pub fn exit_code(&self) -> u8 {
        match (self.summary.passed(), &self.push_failure) {
            (false, _) => crate::error::EXIT_FAILED,
            (true, Some(_)) => crate::error::EXIT_USAGE,
            (true, None) => crate::error::EXIT_PASSED,
        }
    }
}

/// A run from start to verdict.
pub async fn run(args: RunArgs) -> Result<Finished, LoadError> {
    check_args(&args)?;
    let shape = Shape::from_args(&args)?;
    let rules = thresholds::rules_for(
        args.scenario,
        args.thresholds_file.as_deref(),
        args.no_default_thresholds,
        &args.thresholds,
    )?;
    let baseline = args.baseline.as_deref().map(Baseline::read).transpose()?;
    let limit = args.verify_rate_limit.as_deref().map(CredentialLimit::parse).transpose()?;
    let report_dir = args.report_dir.clone().unwrap_or_else(|| default_report_dir(args.scenario));
    std::fs::create_dir_all(&report_dir)
        .map_err(|err| LoadError::Usage(format!("cannot create --report-dir {}: {err}", report_dir.display())))?;
    let run = RunIdentity {
        run_id: args.run_id.clone().unwrap_or_else(|| format!("{:08x}", rand::random::<u32>())),
        worker_index: args.worker_index,
        workers: args.workers,
    };
    if run.run_id.is_empty()
        || run.run_id.len() > 64
        || !run.run_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(LoadError::Usage(format!("--run-id {:?}: use up to 64 letters, digits and dashes", run.run_id)));
    }

    let target = target(&args, limit).await?;
    let http = billing_service::tls::client();
    let (vending, webhooks) = fixtures(&args, &target, &run, &http, limit).await?;
    let configuration = goose_configuration(&args, &shape, &target.base, &rules, &report_dir, baseline.as_ref())?;
    let pacer = match &shape {
        Shape::Open { schedule, .. } => Some(Pacer::new(schedule.clone())),
        _ => None,
    };
    let context = Arc::new(LoadContext {
        base: target.base.clone(),
        http,
        run: run.clone(),
        pacer,
        timeline: Timeline::new(shape.length() + Duration::from_secs(120)),
        vending,
        webhooks,
    });

    let mut attack =
        GooseAttack::initialize_with_config(configuration).map_err(|err| LoadError::Usage(format!("goose: {err}")))?;
    for scenario in
        scenarios::goose_scenarios(args.scenario, &context).map_err(|err| LoadError::Usage(format!("goose: {err}")))?
    {
        attack = attack.register_scenario(scenario);
    }
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let progress = (!args.quiet).then(|| progress::Progress::start(Arc::clone(&context), shape.length()));
    let metrics = match attack.execute().await {
        Ok(metrics) => metrics,
        Err(GooseError::ThresholdsFailed { metrics, .. }) => *metrics.0,
        Err(err) => return Err(LoadError::Setup(anyhow::anyhow!("goose could not run the load: {err:?}"))),
    };
    let elapsed = started.elapsed();
    drop(progress);

    // Throughput over the time the load was on: the open model's schedule, or from the first
    // request's start to the last one's end (not goose's start-up and shut-down).
    let seconds = match &context.pacer {
        Some(pacer) => pacer.schedule().duration().as_secs_f64(),
        None => context.timeline.active().as_secs_f64().max(f64::MIN_POSITIVE),
    };
    let (endpoints, total) = summary::endpoint_figures(&metrics, seconds);
    let open_model = context.pacer.as_ref().map(|pacer| OpenModel::from_pacer(&pacer.keeping(), total.requests));
    let mut summary = RunSummary {
        scenario: args.scenario.to_string(),
        environment: args.environment.clone(),
        worker_index: run.worker_index,
        workers: run.workers,
        target: target.base.as_str(),
        run_id: run.run_id.clone(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_seconds: elapsed.as_secs_f64(),
        model: if context.pacer.is_some() { "open" } else { "closed" }.into(),
        users: shape.users(),
        endpoints,
        total,
        thresholds: summary::threshold_verdicts(&metrics),
        open_model,
        coordinated_omission: summary::coordinated_omission(&metrics),
        checks: Vec::new(),
        baseline: Vec::new(),
        timeline: context.timeline.figures(true),
        reports: report::report_paths(&report_dir),
    };
    summary.checks = after_run_checks(&context, &target, elapsed).await;
    if let Some(baseline) = &baseline {
        summary.baseline = baseline.compare(&summary, args.tolerance);
    }
    report::write(&report_dir, &summary).map_err(|err| {
        LoadError::Setup(anyhow::anyhow!("cannot write the reports into {}: {err}", report_dir.display()))
    })?;
    if let Some(dir) = &args.save_baseline {
        baseline::save(&report_dir, dir)?;
        summary.reports.insert("baseline".into(), dir.display().to_string());
    }
    let registry = prometheus::registry(&summary);
    let _ = std::fs::write(report_dir.join("metrics.prom"), prometheus::text(&registry));
    let push_failure = match &args.pushgateway {
        Some(url) => push::push(url, &summary, &registry).await.err(),
        None => None,
    };
    drop(target);
    Ok(Finished { summary, push_failure })
}

/// The checks after the load: the webhook outcome, the rate limit, reconciliation.
async fn after_run_checks(context: &LoadContext, target: &Target, elapsed: Duration) -> Vec<CheckResult> {
    let mut checks = Vec::new();
    if let Some(fixtures) = &context.webhooks {
        checks.push(match outcome::check(context, fixtures).await {
            Ok(outcome) => CheckResult {
                name: "webhook outcome".into(),
                passed: outcome.passed(),
                detail: format!(
                    "{} events in {} deliveries ({} duplicates, {} redelivered after the run); {} distinct paid invoices; credits granted {} (expected {}); {} ledgers consistent",
                    outcome.events,
                    outcome.deliveries,
                    outcome.duplicate_deliveries,
                    outcome.redelivered_after_run,
                    outcome.distinct_paid_invoices,
                    outcome.credits_granted,
                    outcome.credits_expected,
                    outcome.ledgers_checked
                ),
                problems: outcome.problems,
            },
            Err(err) => CheckResult {
                name: "webhook outcome".into(),
                passed: false,
                detail: "the outcome could not be read back".into(),
                problems: vec![format!("{err:#}")],
            },
        });
    }
    if let Some(check) = context.vending.as_ref().and_then(|vending| vending.rate_limit.as_ref()) {
        let problems = check.problems(elapsed);
        let (accepted, limited) = check.totals();
        checks.push(CheckResult {
            name: "rate limit".into(),
            passed: problems.is_empty(),
            detail: format!(
                "{accepted} exchanges let through and {limited} refused with 429 at {}/min, burst {}, per key",
                check.per_minute, check.burst
            ),
            problems,
        });
    }
    if let Some(embedded) = &target.embedded {
        checks.extend(reconciliation(embedded).await);
    }
    checks
}

/// Every load run on the embedded stack ends with the harness's reconciliation check: every
/// succeeded PaymentIntent for a fix has exactly one recorded charge and the reverse, every
/// ledger balance equals the sum of its entries, nothing negative. A problem fails the run.
async fn reconciliation(embedded: &Embedded) -> Option<CheckResult> {
    let stack = &embedded.stack;
    let stripe = StripeAccess { api_base: stack.stripe.base_url(), secret_key: stack.config.stripe_secret_key.clone() };
    Some(match reconcile(&stack.pool, &stripe, RECONCILE_SETTLE).await {
        Ok(reconciliation) => CheckResult {
            name: "reconciliation".into(),
            passed: reconciliation.is_clean(),
            detail: reconciliation.to_string(),
            problems: reconciliation.problems().to_vec(),
        },
        Err(err) => CheckResult {
            name: "reconciliation".into(),
            passed: false,
            detail: "the reconciliation check could not run".into(),
            problems: vec![format!("{err:#}")],
        },
    })
}

/// How long reconciliation waits for charges a run left pending to settle.
const RECONCILE_SETTLE: Duration = Duration::from_secs(30);
