//! `load merge DIR…`: one verdict from the report folders of one run's workers.
//!
//! Workers are independent `load run` processes (a Kubernetes Indexed Job's pods, say), each
//! judging only its own share. A run's verdict is about all of them together: requests are
//! summed, throughput is summed (the workers loaded the target at the same time), latency
//! percentiles come from the workers' **merged histograms** (never averaged), the thresholds
//! the workers were given are judged **once**, over everything, and every worker's after-run
//! checks count. The merged summary gets the same reports as a run (`summary.json`,
//! `summary.md`, `chart.svg`, `metrics.prom`) and the same exit codes.
//!
//! Why judging once matters: a rule like `p95<50ms` judged per worker fails a run whose one
//! small, unlucky worker saw a slow p95 though 99 % of all requests were fast; and averaging
//! the workers' p95s is no percentile at all. (The converse cannot happen for an upper bound on
//! a percentile — a mixture's percentile lies between its parts' — but it does for throughput:
//! four workers each under `rps>=1000` can together be over it.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::MergeArgs;
use crate::error::LoadError;
use crate::recorder::{EndpointTally, SecondFigures};
use crate::summary::{CheckResult, EndpointFigures, OpenModel, RunSummary};
use crate::{report, thresholds};

fn read(dir: &Path) -> Result<RunSummary, LoadError> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|err| {
        LoadError::Usage(format!(
            "cannot read {} ({err}): give the report folders of the workers (each `load run --report-dir DIR`)",
            path.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|err| LoadError::Usage(format!("{} is not a load run's summary ({err})", path.display())))
}

/// The workers' summaries, checked to be one run: the same run id, scenario, environment,
/// rules and number of workers, each worker once, none missing.
pub fn check_workers(summaries: &[(PathBuf, RunSummary)]) -> Result<(), LoadError> {
    let (first_dir, first) = &summaries[0];
    for (dir, summary) in &summaries[1..] {
        for (what, theirs, ours) in [
            ("run id", &summary.run_id, &first.run_id),
            ("scenario", &summary.scenario, &first.scenario),
            ("environment", &summary.environment, &first.environment),
        ] {
            if theirs != ours {
                return Err(LoadError::Usage(format!(
                    "{} is {what} {theirs:?} but {} is {ours:?}: merge the folders of one run's workers only (give every worker the same --run-id)",
                    dir.display(),
                    first_dir.display()
                )));
            }
        }
        if summary.rules != first.rules {
            return Err(LoadError::Usage(format!(
                "{} was judged by other thresholds than {}: give every worker the same --threshold rules",
                dir.display(),
                first_dir.display()
            )));
        }
        if summary.workers != first.workers {
            return Err(LoadError::Usage(format!(
                "{} says {} workers but {} says {}: give every worker the same --workers",
                dir.display(),
                summary.workers,
                first_dir.display(),
                first.workers
            )));
        }
    }
    let mut seen = BTreeMap::new();
    for (dir, summary) in summaries {
        if let Some(other) = seen.insert(summary.worker_index, dir) {
            return Err(LoadError::Usage(format!(
                "worker {} appears twice ({} and {}): give each worker's folder once",
                summary.worker_index,
                other.display(),
                dir.display()
            )));
        }
    }
    let missing: Vec<String> =
        (0..first.workers).filter(|index| !seen.contains_key(index)).map(|index| index.to_string()).collect();
    if !missing.is_empty() {
        return Err(LoadError::Usage(format!(
            "run {} had {} workers but the folders of worker{} {} are missing: a verdict needs every worker (did one fail before writing its reports?)",
            first.run_id,
            first.workers,
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        )));
    }
    Ok(())
}

/// One summary of every worker's.
pub fn merged(summaries: &[RunSummary]) -> RunSummary {
    let first = &summaries[0];
    let mut endpoints: BTreeMap<String, (EndpointTally, f64)> = BTreeMap::new();
    for summary in summaries {
        for figures in &summary.endpoints {
            let (tally, rps) = endpoints.entry(figures.name.clone()).or_default();
            tally.add(&figures.tally());
            *rps += figures.rps;
        }
    }
    let endpoints: Vec<EndpointFigures> =
        endpoints.iter().map(|(name, (tally, rps))| EndpointFigures::from_tally(name, tally, *rps)).collect();
    let mut all = EndpointTally::default();
    for figures in &endpoints {
        all.add(&figures.tally());
    }
    let total = EndpointFigures::from_tally("all", &all, endpoints.iter().map(|figures| figures.rps).sum());
    let thresholds = thresholds::judge_all(&first.rules, &endpoints, &total);
    let checks: Vec<CheckResult> = summaries
        .iter()
        .flat_map(|summary| {
            summary.checks.iter().map(|check| CheckResult {
                name: format!("worker {}: {}", summary.worker_index, check.name),
                ..check.clone()
            })
        })
        .collect();
    let mut seconds: BTreeMap<i64, SecondFigures> = BTreeMap::new();
    for second in summaries.iter().flat_map(|summary| &summary.timeline) {
        match seconds.get_mut(&second.unix_second) {
            Some(merged) => merged.add(second),
            None => {
                seconds.insert(second.unix_second, second.clone());
            }
        }
    }
    let open_model = merged_open_model(summaries, total.requests);
    let started_at = summaries.iter().map(|summary| summary.started_at.clone()).min().unwrap_or_default();
    RunSummary {
        worker_index: 0,
        workers: first.workers,
        target: first.target.clone(),
        started_at,
        duration_seconds: summaries.iter().map(|summary| summary.duration_seconds).fold(0.0, f64::max),
        users: summaries.iter().map(|summary| summary.users).sum(),
        load_seconds: summaries.iter().map(|summary| summary.load_seconds).fold(0.0, f64::max),
        endpoints,
        total,
        thresholds,
        open_model,
        coordinated_omission: None,
        checks,
        baseline: Vec::new(),
        baseline_note: None,
        machine: None,
        merged_workers: summaries.iter().map(|summary| summary.worker_index).collect(),
        timeline: seconds.into_values().collect(),
        reports: BTreeMap::new(),
        ..first.clone()
    }
}

fn merged_open_model(summaries: &[RunSummary], completed: u64) -> Option<OpenModel> {
    let models: Vec<&OpenModel> = summaries.iter().filter_map(|summary| summary.open_model.as_ref()).collect();
    if models.len() != summaries.len() {
        return None;
    }
    let asked: f64 = models.iter().map(|model| model.asked_rate).sum();
    let achieved: f64 = models.iter().map(|model| model.achieved_rate).sum();
    let late: u64 = models.iter().map(|model| model.late_requests).sum();
    let kept_up = models.iter().all(|model| model.kept_up);
    Some(OpenModel {
        asked_rate: asked,
        achieved_rate: achieved,
        kept_up,
        late_requests: late,
        worst_lateness_ms: models.iter().map(|model| model.worst_lateness_ms).fold(0.0, f64::max),
        note: format!(
            "open model over {} workers: asked {asked:.0} req/s, achieved {achieved:.0} req/s ({completed} requests); {late} went out late{}",
            models.len(),
            if kept_up { "" } else { "; at least one worker's target could not keep up" }
        ),
    })
}

/// `load merge`: reads, checks, merges, writes the reports.
pub fn merge(args: MergeArgs) -> Result<RunSummary, LoadError> {
    let summaries: Vec<(PathBuf, RunSummary)> =
        args.dirs.iter().map(|dir| read(dir).map(|summary| (dir.clone(), summary))).collect::<Result<_, _>>()?;
    check_workers(&summaries)?;
    let mut summary = merged(&summaries.into_iter().map(|(_, summary)| summary).collect::<Vec<_>>());
    let report_dir = crate::run::report_dir(args.report_dir.as_deref(), &format!("merged-{}", summary.scenario))?;
    summary.reports = report::report_paths(&report_dir)
        .into_iter()
        .filter(|(kind, _)| !kind.starts_with("goose") && kind != "html")
        .collect();
    report::write(&report_dir, &summary).map_err(|err| {
        LoadError::Setup(anyhow::anyhow!("cannot write the reports into {}: {err}", report_dir.display()))
    })?;
    let registry = crate::prometheus::registry(&summary);
    let _ = std::fs::write(report_dir.join("metrics.prom"), crate::prometheus::text(&registry));
    if let Some(path) = &args.junit {
        report::junit::write_run(path, &summary)?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencyHistogram;
    use std::time::Duration;

    /// A worker's summary of `fast` 1 ms requests and `slow` 50 ms ones at `rps`, judged by `rules`.
    fn worker(index: usize, fast: u64, slow: u64, rps: f64, rules: &[&str]) -> RunSummary {
        let mut latency = LatencyHistogram::new();
        latency.record_us(1_000, fast);
        latency.record_us(50_000, slow);
        let tally = EndpointTally { requests: fast + slow, failures: 0, conflicts: 0, rate_limited: 0, latency };
        let figures = EndpointFigures::from_tally("GET /x", &tally, rps);
        let rules: Vec<String> = rules.iter().map(|rule| rule.to_string()).collect();
        let mut summary = RunSummary::of_one_endpoint("healthz", figures.clone());
        summary.total = EndpointFigures { name: "all".into(), ..figures.clone() };
        summary.thresholds = thresholds::judge_all(&rules, &summary.endpoints, &summary.total);
        summary.rules = rules;
        summary.worker_index = index;
        summary.workers = 2;
        summary
    }

    #[test]
    fn a_worker_failing_its_p95_alone_is_outweighed_once_every_request_is_counted() {
        // Worker 1 is small and unlucky: 6 of its 100 requests were slow, so its own p95 is
        // 50 ms and it fails `p95<10ms`. Over both workers 6 of 10,100 requests were slow:
        // the run's p95 is 1 ms. The average of the two p95s (25.5 ms) would have failed it too.
        let rules = ["p95<10ms"];
        let big = worker(0, 10_000, 0, 900.0, &rules);
        let small = worker(1, 94, 6, 100.0, &rules);
        assert!(big.passed() && !small.passed(), "each worker judged alone");
        let average_p95 = (big.endpoints[0].p95_ms + small.endpoints[0].p95_ms) / 2.0;
        assert!(average_p95 > 10.0);
        let merged = merged(&[big, small]);
        assert!(merged.passed(), "{:?}", merged.thresholds);
        assert!((merged.endpoints[0].p95_ms - 1.0).abs() < 0.01);
        assert_eq!(merged.total.requests, 10_100);
    }

    #[test]
    fn throughput_is_summed_across_workers_and_judged_once() {
        let rules = ["rps>=1000"];
        let (a, b) = (worker(0, 600, 0, 600.0, &rules), worker(1, 600, 0, 600.0, &rules));
        assert!(!a.passed() && !b.passed(), "neither worker reaches 1000 req/s alone");
        let merged = merged(&[a, b]);
        assert!(merged.passed(), "{:?}", merged.thresholds);
        assert_eq!(merged.total.rps, 1200.0);
        assert_eq!(merged.merged_workers, vec![0, 1]);
    }

    #[test]
    fn every_worker_check_counts() {
        let mut a = worker(0, 10, 0, 10.0, &[]);
        let b = worker(1, 10, 0, 10.0, &[]);
        a.checks.push(CheckResult {
            name: "webhook outcome".into(),
            passed: false,
            detail: "x".into(),
            problems: vec![],
        });
        let merged = merged(&[a, b]);
        assert!(!merged.passed());
        assert_eq!(merged.checks[0].name, "worker 0: webhook outcome");
    }

    #[test]
    fn folders_of_other_runs_duplicates_and_missing_workers_are_refused() {
        let dir = |name: &str| PathBuf::from(name);
        let a = worker(0, 10, 0, 10.0, &[]);
        let mut other_run = worker(1, 10, 0, 10.0, &[]);
        other_run.run_id = "other".into();
        let err = check_workers(&[(dir("a"), a.clone()), (dir("b"), other_run)]).unwrap_err().to_string();
        assert!(err.contains("run id") && err.contains("--run-id"), "{err}");
        let err = check_workers(&[(dir("a"), a.clone()), (dir("b"), a.clone())]).unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
        let err = check_workers(&[(dir("a"), a.clone())]).unwrap_err().to_string();
        assert!(err.contains("worker 1 are missing"), "{err}");
        let mut stricter = worker(1, 10, 0, 10.0, &["p95<1ms"]);
        stricter.rules = vec!["p95<1ms".into()];
        assert!(check_workers(&[(dir("a"), a), (dir("b"), stricter)]).unwrap_err().to_string().contains("thresholds"));
    }

    #[test]
    fn timelines_line_up_by_the_second() {
        let mut a = worker(0, 10, 0, 10.0, &[]);
        let mut b = worker(1, 10, 0, 10.0, &[]);
        let second = |at: i64, requests: u64| {
            let mut latency = LatencyHistogram::new();
            latency.record(Duration::from_millis(2));
            SecondFigures {
                unix_second: at,
                requests,
                failures: 0,
                covered: 1.0,
                p50_ms: 2.0,
                p95_ms: 2.0,
                p99_ms: 2.0,
                latency,
            }
        };
        a.timeline = vec![second(100, 5), second(101, 5)];
        b.timeline = vec![second(101, 7), second(102, 7)];
        let merged = merged(&[a, b]);
        let requests: Vec<(i64, u64)> = merged.timeline.iter().map(|s| (s.unix_second, s.requests)).collect();
        assert_eq!(requests, [(100, 5), (101, 12), (102, 7)]);
    }
}
