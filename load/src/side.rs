//! A target made ready for load — the embedded stack or a deployed service, with every
//! scenario's fixtures made on it — and the rounds of load run against it.
//!
//! `load run` is one side and one round. `load compare` is two sides (the base and the
//! candidate), each set up once and then loaded in interleaved rounds; each round is one goose
//! attack with fresh users, measured by a [`Recorder`] of its own. The after-run checks (the
//! scenarios' own and, on the embedded stack, reconciliation) run once per side, over every
//! round against it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use billing_stack::{ApiClient, StripeAccess, reconcile};
use goose::config::GooseConfiguration;
use goose::prelude::*;

use crate::arrival::{Pacer, PacerReport};
use crate::context::{RoundContext, RunIdentity};
use crate::cpu::ServerCpu;
use crate::error::LoadError;
use crate::recorder::{Measured, Recorder};
use crate::scenario::{AfterRun, Prepared, Scenario, ScenarioOptions, Setup};
use crate::scenarios::{self, Selection};
use crate::shape::Shape;
use crate::summary::CheckResult;
use crate::target::{Target, TargetSpec};

/// How long reconciliation waits for charges a run left pending to settle.
const RECONCILE_SETTLE: Duration = Duration::from_secs(30);

/// A target with the scenarios' fixtures on it.
pub struct Side {
    pub target: Target,
    pub selection: Selection,
    pub run: RunIdentity,
    http: reqwest::Client,
    prepared: Vec<(&'static dyn Scenario, Arc<dyn Prepared>)>,
    /// The server side's CPU time, on an embedded stack whose service is a process.
    cpu: Option<ServerCpu>,
    /// Load time over every round so far.
    load_time: Mutex<Duration>,
}

/// What one round measured.
pub struct RoundResult {
    pub measured: Measured,
    /// goose's start to its end, start-up and shut-down included.
    pub elapsed: Duration,
    /// How the open model kept to its schedule.
    pub pacer: Option<PacerReport>,
    /// goose's coordinated-omission figures, when it gathered them.
    pub coordinated_omission: Option<String>,
    /// CPU seconds the server side spent during the round (embedded stack, service as a process).
    pub cpu_seconds: Option<f64>,
}

/// What a round adds to goose's options beyond the shape: its reports, a baseline for them,
/// the dashboard, coordinated-omission mitigation.
#[derive(Debug, Clone, Default)]
pub struct GooseExtras {
    pub args: Vec<String>,
    /// Show the progress line.
    pub progress: bool,
}

impl Side {
    /// Starts (or reads) the target and makes every scenario's fixtures on it.
    pub async fn set_up(
        spec: &TargetSpec,
        selection: Selection,
        run: RunIdentity,
        options: &ScenarioOptions,
    ) -> Result<Side, LoadError> {
        let target = Target::start(spec, selection.name(), selection.needs()).await?;
        let http = billing_service::tls::client();
        let setup =
            Setup { target: &target, api: ApiClient::new(&target.base.as_str(), http.clone()), run: &run, options };
        let mut prepared = Vec::new();
        for (scenario, _) in selection.parts() {
            prepared.push((scenario, scenario.prepare(&setup).await?));
        }
        let cpu = target
            .embedded
            .as_ref()
            .and_then(|embedded| ServerCpu::new(embedded.stack.service_pid()?, embedded.stack.postgres_cluster_dir()));
        Ok(Side { target, selection, run, http, prepared, cpu, load_time: Mutex::new(Duration::ZERO) })
    }

    /// One round of load of `shape`, numbered `round` (0 for a single run: its names carry no
    /// round).
    pub async fn round(&self, shape: &Shape, round: u32, extras: &GooseExtras) -> Result<RoundResult, LoadError> {
        let mut goose = vec!["--host".to_string(), self.target.base.as_str()];
        goose.extend(shape.goose_args());
        goose.extend(extras.args.iter().cloned());
        // No telnet controller (goose's WebSocket one is off unless asked for): several workers or
        // sides on one machine would fight over their ports.
        goose.extend(["--no-telnet".into(), "--quiet".into(), "--no-print-metrics".into()]);
        let configuration = GooseConfiguration::parse_args_default(&goose)
            .map_err(|err| LoadError::Usage(format!("goose refused the run's options: {err}")))?;
        let context = Arc::new(RoundContext {
            base: self.target.base.clone(),
            http: self.http.clone(),
            run: self.run.in_round(round),
            pacer: match shape {
                Shape::Open { schedule, .. } => Some(Pacer::new(schedule.clone())),
                _ => None,
            },
            recorder: Recorder::new(),
        });
        let goose_error = |err: GooseError| LoadError::Setup(anyhow::anyhow!("goose could not run the load: {err:?}"));
        let mut attack = GooseAttack::initialize_with_config(configuration).map_err(goose_error)?;
        for scenario in scenarios::goose_scenarios(&self.selection, &self.prepared, &context).map_err(goose_error)? {
            attack = attack.register_scenario(scenario);
        }
        let cpu_before = self.cpu.as_ref().and_then(ServerCpu::seconds);
        let started = Instant::now();
        let progress = extras.progress.then(|| crate::progress::Progress::start(Arc::clone(&context), shape.length()));
        let metrics = match attack.execute().await {
            Ok(metrics) => metrics,
            Err(GooseError::ThresholdsFailed { metrics, .. }) => *metrics.0,
            Err(err) => return Err(goose_error(err)),
        };
        let elapsed = started.elapsed();
        let cpu_seconds = match (cpu_before, self.cpu.as_ref().and_then(ServerCpu::seconds)) {
            (Some(before), Some(after)) => Some((after - before).max(0.0)),
            _ => None,
        };
        drop(progress);
        let mut measured = context.recorder.measured();
        if let Some(pacer) = &context.pacer {
            // The open model's throughput is over its schedule, not over when answers came.
            measured.active = pacer.schedule().duration();
        }
        *self.load_time.lock().expect("never poisoned") += measured.active;
        Ok(RoundResult {
            measured,
            elapsed,
            pacer: context.pacer.as_ref().map(Pacer::keeping),
            coordinated_omission: crate::summary::coordinated_omission(&metrics),
            cpu_seconds,
        })
    }

    /// The after-run checks, over every round so far: each scenario's own, then (on the
    /// embedded stack) reconciliation.
    pub async fn checks(&self) -> Vec<CheckResult> {
        let after = AfterRun {
            api: ApiClient::new(&self.target.base.as_str(), self.http.clone()),
            run: self.run.clone(),
            load_time: *self.load_time.lock().expect("never poisoned"),
        };
        let mut checks = Vec::new();
        for (_, prepared) in &self.prepared {
            checks.extend(prepared.after_run(&after).await);
        }
        if let Some(embedded) = &self.target.embedded {
            checks.push(reconciliation(embedded).await);
        }
        checks
    }
}

/// Every load run on the embedded stack ends with the harness's reconciliation check: every
/// succeeded PaymentIntent for a fix has exactly one recorded charge and the reverse, every
/// ledger balance equals the sum of its entries, nothing negative. A problem fails the run.
async fn reconciliation(embedded: &crate::embedded::Embedded) -> CheckResult {
    let stack = &embedded.stack;
    let stripe = StripeAccess { api_base: stack.stripe.base_url(), secret_key: stack.config.stripe.secret_key.clone() };
    match reconcile(&stack.pool, &stripe, RECONCILE_SETTLE).await {
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
    }
}
