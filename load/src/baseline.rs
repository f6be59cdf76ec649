//! Baselines: a folder holding a run's goose JSON report (`report.json`, which goose's own
//! `--baseline-file` reads, so its HTML and Markdown reports show each figure's change) and its
//! `summary.json` (which this module compares with a tolerance, so a regression fails the run).
//!
//! A figure regresses when, beyond the tolerance: throughput falls (`rps` below
//! baseline × (1 − tolerance)), a latency percentile rises (p50/p95/p99 above
//! baseline × (1 + tolerance)), or the error rate rises by more than a tenth of the tolerance
//! in percentage points (1 point with the default 10 %).
//!
//! An absolute baseline answers "is this machine as fast as the one the baseline came from?",
//! not "did the code get slower?": the same code on a busy machine regresses by a third. So a
//! baseline records the machine it was saved on, and a comparison with a baseline from another
//! machine (other cores or CPU), or from an unknown one, says plainly that its verdict is only
//! indicative. The gate for a change is `load compare` (two builds, one machine, interleaved
//! rounds, confidence intervals); baselines stay as a trend.

use std::path::{Path, PathBuf};

use crate::error::LoadError;
use crate::summary::{BaselineDelta, Machine, RunSummary};

pub const SUMMARY_FILE: &str = "summary.json";
pub const GOOSE_REPORT_FILE: &str = "report.json";

/// A baseline folder, checked to hold both files.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub dir: PathBuf,
    pub summary: RunSummary,
}

impl Baseline {
    pub fn read(dir: &Path) -> Result<Baseline, LoadError> {
        let hint =
            "make one with `load run SCENARIO --save-baseline DIR` (the committed ones are under load/baselines/)";
        if !dir.is_dir() {
            return Err(LoadError::Usage(format!("--baseline {} is not a folder: {hint}", dir.display())));
        }
        let summary_path = dir.join(SUMMARY_FILE);
        let text = std::fs::read_to_string(&summary_path)
            .map_err(|err| LoadError::Usage(format!("cannot read {} ({err}): {hint}", summary_path.display())))?;
        let summary = serde_json::from_str(&text).map_err(|err| {
            LoadError::Usage(format!("{} is not a load summary ({err}): {hint}", summary_path.display()))
        })?;
        if !dir.join(GOOSE_REPORT_FILE).is_file() {
            return Err(LoadError::Usage(format!("{} has no {GOOSE_REPORT_FILE}: {hint}", dir.display())));
        }
        Ok(Baseline { dir: dir.to_path_buf(), summary })
    }

    /// Each endpoint's figures now against the baseline's, with `tolerance_percent`.
    pub fn compare(&self, current: &RunSummary, tolerance_percent: f64) -> Vec<BaselineDelta> {
        let tolerance = tolerance_percent / 100.0;
        let mut deltas = Vec::new();
        for before in &self.summary.endpoints {
            let Some(now) = current.endpoints.iter().find(|endpoint| endpoint.name == before.name) else {
                continue;
            };
            let relative = |metric: &str, baseline: f64, current: f64, higher_is_worse: bool| {
                let change = if baseline > 0.0 { (current - baseline) / baseline } else { 0.0 };
                let regressed = if higher_is_worse { change > tolerance } else { change < -tolerance };
                BaselineDelta {
                    endpoint: now.name.clone(),
                    metric: metric.into(),
                    baseline,
                    current,
                    change,
                    regressed,
                }
            };
            deltas.push(relative("rps", before.rps, now.rps, false));
            deltas.push(relative("p50_ms", before.p50_ms, now.p50_ms, true));
            deltas.push(relative("p95_ms", before.p95_ms, now.p95_ms, true));
            deltas.push(relative("p99_ms", before.p99_ms, now.p99_ms, true));
            let (baseline, current) = (before.error_rate_percent(), now.error_rate_percent());
            deltas.push(BaselineDelta {
                endpoint: now.name.clone(),
                metric: "error_rate_percent".into(),
                baseline,
                current,
                change: current - baseline,
                regressed: current - baseline > tolerance_percent / 10.0,
            });
        }
        deltas
    }
}

impl Baseline {
    /// What the comparison is worth, when it is not like for like: a baseline from another
    /// machine, or from one it does not record.
    pub fn note(&self, here: Option<&Machine>) -> Option<String> {
        let advice = "its verdict is only indicative: it measures the machine as much as the code. Save a baseline on this machine (--save-baseline), or compare two builds with `load compare`";
        match (&self.summary.machine, here) {
            (Some(then), Some(here)) if then.comparable_to(here) => None,
            (Some(then), Some(here)) => {
                Some(format!("this baseline was saved on another machine ({then}; this one: {here}), so {advice}"))
            }
            (None, _) => Some(format!("this baseline does not record the machine it was saved on, so {advice}")),
            (Some(_), None) => None,
        }
    }
}

/// Saves the run in `report_dir` as a baseline in `dir`.
pub fn save(report_dir: &Path, dir: &Path) -> Result<(), LoadError> {
    std::fs::create_dir_all(dir)
        .map_err(|err| LoadError::Usage(format!("cannot create --save-baseline {}: {err}", dir.display())))?;
    for file in [SUMMARY_FILE, GOOSE_REPORT_FILE] {
        std::fs::copy(report_dir.join(file), dir.join(file))
            .map_err(|err| LoadError::Usage(format!("cannot save {file} into {}: {err}", dir.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::EndpointFigures;

    fn summary(rps: f64, p95: f64, failures: u64) -> RunSummary {
        let endpoint = EndpointFigures {
            name: "POST /x".into(),
            requests: 1000,
            failures,
            rps,
            p50_ms: 1.0,
            p95_ms: p95,
            p99_ms: p95 * 2.0,
            ..Default::default()
        };
        RunSummary::of_one_endpoint("x", endpoint)
    }

    fn regressed(baseline: &RunSummary, current: &RunSummary) -> Vec<String> {
        let baseline = Baseline { dir: PathBuf::new(), summary: baseline.clone() };
        baseline.compare(current, 10.0).into_iter().filter(|d| d.regressed).map(|d| d.metric).collect()
    }

    #[test]
    fn changes_within_the_tolerance_pass() {
        assert!(regressed(&summary(1000.0, 5.0, 0), &summary(920.0, 5.4, 5)).is_empty());
    }

    #[test]
    fn lower_throughput_higher_latency_or_more_errors_beyond_it_regress() {
        assert_eq!(regressed(&summary(1000.0, 5.0, 0), &summary(880.0, 5.0, 0)), vec!["rps"]);
        assert_eq!(regressed(&summary(1000.0, 5.0, 0), &summary(1000.0, 5.6, 0)), vec!["p95_ms", "p99_ms"]);
        assert_eq!(regressed(&summary(1000.0, 5.0, 0), &summary(1000.0, 5.0, 20)), vec!["error_rate_percent"]);
    }

    #[test]
    fn the_committed_baselines_still_read() {
        for scenario in ["onboarding", "credential-vending", "webhooks"] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("baselines").join(scenario);
            let baseline = Baseline::read(&dir).unwrap_or_else(|err| panic!("{scenario}: {err}"));
            assert!(!baseline.summary.endpoints.is_empty());
        }
    }

    #[test]
    fn a_baseline_from_another_machine_is_called_indicative() {
        let here = Machine { cores: 2, cpu_model: "AMD EPYC".into(), hostname: "a".into() };
        let mut saved = summary(1000.0, 5.0, 0);
        let baseline = |saved: &RunSummary| Baseline { dir: PathBuf::new(), summary: saved.clone() };
        assert!(baseline(&saved).note(Some(&here)).unwrap().contains("does not record the machine"));
        saved.machine = Some(Machine { hostname: "ci-runner-7".into(), ..here.clone() });
        assert_eq!(baseline(&saved).note(Some(&here)), None, "the same cores and CPU, another host name");
        saved.machine = Some(Machine { cores: 16, ..here.clone() });
        let note = baseline(&saved).note(Some(&here)).unwrap();
        assert!(note.contains("another machine") && note.contains("only indicative") && note.contains("load compare"));
    }

    #[test]
    fn a_baseline_folder_must_hold_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = Baseline::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("--save-baseline"), "{err}");
        std::fs::write(dir.path().join(SUMMARY_FILE), serde_json::to_string(&summary(1.0, 1.0, 0)).unwrap()).unwrap();
        assert!(Baseline::read(dir.path()).unwrap_err().to_string().contains(GOOSE_REPORT_FILE));
        std::fs::write(dir.path().join(GOOSE_REPORT_FILE), "{}").unwrap();
        Baseline::read(dir.path()).unwrap();
    }
}
