//! JUnit XML for `load run`, `load merge` and `load compare` (`--junit FILE`), written with
//! `quick-junit` as the journey runner's is, so CI shows a load run like a test run: one test
//! case per threshold, per after-run check, and per compared figure, the observed value in the
//! failure message.
//!
//! A compared figure that regressed is a failure; one that is inconclusive is *skipped* (the
//! comparison could not tell, which is not a pass; the exit code 3 says so too); improved and
//! no change pass.

use std::path::Path;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::compare::model::{CompareReport, SideName};
use crate::compare::stats::Verdict;
use crate::error::LoadError;
use crate::summary::{CheckResult, RunSummary};

/// The name of the document and of its suites' prefix.
pub const NAME: &str = "billing-load";

fn failure(message: &str, kind: &str, description: Option<String>) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status.set_message(message.to_string()).set_type(kind.to_string());
    if let Some(description) = description {
        status.set_description(description);
    }
    status
}

fn check_case(check: &CheckResult, classname: &str) -> TestCase {
    let status = if check.passed {
        TestCaseStatus::success()
    } else {
        let problems = if check.problems.is_empty() { check.detail.clone() } else { check.problems.join("\n") };
        failure(&format!("{}: {}", check.name, check.detail), "CheckFailed", Some(problems))
    };
    let mut case = TestCase::new(format!("after-run check: {}", check.name), status);
    case.set_classname(classname.to_string());
    case.add_property(Property::new("detail", check.detail.clone()));
    case
}

fn timestamp(text: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_default()
}

/// A run's (or a merged run's) thresholds and after-run checks.
pub fn run_xml(summary: &RunSummary) -> String {
    let classname = format!("load.{}", summary.scenario);
    let mut suite = TestSuite::new(format!("{NAME} run {}", summary.scenario));
    suite
        .set_timestamp(timestamp(&summary.started_at))
        .set_time(std::time::Duration::from_secs_f64(summary.duration_seconds.max(0.0)));
    suite.add_property(Property::new("target", summary.target.clone()));
    suite.add_property(Property::new("environment", summary.environment.clone()));
    suite.add_property(Property::new("run_id", summary.run_id.clone()));
    for verdict in &summary.thresholds {
        let status = if verdict.passed {
            TestCaseStatus::success()
        } else {
            failure(&format!("{}: observed {}", verdict.rule, verdict.observed), "ThresholdFailed", None)
        };
        let mut case = TestCase::new(format!("threshold: {}", verdict.rule), status);
        case.set_classname(classname.clone());
        case.add_property(Property::new("observed", verdict.observed.clone()));
        suite.add_test_case(case);
    }
    for delta in &summary.baseline {
        let status = if delta.regressed {
            failure(
                &format!(
                    "{} {}: {:.2} now, {:.2} in the baseline ({})",
                    delta.endpoint,
                    delta.metric,
                    delta.current,
                    delta.baseline,
                    crate::summary::describe_change(delta)
                ),
                "BaselineRegressed",
                summary.baseline_note.clone(),
            )
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(format!("baseline: {} {}", delta.endpoint, delta.metric), status);
        case.set_classname(classname.clone());
        suite.add_test_case(case);
    }
    for check in &summary.checks {
        suite.add_test_case(check_case(check, &classname));
    }
    let mut report = Report::new(NAME);
    report.add_test_suite(suite);
    report.to_string().expect("serializing to a String cannot fail")
}

/// A comparison's figures and both sides' after-run checks.
pub fn compare_xml(report: &CompareReport) -> String {
    let classname = format!("load.compare.{}", report.scenario);
    let mut suite = TestSuite::new(format!("{NAME} compare {}", report.scenario));
    suite
        .set_timestamp(timestamp(&report.started_at))
        .set_time(std::time::Duration::from_secs_f64(report.duration_seconds.max(0.0)));
    suite.add_property(Property::new("base", report.base.what.clone()));
    suite.add_property(Property::new("candidate", report.candidate.what.clone()));
    suite.add_property(Property::new("pairs", report.pairs.to_string()));
    suite.add_property(Property::new("min_effect", format!("{}%", report.min_effect * 100.0)));
    for (endpoint, comparison) in report.comparisons() {
        let observed = crate::compare::report::describe(comparison, report.confidence);
        let status = match comparison.verdict {
            Verdict::Regressed => failure(&format!("regressed: {observed}"), "Regressed", None),
            Verdict::Inconclusive => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(format!("inconclusive: {observed}"));
                status
            }
            Verdict::Improved | Verdict::NoChange => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(format!("{endpoint} {}", comparison.figure.label()), status);
        case.set_classname(classname.clone());
        case.add_property(Property::new("observed", observed));
        case.add_property(Property::new("verdict", comparison.verdict.label()));
        suite.add_test_case(case);
    }
    for (side, checks) in &report.checks {
        let classname = format!("{classname}.{}", side_name(*side));
        for check in checks {
            suite.add_test_case(check_case(check, &classname));
        }
    }
    let mut junit = Report::new(NAME);
    junit.add_test_suite(suite);
    junit.to_string().expect("serializing to a String cannot fail")
}

fn side_name(side: SideName) -> &'static str {
    side.label()
}

fn write(path: &Path, xml: String) -> Result<(), LoadError> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| {
            LoadError::Usage(format!("cannot create the folder of --junit {}: {err}", path.display()))
        })?;
    }
    std::fs::write(path, xml).map_err(|err| LoadError::Usage(format!("cannot write --junit {}: {err}", path.display())))
}

pub fn write_run(path: &Path, summary: &RunSummary) -> Result<(), LoadError> {
    write(path, run_xml(summary))
}

pub fn write_compare(path: &Path, report: &CompareReport) -> Result<(), LoadError> {
    write(path, compare_xml(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{EndpointFigures, ThresholdVerdict};

    #[test]
    fn every_threshold_and_check_is_a_test_case_with_what_was_observed() {
        let mut summary = RunSummary::of_one_endpoint("webhooks", EndpointFigures::default());
        summary.thresholds = vec![
            ThresholdVerdict { rule: "p95<80ms".into(), observed: "41.00ms".into(), passed: true },
            ThresholdVerdict { rule: "error-rate<1%".into(), observed: "2.50%".into(), passed: false },
        ];
        summary.checks = vec![CheckResult {
            name: "webhook outcome".into(),
            passed: false,
            detail: "credits granted 120 (expected 60)".into(),
            problems: vec!["invoice in_1 granted credits 2 times".into()],
        }];
        let xml = run_xml(&summary);
        let document = roxmltree::Document::parse(&xml).unwrap();
        let cases: Vec<_> = document.descendants().filter(|node| node.has_tag_name("testcase")).collect();
        assert_eq!(cases.len(), 3);
        let failures: Vec<&str> = document
            .descendants()
            .filter(|node| node.has_tag_name("failure"))
            .filter_map(|node| node.attribute("message"))
            .collect();
        assert_eq!(failures, ["error-rate<1%: observed 2.50%", "webhook outcome: credits granted 120 (expected 60)"]);
        assert!(xml.contains("granted credits 2 times"));
    }
}
