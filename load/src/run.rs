//! `load run`: check the command line, set up the target and its fixtures ([`Side`]), run one
//! round of load, judge it (thresholds, after-run checks, a baseline), write the reports and
//! push the results.
//!
//! Everything that can be wrong with the command line is found before anything starts (exit
//! code 2). A run that happened always writes its reports, whatever failed after.

use std::path::{Path, PathBuf};

use crate::baseline::{self, Baseline};
use crate::cli::RunArgs;
use crate::context::RunIdentity;
use crate::embedded::{CredentialLimit, EmbeddedService};
use crate::error::LoadError;
use crate::scenario::ScenarioOptions;
use crate::scenarios::Selection;
use crate::shape::Shape;
use crate::side::{GooseExtras, RoundResult, Side};
use crate::summary::{self, Machine, OpenModel, RunSummary};
use crate::target::TargetSpec;
use crate::{prometheus, push, report, thresholds};

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
    if args.verify_rate_limit.is_some() && !args.scenario.runs("credential-vending") {
        return Err(LoadError::Usage("--verify-rate-limit is for the credential-vending scenario".into()));
    }
    check_environment(&args.environment)
}

/// A grouping label for the Pushgateway.
pub fn check_environment(environment: &str) -> Result<(), LoadError> {
    if environment.is_empty() || environment.contains('/') {
        return Err(LoadError::Usage(format!("--environment {environment:?}: give a name like local, ci or staging")));
    }
    Ok(())
}

/// `--run-id`, or a random one.
pub fn run_id(given: Option<&str>) -> Result<String, LoadError> {
    let id = given.map_or_else(|| format!("{:08x}", rand::random::<u32>()), str::to_string);
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(LoadError::Usage(format!("--run-id {id:?}: use up to 64 letters, digits and dashes")));
    }
    Ok(id)
}

/// Where reports go when `--report-dir` is not given: `target/load-reports/NAME-TIME`.
pub fn default_report_dir(name: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    workspace.join("target/load-reports").join(format!("{name}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")))
}

/// Creates the report folder, or says why it cannot.
pub fn report_dir(given: Option<&Path>, name: &str) -> Result<PathBuf, LoadError> {
    let dir = given.map_or_else(|| default_report_dir(name), Path::to_path_buf);
    std::fs::create_dir_all(&dir)
        .map_err(|err| LoadError::Usage(format!("cannot create --report-dir {}: {err}", dir.display())))?;
    Ok(dir)
}

/// The target `load run` was asked for.
fn target_spec(args: &RunArgs, limit: Option<CredentialLimit>) -> TargetSpec {
    match &args.target {
        None => TargetSpec::Embedded { service: EmbeddedService::of_mode(args.service), limit },
        Some(url) => TargetSpec::Deployed {
            url: url.clone(),
            keys_file: args.keys_file.clone(),
            webhook_secret: std::env::var("STRIPE_WEBHOOK_SECRET").ok().filter(|secret| !secret.is_empty()),
            signing_key: std::env::var("CREDENTIAL_SIGNING_KEY")
                .ok()
                .filter(|key| !key.is_empty())
                .map(String::into_bytes),
            production_confirmed: args.i_know_this_is_production,
        },
    }
}

/// goose's options for the run's one round: its reports, the baseline's report for their
/// deltas, the dashboard, coordinated-omission mitigation.
fn goose_extras(args: &RunArgs, report_dir: &Path, baseline: Option<&Baseline>) -> GooseExtras {
    let mut goose = Vec::new();
    for (_, file) in report::GOOSE_REPORTS {
        goose.extend(["--report-file".into(), report_dir.join(file).display().to_string()]);
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
    goose.extend(["--notes".into(), format!("billing load: {} ({})", args.scenario, args.environment)]);
    GooseExtras { args: goose, progress: !args.quiet }
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

/// Describes one round of one side as a run summary, judged by `rules`.
pub struct Described<'a> {
    pub selection: &'a Selection,
    pub environment: &'a str,
    pub run: &'a RunIdentity,
    pub target: String,
    pub shape: &'a Shape,
    pub rules: &'a [String],
    pub started_at: chrono::DateTime<chrono::Utc>,
}

impl Described<'_> {
    pub fn summary(&self, round: &RoundResult) -> RunSummary {
        let (endpoints, total) = summary::endpoint_figures(&round.measured);
        let thresholds = thresholds::judge_all(self.rules, &endpoints, &total);
        RunSummary {
            scenario: self.selection.name().to_string(),
            environment: self.environment.to_string(),
            worker_index: self.run.worker_index,
            workers: self.run.workers,
            target: self.target.clone(),
            run_id: self.run.run_id.clone(),
            started_at: self.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            duration_seconds: round.elapsed.as_secs_f64(),
            model: self.shape.model().into(),
            users: self.shape.users(),
            load_seconds: round.measured.active.as_secs_f64(),
            open_model: round.pacer.as_ref().map(|pacer| OpenModel::from_pacer(pacer, total.requests)),
            endpoints,
            total,
            rules: self.rules.to_vec(),
            thresholds,
            coordinated_omission: round.coordinated_omission.clone(),
            checks: Vec::new(),
            baseline: Vec::new(),
            baseline_note: None,
            machine: Some(Machine::this()),
            merged_workers: Vec::new(),
            timeline: round.measured.timeline.clone(),
            reports: Default::default(),
        }
    }
}

/// A run from start to verdict.
pub async fn run(args: RunArgs) -> Result<Finished, LoadError> {
    check_args(&args)?;
    let shape = Shape::from_args(&args)?;
    let rules = thresholds::rules_for(
        &args.scenario,
        args.thresholds_file.as_deref(),
        args.no_default_thresholds,
        &args.thresholds,
    )?;
    let baseline = args.baseline.as_deref().map(Baseline::read).transpose()?;
    let limit = args.verify_rate_limit.as_deref().map(CredentialLimit::parse).transpose()?;
    let report_dir = report_dir(args.report_dir.as_deref(), args.scenario.name())?;
    let run = RunIdentity::new(&run_id(args.run_id.as_deref())?, args.worker_index, args.workers);
    let options = ScenarioOptions { fixtures: args.fixtures, duplicates: args.duplicates, verify_rate_limit: limit };

    let side = Side::set_up(&target_spec(&args, limit), args.scenario, run.clone(), &options).await?;
    let started_at = chrono::Utc::now();
    let round = side.round(&shape, 0, &goose_extras(&args, &report_dir, baseline.as_ref())).await?;
    let described = Described {
        selection: &args.scenario,
        environment: &args.environment,
        run: &run,
        target: side.target.base.as_str(),
        shape: &shape,
        rules: &rules,
        started_at,
    };
    let mut summary = described.summary(&round);
    summary.reports = report::report_paths(&report_dir);
    summary.checks = side.checks().await;
    if let Some(baseline) = &baseline {
        summary.baseline = baseline.compare(&summary, args.tolerance);
        summary.baseline_note = baseline.note(summary.machine.as_ref());
    }
    report::write(&report_dir, &summary).map_err(|err| {
        LoadError::Setup(anyhow::anyhow!("cannot write the reports into {}: {err}", report_dir.display()))
    })?;
    if let Some(path) = &args.junit {
        report::junit::write_run(path, &summary)?;
    }
    if let Some(dir) = &args.save_baseline {
        baseline::save(&report_dir, dir)?;
        summary.reports.insert("baseline".into(), dir.display().to_string());
    }
    let push_failure = publish(args.pushgateway.as_deref(), &report_dir, &summary).await;
    drop(side);
    Ok(Finished { summary, push_failure })
}

/// Writes `metrics.prom` and pushes the results when a Pushgateway is given; why not, when
/// the push failed.
pub async fn publish(pushgateway: Option<&str>, report_dir: &Path, summary: &RunSummary) -> Option<LoadError> {
    let registry = prometheus::registry(summary);
    let _ = std::fs::write(report_dir.join("metrics.prom"), prometheus::text(&registry));
    match pushgateway {
        Some(url) => push::push(url, summary, &registry).await.err(),
        None => None,
    }
}
