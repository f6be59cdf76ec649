//! `load compare`: did this change make the service slower? Two builds (or two configurations,
//! or two deployed services) on **one machine, in interleaved rounds**, so whatever else the
//! machine does hits both; each figure judged by the confidence interval of the
//! candidate/base ratio against a minimum effect ([`stats`]).
//!
//! The run: both sides are set up once, each on an embedded stack of its own (its own
//! PostgreSQL cluster, fakes and service process) with the same fixtures; one warm-up round
//! each, discarded; then `--rounds` pairs, each a base round and a candidate round in a random
//! order (seeded: `--seed` repeats it), with the same load shape. The after-run checks of each
//! side run at the end, over all its rounds. Reports: the terminal table, `compare.json`,
//! `compare.md` (for a pull-request comment), `compare.svg` (each round's figures of both
//! sides, and each ratio with its interval), and JUnit with `--junit`.
//!
//! Exit codes: 0 nothing regressed and nothing inconclusive; 1 something regressed, or an
//! after-run check failed on either side; 3 inconclusive (nothing regressed); 2 a usage or
//! set-up error.

pub mod chart;
pub mod model;
pub mod report;
pub mod stats;

pub use model::{
    CompareReport, EXIT_INCONCLUSIVE, EndpointComparison, Outcome, RoundFigures, RoundRecord, SERVER_SIDE,
    SideDescription, SideName,
};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::cli::CompareArgs;
use crate::context::RunIdentity;
use crate::embedded::{EmbeddedService, ServiceChoice};
use crate::error::LoadError;
use crate::profile::parse_duration;
use crate::recorder::Measured;
use crate::scenario::ScenarioOptions;
use crate::scenarios::Selection;
use crate::shape::Shape;
use crate::side::{GooseExtras, Side};
use crate::summary::Machine;
use crate::target::TargetSpec;
use stats::{Figure, RoundSample, Settings};

/// What the command line asked for, checked.
struct Plan {
    selection: Selection,
    base: TargetSpec,
    candidate: TargetSpec,
    descriptions: BTreeMap<SideName, SideDescription>,
    shape: Shape,
    warm_up: Option<Shape>,
    pairs: usize,
    round_time: Duration,
    settings: Settings,
    options: ScenarioOptions,
}

fn plan(args: &CompareArgs) -> Result<Plan, LoadError> {
    if !(args.min_effect > 0.0 && args.min_effect < 100.0) {
        return Err(LoadError::Usage(format!("--min-effect {}: give a percentage above 0, e.g. 5", args.min_effect)));
    }
    if !(args.confidence >= 50.0 && args.confidence < 100.0) {
        return Err(LoadError::Usage(format!("--confidence {}: give a percentage from 50 to 99.9", args.confidence)));
    }
    let fewest = stats::min_pairs(args.confidence / 100.0);
    if args.rounds < fewest {
        return Err(LoadError::Usage(format!(
            "--rounds {}: a verdict at {}% confidence needs at least {fewest} pairs of rounds (with fewer, pairs all \
             leaning one way by chance are too common to call anything); give --rounds {fewest} or more, or a lower \
             --confidence",
            args.rounds, args.confidence
        )));
    }
    if args.duplicates > 100 {
        return Err(LoadError::Usage(format!("--duplicates {}: give a percentage from 0 to 100", args.duplicates)));
    }
    let round_time = parse_duration(&args.round_time)
        .map_err(|err| LoadError::Usage(format!("--round-time {:?}: {err}", args.round_time)))?;
    let warm_up = parse_duration(&args.warm_up)
        .map_err(|err| LoadError::Usage(format!("--warm-up {:?}: {err}", args.warm_up)))?;
    let shape = Shape::parse(args.users, None, "0s", &args.round_time, args.rate)?;
    let (base, candidate, descriptions) = sides(args)?;
    for spec in [&base, &candidate] {
        crate::target::Target::check(spec, args.scenario.name(), args.scenario.needs())?;
    }
    Ok(Plan {
        selection: args.scenario,
        base,
        candidate,
        descriptions,
        warm_up: (!warm_up.is_zero()).then(|| shape.held_for(warm_up)),
        shape,
        pairs: args.rounds,
        round_time,
        settings: Settings {
            min_effect: args.min_effect / 100.0,
            confidence: args.confidence / 100.0,
            seed: args.seed.unwrap_or_else(rand::random),
            ..Settings::default()
        },
        options: ScenarioOptions { fixtures: args.fixtures, duplicates: args.duplicates, verify_rate_limit: None },
    })
}

type Sides = (TargetSpec, TargetSpec, BTreeMap<SideName, SideDescription>);

/// The two sides: two binaries (by default this checkout's release build on both), each with
/// its own environment, or two deployed targets.
fn sides(args: &CompareArgs) -> Result<Sides, LoadError> {
    let describe_env = |env: &[(String, String)]| env.iter().map(|(name, value)| format!("{name}={value}")).collect();
    match (&args.base_target, &args.candidate_target) {
        (Some(base), Some(candidate)) => {
            let secret = |side: &str| {
                std::env::var(format!("LOAD_{side}_WEBHOOK_SECRET"))
                    .or_else(|_| std::env::var("STRIPE_WEBHOOK_SECRET"))
                    .ok()
                    .filter(|secret| !secret.is_empty())
            };
            let deployed = |url: &String, keys: &Option<PathBuf>, side: &str| TargetSpec::Deployed {
                url: url.clone(),
                keys_file: keys.clone(),
                webhook_secret: secret(side),
                signing_key: None,
                production_confirmed: args.i_know_this_is_production,
            };
            let descriptions = BTreeMap::from([
                (SideName::Base, SideDescription { what: base.clone(), env: Vec::new() }),
                (SideName::Candidate, SideDescription { what: candidate.clone(), env: Vec::new() }),
            ]);
            Ok((deployed(base, &args.base_keys_file, "BASE"), deployed(candidate, &args.candidate_keys_file, "CANDIDATE"), descriptions))
        }
        (None, None) => {
            for binary in [&args.base, &args.candidate].into_iter().flatten() {
                if !binary.is_file() {
                    return Err(LoadError::Usage(format!(
                        "{} is not a billing-service binary: build one with `cargo build --release --bin billing-service` (scripts/load-compare builds a git ref's)",
                        binary.display()
                    )));
                }
            }
            let embedded = |binary: &Option<PathBuf>, env: &[(String, String)]| {
                let choice = match binary {
                    Some(path) => ServiceChoice::Binary(path.clone()),
                    None => ServiceChoice::Build(crate::embedded::ServiceMode::Release),
                };
                TargetSpec::Embedded { service: EmbeddedService { binary: choice, env: env.to_vec() }, limit: None }
            };
            let what = |binary: &Option<PathBuf>| {
                binary.as_ref().map_or_else(|| "this checkout's release build".into(), |path| path.display().to_string())
            };
            let descriptions = BTreeMap::from([
                (SideName::Base, SideDescription { what: what(&args.base), env: describe_env(&args.base_env) }),
                (
                    SideName::Candidate,
                    SideDescription { what: what(&args.candidate), env: describe_env(&args.candidate_env) },
                ),
            ]);
            Ok((embedded(&args.base, &args.base_env), embedded(&args.candidate, &args.candidate_env), descriptions))
        }
        _ => Err(LoadError::Usage(
            "give both --base-target and --candidate-target (two deployed services), or neither (two binaries on embedded stacks)".into(),
        )),
    }
}

/// The per-round figures of what a round measured.
fn round_figures(measured: &Measured) -> BTreeMap<String, RoundFigures> {
    let seconds = measured.active.as_secs_f64().max(f64::MIN_POSITIVE);
    measured
        .endpoints
        .iter()
        .map(|(name, tally)| {
            (
                name.clone(),
                RoundFigures {
                    requests: tally.requests,
                    failures: tally.failures,
                    rps: tally.requests as f64 / seconds,
                    p50_ms: tally.latency.quantile_ms(0.50),
                    p95_ms: tally.latency.quantile_ms(0.95),
                    p99_ms: tally.latency.quantile_ms(0.99),
                },
            )
        })
        .collect()
}

/// Runs the comparison from start to verdict (reports written).
pub async fn compare(args: CompareArgs) -> Result<CompareReport, LoadError> {
    let plan = plan(&args)?;
    let report_dir = crate::run::report_dir(args.report_dir.as_deref(), &format!("compare-{}", plan.selection))?;
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let run_id = crate::run::run_id(None)?;
    let say = |line: String| {
        if !args.quiet {
            eprintln!("load compare: {line}");
        }
    };

    say(format!("setting up the base ({})", plan.descriptions[&SideName::Base].what));
    let base =
        Side::set_up(&plan.base, plan.selection, RunIdentity::new(&format!("{run_id}-b"), 0, 1), &plan.options).await?;
    say(format!("setting up the candidate ({})", plan.descriptions[&SideName::Candidate].what));
    let candidate =
        Side::set_up(&plan.candidate, plan.selection, RunIdentity::new(&format!("{run_id}-c"), 0, 1), &plan.options)
            .await?;
    let (rounds, samples) = run_pairs(&plan, [&base, &candidate], &say).await?;

    say("after-run checks".into());
    let checks =
        BTreeMap::from([(SideName::Base, base.checks().await), (SideName::Candidate, candidate.checks().await)]);
    drop((base, candidate));

    let endpoints = comparisons(&plan.selection, &samples, &plan.settings);
    let outcome = CompareReport::outcome_of(&endpoints, &checks);
    let mut report = CompareReport {
        scenario: plan.selection.name().to_string(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_seconds: started.elapsed().as_secs_f64(),
        machine: Machine::this(),
        base: plan.descriptions[&SideName::Base].clone(),
        candidate: plan.descriptions[&SideName::Candidate].clone(),
        model: plan.shape.model().into(),
        users: plan.shape.users(),
        pairs: plan.pairs,
        round_seconds: plan.round_time.as_secs_f64(),
        warm_up_seconds: plan.warm_up.as_ref().map_or(0.0, |shape| shape.length().as_secs_f64()),
        min_effect: plan.settings.min_effect,
        confidence: plan.settings.confidence,
        seed: plan.settings.seed,
        rounds,
        endpoints,
        checks,
        outcome,
        reports: BTreeMap::new(),
    };
    report.reports = report::paths(&report_dir);
    report::write(&report_dir, &report).map_err(|err| {
        LoadError::Setup(anyhow::anyhow!("cannot write the reports into {}: {err}", report_dir.display()))
    })?;
    if let Some(path) = &args.junit {
        crate::report::junit::write_compare(path, &report)?;
    }
    Ok(report)
}

/// Each side's rounds, by side, then by pair: each endpoint's sample.
type Samples = BTreeMap<SideName, Vec<BTreeMap<String, RoundSample>>>;

/// The warm-up rounds (discarded), then the pairs of rounds in their seeded random order.
async fn run_pairs(
    plan: &Plan,
    sides: [&Side; 2],
    say: &impl Fn(String),
) -> Result<(Vec<RoundRecord>, Samples), LoadError> {
    let side = |name: SideName| if name == SideName::Base { sides[0] } else { sides[1] };
    let extras = GooseExtras::default();

    let mut round_number = 0;
    if let Some(warm_up) = &plan.warm_up {
        for name in [SideName::Base, SideName::Candidate] {
            round_number += 1;
            say(format!("warm-up round of the {} (discarded)", name.label()));
            side(name).round(warm_up, round_number, &extras).await?;
        }
    }
    let mut order_rng = StdRng::seed_from_u64(plan.settings.seed);
    let mut rounds = Vec::new();
    let mut samples = Samples::new();
    for pair in 1..=plan.pairs {
        let order = if order_rng.random_bool(0.5) {
            [SideName::Base, SideName::Candidate]
        } else {
            [SideName::Candidate, SideName::Base]
        };
        let mut line = format!("pair {pair}/{}:", plan.pairs);
        for (position, name) in order.into_iter().enumerate() {
            round_number += 1;
            let result = side(name).round(&plan.shape, round_number, &extras).await?;
            let figures = round_figures(&result.measured);
            let seconds = result.measured.active.as_secs_f64();
            let mut round: BTreeMap<String, RoundSample> = result
                .measured
                .endpoints
                .iter()
                .map(|(endpoint, tally)| {
                    let sample = RoundSample {
                        requests: tally.requests,
                        failures: tally.failures,
                        seconds,
                        latency: tally.latency.clone(),
                        cpu_seconds: None,
                    };
                    (endpoint.clone(), sample)
                })
                .collect();
            let requests: u64 = result.measured.endpoints.values().map(|tally| tally.requests).sum();
            if result.cpu_seconds.is_some() {
                round.insert(
                    SERVER_SIDE.to_string(),
                    RoundSample { requests, seconds, cpu_seconds: result.cpu_seconds, ..RoundSample::default() },
                );
            }
            samples.entry(name).or_default().push(round);
            for (endpoint, figures) in &figures {
                line += &format!(" {} {:.0} req/s p95 {:.2} ms", name.label(), figures.rps, figures.p95_ms);
                if plan.selection.is_all() {
                    line += &format!(" ({endpoint})");
                }
            }
            rounds.push(RoundRecord {
                pair,
                side: name,
                position,
                load_seconds: result.measured.active.as_secs_f64(),
                cpu_us_per_request: result.cpu_seconds.map(|cpu| cpu * 1e6 / requests.max(1) as f64),
                endpoints: figures,
            });
        }
        say(line);
    }
    Ok((rounds, samples))
}

/// Every endpoint's figures compared, in the order the scenario names its requests.
fn comparisons(selection: &Selection, samples: &Samples, settings: &Settings) -> Vec<EndpointComparison> {
    let mut names: Vec<String> = selection.requests().iter().map(|name| name.to_string()).collect();
    for endpoint in samples.values().flatten().flat_map(BTreeMap::keys) {
        if !names.contains(endpoint) {
            names.push(endpoint.clone());
        }
    }
    let every_round_has = |name: &str| samples.values().flatten().all(|round| round.contains_key(name));
    names
        .into_iter()
        .filter(|name| samples.values().flatten().any(|round| round.contains_key(name)))
        .filter(|name| name != SERVER_SIDE || every_round_has(name))
        .map(|name| {
            // A round that never reached the endpoint counts as an empty round, so pairs stay
            // pairs.
            let rounds = |side: SideName| -> Vec<RoundSample> {
                samples
                    .get(&side)
                    .map(|rounds| rounds.iter().map(|round| round.get(&name).cloned().unwrap_or_default()).collect())
                    .unwrap_or_default()
            };
            let (base, candidate) = (rounds(SideName::Base), rounds(SideName::Candidate));
            // The server side is judged on its CPU per request only: its requests are the
            // endpoints' requests, already judged one by one.
            let figures: &[Figure] = if name == SERVER_SIDE { &[Figure::CpuPerRequest] } else { &Figure::ALL };
            EndpointComparison {
                figures: figures.iter().map(|figure| stats::compare(*figure, &base, &candidate, settings)).collect(),
                endpoint: name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::stats::{Comparison, Verdict};
    use super::*;
    use crate::summary::CheckResult;

    fn comparison(verdict: Verdict) -> Comparison {
        Comparison {
            figure: Figure::P95,
            base: Some(1.0),
            candidate: Some(1.0),
            estimate: Some(1.0),
            low: Some(0.9),
            high: Some(1.1),
            verdict,
            pairs_needed: None,
            note: None,
        }
    }

    fn outcome(verdicts: &[Verdict], check_passed: bool) -> Outcome {
        let endpoints = vec![EndpointComparison {
            endpoint: "GET /x".into(),
            figures: verdicts.iter().map(|verdict| comparison(*verdict)).collect(),
        }];
        let check = CheckResult { name: "c".into(), passed: check_passed, detail: String::new(), problems: Vec::new() };
        CompareReport::outcome_of(&endpoints, &BTreeMap::from([(SideName::Candidate, vec![check])]))
    }

    /// One side's rounds: `GET /healthz` in each, the server side only where `cpu` has a value.
    fn side_rounds(cpu: &[Option<f64>]) -> Vec<BTreeMap<String, RoundSample>> {
        cpu.iter()
            .map(|cpu| {
                let mut latency = crate::latency::LatencyHistogram::new();
                latency.record(std::time::Duration::from_millis(2));
                let endpoint = RoundSample { requests: 1000, seconds: 1.0, latency, ..RoundSample::default() };
                let mut round = BTreeMap::from([("GET /healthz".to_string(), endpoint)]);
                if cpu.is_some() {
                    round.insert(
                        SERVER_SIDE.to_string(),
                        RoundSample { requests: 1000, seconds: 1.0, cpu_seconds: *cpu, ..RoundSample::default() },
                    );
                }
                round
            })
            .collect()
    }

    #[test]
    fn the_server_side_is_judged_on_its_cpu_per_request_alone() {
        let selection = Selection::parse("healthz").unwrap();
        let settings = Settings { resamples: 200, ..Settings::default() };
        let cpu = [Some(0.5); 6];
        let samples = BTreeMap::from([(SideName::Base, side_rounds(&cpu)), (SideName::Candidate, side_rounds(&cpu))]);
        let endpoints = comparisons(&selection, &samples, &settings);
        let names: Vec<&str> = endpoints.iter().map(|endpoint| endpoint.endpoint.as_str()).collect();
        assert_eq!(names, ["GET /healthz", SERVER_SIDE]);
        let endpoint_figures: Vec<Figure> = endpoints[0].figures.iter().map(|c| c.figure).collect();
        assert_eq!(endpoint_figures, Figure::ALL);
        let server_figures: Vec<Figure> = endpoints[1].figures.iter().map(|c| c.figure).collect();
        assert_eq!(server_figures, [Figure::CpuPerRequest]);
        assert_eq!(endpoints[1].figures[0].verdict, Verdict::NoChange);
        assert!((endpoints[1].figures[0].base.unwrap() - 500.0).abs() < 1e-9, "{:?}", endpoints[1].figures[0]);

        // A round without a CPU reading (a deployed target) leaves the server side out.
        let mut gappy = cpu.to_vec();
        gappy[2] = None;
        let samples = BTreeMap::from([(SideName::Base, side_rounds(&cpu)), (SideName::Candidate, side_rounds(&gappy))]);
        let names: Vec<String> =
            comparisons(&selection, &samples, &settings).into_iter().map(|endpoint| endpoint.endpoint).collect();
        assert_eq!(names, ["GET /healthz"]);
    }

    #[test]
    fn the_exit_code_says_regressed_inconclusive_or_passed() {
        assert_eq!(outcome(&[Verdict::NoChange, Verdict::Improved], true).exit_code(), 0);
        assert_eq!(outcome(&[Verdict::NoChange, Verdict::Regressed, Verdict::Inconclusive], true).exit_code(), 1);
        assert_eq!(outcome(&[Verdict::NoChange, Verdict::Inconclusive], true).exit_code(), 3);
        assert_eq!(outcome(&[Verdict::NoChange], false), Outcome::ChecksFailed);
        assert_eq!(outcome(&[Verdict::Inconclusive], false).exit_code(), 1);
    }
}
