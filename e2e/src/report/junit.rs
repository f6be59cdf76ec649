//! A run as a JUnit XML document, the one test-result format every CI system reads (GitHub
//! Actions test reporters, GitLab's `artifacts:reports:junit`, Jenkins' JUnit plugin), written
//! with `quick-junit` (nextest's JUnit model and serializer).
//!
//! The shape is the common denominator those readers agree on:
//!
//! ```xml
//! <testsuites name="billing-e2e" tests="3" skipped="1" failures="1" errors="0" timestamp="…" time="4.200">
//!   <testsuite name="billing-e2e" tests="3" skipped="1" failures="1" errors="0" timestamp="2025-11-25T12:00:00.000+00:00" time="4.200">
//!     <properties>
//!       <property name="target" value="local"/>
//!       <property name="environment" value="ci"/>
//!       <property name="commit" value="0123abc"/>
//!     </properties>
//!     <testcase name="trial_signup_first_fix" classname="journeys" time="1.250">…</testcase>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! A failed journey holds `<failure message="first line" type="JourneyFailed">full chain</failure>`,
//! a skipped one `<skipped message="first line of the reason">the whole reason</skipped>` (a
//! reader folds line breaks in an attribute into spaces, so the full text goes in the element).
//! Each test case carries its one-line description as a `<property>`, the way pytest's
//! `record_property` does, which readers that do not know it ignore. Journeys only pass, fail or
//! skip, so `errors` is always 0. `timestamp` is the run's start in UTC.
//!
//! `quick-junit` escapes every string and drops ANSI colour sequences and the control characters
//! XML 1.0 cannot hold; the two non-characters it lets through (U+FFFE, U+FFFF) are dropped here,
//! since a single one would make the whole report unreadable.

use std::path::Path;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{JourneyResult, Outcome, ReportError, RunReport};

/// The `name` of the suite, and of the document's `<testsuites>`.
pub const SUITE_NAME: &str = "billing-e2e";
/// The `classname` of every test case; reporters group by it.
pub const CLASSNAME: &str = "journeys";

/// Renders the run as a JUnit XML document.
pub fn to_junit_xml(report: &RunReport) -> String {
    let started = chrono::DateTime::from_timestamp(report.started_at, 0).unwrap_or_default().fixed_offset();
    let mut suite = TestSuite::new(SUITE_NAME);
    suite.set_timestamp(started).set_time(report.duration);
    suite.add_property(Property::new("target", xml_safe(&report.target)));
    suite.add_property(Property::new("environment", xml_safe(&report.environment)));
    if let Some(commit) = &report.commit {
        suite.add_property(Property::new("commit", xml_safe(commit)));
    }
    suite.add_test_cases(report.journeys.iter().map(testcase));
    let mut junit = Report::new(SUITE_NAME);
    junit.set_timestamp(started).set_time(report.duration).add_test_suite(suite);
    junit.to_string().expect("serializing to a String cannot fail")
}

/// Writes the run's JUnit XML to `path`, creating its parent directories.
pub fn write_junit(report: &RunReport, path: impl AsRef<Path>) -> Result<(), ReportError> {
    let path = path.as_ref();
    let failed = |source| ReportError::WriteJunit { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::write(path, to_junit_xml(report)).map_err(failed)
}

fn testcase(journey: &JourneyResult) -> TestCase {
    let status = match &journey.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed(error) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(xml_safe(first_line(error))).set_type("JourneyFailed").set_description(xml_safe(error));
            status
        }
        Outcome::Skipped(reason) => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(xml_safe(first_line(reason)));
            if reason.trim() != first_line(reason) {
                status.set_description(xml_safe(reason));
            }
            status
        }
    };
    let mut case = TestCase::new(xml_safe(&journey.name), status);
    case.set_classname(CLASSNAME).set_time(journey.duration);
    if !journey.description.is_empty() {
        case.add_property(Property::new("description", xml_safe(&journey.description)));
    }
    case
}

/// The first non-blank line of an error chain or a reason: what reporters show as the headline.
fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("journey failed")
}

/// The text without the two characters XML 1.0 forbids that `quick-junit` lets through.
fn xml_safe(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '\u{FFFE}' | '\u{FFFF}')).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn journey(name: &str, outcome: Outcome, millis: u64) -> JourneyResult {
        JourneyResult::new(name, outcome, Duration::from_millis(millis))
    }

    fn run(journeys: Vec<JourneyResult>) -> RunReport {
        RunReport {
            target: "local".to_string(),
            environment: "ci".to_string(),
            commit: Some("0123abc".to_string()),
            started_at: 1_764_072_000, // 2025-11-25T12:00:00Z
            duration: Duration::from_millis(4_200),
            journeys,
        }
    }

    fn mixed_run() -> RunReport {
        run(vec![
            journey("trial_signup_first_fix", Outcome::Passed, 1_250),
            journey(
                "pro_renewal",
                Outcome::Failed("expected 60 credits, got 0\n\nCaused by:\n    webhook never arrived".into()),
                2_000,
            ),
            journey("staging_only", Outcome::Skipped("needs control of the Stripe fake".into()), 0),
        ])
    }

    /// Parses with a strict XML 1.0 parser, so anything malformed fails the test here.
    fn parse(xml: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("not well-formed XML ({e}):\n{xml}"))
    }

    fn testcase<'a>(doc: &'a roxmltree::Document<'a>, name: &str) -> roxmltree::Node<'a, 'a> {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no testcase named {name:?}"))
    }

    fn child<'a>(node: roxmltree::Node<'a, 'a>, tag: &str) -> Option<roxmltree::Node<'a, 'a>> {
        node.children().find(|n| n.has_tag_name(tag))
    }

    #[test]
    fn the_suite_counts_tests_failures_and_skips_and_never_errors() {
        let xml = to_junit_xml(&mixed_run());
        let doc = parse(&xml);
        for tag in ["testsuites", "testsuite"] {
            let node = doc.descendants().find(|n| n.has_tag_name(tag)).unwrap();
            assert_eq!(node.attribute("name"), Some("billing-e2e"), "{tag}");
            assert_eq!(node.attribute("tests"), Some("3"), "{tag}");
            assert_eq!(node.attribute("failures"), Some("1"), "{tag}");
            assert_eq!(node.attribute("skipped"), Some("1"), "{tag}");
            assert_eq!(node.attribute("errors"), Some("0"), "{tag}");
            assert_eq!(node.attribute("time"), Some("4.200"), "{tag}");
        }
        let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
        let timestamp = chrono::DateTime::parse_from_rfc3339(suite.attribute("timestamp").unwrap()).unwrap();
        assert_eq!(timestamp.timestamp(), 1_764_072_000, "the run's start");
        assert_eq!(suite.children().filter(|n| n.has_tag_name("testcase")).count(), 3);
    }

    #[test]
    fn the_suite_properties_name_the_target_environment_and_commit() {
        let xml = to_junit_xml(&mixed_run());
        let doc = parse(&xml);
        let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
        let properties: Vec<(&str, &str)> = child(suite, "properties")
            .unwrap()
            .children()
            .filter(|n| n.has_tag_name("property"))
            .map(|n| (n.attribute("name").unwrap(), n.attribute("value").unwrap()))
            .collect();
        assert_eq!(properties, [("target", "local"), ("environment", "ci"), ("commit", "0123abc")]);
    }

    #[test]
    fn a_run_without_a_known_commit_has_no_commit_property() {
        let mut report = mixed_run();
        report.commit = None;
        let xml = to_junit_xml(&report);
        assert!(!xml.contains(r#"name="commit""#), "{xml}");
        parse(&xml);
    }

    #[test]
    fn a_passed_journey_is_a_bare_testcase_with_its_time_and_description() {
        let xml = to_junit_xml(&mixed_run());
        let doc = parse(&xml);
        let case = testcase(&doc, "trial_signup_first_fix");
        assert_eq!(case.attribute("classname"), Some("journeys"));
        assert_eq!(case.attribute("time"), Some("1.250"));
        assert!(child(case, "failure").is_none() && child(case, "skipped").is_none());
        let description = child(child(case, "properties").unwrap(), "property").unwrap();
        assert_eq!(description.attribute("name"), Some("description"));
        assert_eq!(description.attribute("value"), Some("trial signup first fix"));
    }

    #[test]
    fn a_failed_journey_has_its_first_line_as_the_message_and_the_full_chain_as_text() {
        let xml = to_junit_xml(&mixed_run());
        let doc = parse(&xml);
        let failure = child(testcase(&doc, "pro_renewal"), "failure").unwrap();
        assert_eq!(failure.attribute("message"), Some("expected 60 credits, got 0"));
        assert_eq!(failure.text(), Some("expected 60 credits, got 0\n\nCaused by:\n    webhook never arrived"));
    }

    #[test]
    fn a_skipped_journey_says_why_it_did_not_run() {
        let xml = to_junit_xml(&mixed_run());
        let doc = parse(&xml);
        let skipped = child(testcase(&doc, "staging_only"), "skipped").unwrap();
        assert_eq!(skipped.attribute("message"), Some("needs control of the Stripe fake"));
    }

    #[test]
    fn quotes_angle_brackets_and_ampersands_survive_a_round_trip_through_a_parser() {
        let nasty = r#"a "quoted" <tag> & 'apostrophe' ]]> &amp;"#;
        let mut report = run(vec![journey(nasty, Outcome::Failed(nasty.into()), 5)]);
        report.target = nasty.to_string();
        let xml = to_junit_xml(&report);
        let doc = parse(&xml);
        let case = testcase(&doc, nasty);
        let failure = child(case, "failure").unwrap();
        assert_eq!(failure.attribute("message"), Some(nasty));
        assert_eq!(failure.text(), Some(nasty));
        let target = doc.descendants().find(|n| n.attribute("name") == Some("target")).unwrap();
        assert_eq!(target.attribute("value"), Some(nasty));
    }

    #[test]
    fn control_characters_and_colour_codes_are_dropped_so_the_document_stays_well_formed() {
        let raw = "bell\u{7} nul\u{0} escape\u{1b}[31m tab\tline\nreturn\r nonchar\u{FFFF} end";
        // quick-junit strips ANSI sequences and every C0 control but the line feed (tabs and carriage returns too).
        let kept = "bell nul escape tabline\nreturn nonchar end";
        let report = run(vec![journey("controls", Outcome::Failed(raw.into()), 5)]);
        let xml = to_junit_xml(&report);
        assert!(!xml.contains('\u{7}') && !xml.contains('\u{0}') && !xml.contains('\u{1b}'));
        let doc = parse(&xml);
        let failure = child(testcase(&doc, "controls"), "failure").unwrap();
        assert_eq!(failure.text(), Some(kept), "line breaks are kept");
        assert_eq!(failure.attribute("message"), Some("bell nul escape tabline"));
    }

    #[test]
    fn a_multi_line_skip_reason_has_its_first_line_as_message_and_the_whole_reason_as_text() {
        let reason = "needs control of the Stripe fake\nrun it locally";
        let report = run(vec![journey("skips", Outcome::Skipped(reason.into()), 0)]);
        let xml = to_junit_xml(&report);
        let doc = parse(&xml);
        let skipped = child(testcase(&doc, "skips"), "skipped").unwrap();
        assert_eq!(skipped.attribute("message"), Some("needs control of the Stripe fake"));
        assert_eq!(skipped.text(), Some(reason));
    }

    #[test]
    fn non_ascii_text_is_written_as_is() {
        let name = "facture_émise_für_顧客_✓";
        let report = run(vec![journey(name, Outcome::Failed("échec: ключ не найден 🔑".into()), 5)]);
        let xml = to_junit_xml(&report);
        assert!(xml.contains(name), "{xml}");
        let doc = parse(&xml);
        let failure = child(testcase(&doc, name), "failure").unwrap();
        assert_eq!(failure.text(), Some("échec: ключ не найден 🔑"));
    }

    #[test]
    fn an_empty_run_is_still_a_valid_suite_of_zero_tests() {
        let mut report = run(vec![]);
        report.duration = Duration::ZERO;
        let xml = to_junit_xml(&report);
        let doc = parse(&xml);
        let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
        assert_eq!(suite.attribute("tests"), Some("0"));
        assert_eq!(suite.attribute("time"), Some("0.000"));
    }

    #[test]
    fn a_failure_with_a_blank_first_line_is_headlined_by_its_first_real_line() {
        let report = run(vec![journey("blank", Outcome::Failed("\n   \n  the real error\nmore".into()), 5)]);
        let xml = to_junit_xml(&report);
        let doc = parse(&xml);
        let failure = child(testcase(&doc, "blank"), "failure").unwrap();
        assert_eq!(failure.attribute("message"), Some("the real error"));
    }

    #[test]
    fn write_junit_creates_the_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target/reports/e2e-junit.xml");
        write_junit(&mixed_run(), &path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, to_junit_xml(&mixed_run()));
    }

    #[test]
    fn write_junit_to_an_unwritable_place_says_which_path_failed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "not a directory").unwrap();
        let error = write_junit(&mixed_run(), file.join("junit.xml")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("could not write the JUnit report to"), "{message}");
        assert!(message.contains("a-file/junit.xml"), "{message}");
    }
}
