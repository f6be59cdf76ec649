//! A run as a JUnit XML document, the one test-result format every CI system reads (GitHub
//! Actions test reporters, GitLab's `artifacts:reports:junit`, Jenkins' JUnit plugin).
//!
//! The shape is the common denominator those readers agree on:
//!
//! ```xml
//! <testsuites name="billing-e2e" tests="3" failures="1" skipped="1" errors="0" time="4.200">
//!   <testsuite name="billing-e2e" tests="3" failures="1" skipped="1" errors="0" time="4.200" timestamp="2026-11-25T12:00:00">
//!     <properties>
//!       <property name="target" value="local"/>
//!       <property name="environment" value="ci"/>
//!       <property name="commit" value="0123abc"/>
//!     </properties>
//!     <testcase classname="journeys" name="trial_signup_first_fix" time="1.250">…</testcase>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! A failed journey holds `<failure message="first line">full text</failure>`, a skipped one
//! `<skipped message="reason"/>`. Each test case carries its one-line description as a
//! `<property>`, the way pytest's `record_property` does, which readers that do not know it
//! ignore. Journeys only pass, fail or skip, so `errors` is always 0. `timestamp` is the run's
//! start in UTC, without a zone suffix, as the JUnit schema's `xs:dateTime` pattern wants.
//!
//! Every string from the run (journey names, error chains, URLs) is escaped, and characters
//! XML 1.0 cannot hold at all (C0 controls other than tab, newline and carriage return; U+FFFE,
//! U+FFFF) are dropped, since a single one would make the whole report unreadable.

use std::fmt::Write as _;
use std::path::Path;

use super::{JourneyResult, Outcome, ReportError, RunReport};

/// The `name` of the suite, and of the document's `<testsuites>`.
pub const SUITE_NAME: &str = "billing-e2e";
/// The `classname` of every test case; reporters group by it.
pub const CLASSNAME: &str = "journeys";

/// Renders the run as a JUnit XML document.
pub fn to_junit_xml(report: &RunReport) -> String {
    let counts = format!(
        r#"tests="{}" failures="{}" skipped="{}" errors="0" time="{}""#,
        report.journeys.len(),
        report.failed(),
        report.skipped(),
        seconds(report.duration),
    );
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(xml, r#"<testsuites name="{}" {counts}>"#, attr(SUITE_NAME));
    let _ = writeln!(
        xml,
        r#"  <testsuite name="{}" {counts} timestamp="{}">"#,
        attr(SUITE_NAME),
        timestamp(report.started_at)
    );
    xml.push_str("    <properties>\n");
    property(&mut xml, "      ", "target", &report.target);
    property(&mut xml, "      ", "environment", &report.environment);
    if let Some(commit) = &report.commit {
        property(&mut xml, "      ", "commit", commit);
    }
    xml.push_str("    </properties>\n");
    for journey in &report.journeys {
        testcase(&mut xml, journey);
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
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

fn testcase(xml: &mut String, journey: &JourneyResult) {
    let _ = writeln!(
        xml,
        r#"    <testcase classname="{}" name="{}" time="{}">"#,
        attr(CLASSNAME),
        attr(&journey.name),
        seconds(journey.duration)
    );
    if !journey.description.is_empty() {
        xml.push_str("      <properties>\n");
        property(xml, "        ", "description", &journey.description);
        xml.push_str("      </properties>\n");
    }
    match &journey.outcome {
        Outcome::Passed => {}
        Outcome::Failed(error) => {
            let _ = writeln!(
                xml,
                r#"      <failure message="{}" type="JourneyFailed">{}</failure>"#,
                attr(first_line(error)),
                text(error)
            );
        }
        Outcome::Skipped(reason) => {
            let _ = writeln!(xml, r#"      <skipped message="{}"/>"#, attr(reason));
        }
    }
    xml.push_str("    </testcase>\n");
}

fn property(xml: &mut String, indent: &str, name: &str, value: &str) {
    let _ = writeln!(xml, r#"{indent}<property name="{}" value="{}"/>"#, attr(name), attr(value));
}

/// The first non-blank line of an error chain: what reporters show as the failure's headline.
fn first_line(error: &str) -> &str {
    error.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("journey failed")
}

fn seconds(duration: std::time::Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

fn timestamp(unix_seconds: i64) -> String {
    chrono::DateTime::from_timestamp(unix_seconds, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Whether XML 1.0 can hold the character at all (`Char` in the spec, minus what a Rust `str`
/// cannot contain anyway).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Escapes element content. Carriage returns are written as a reference because parsers
/// otherwise normalise them to newlines.
fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars().filter(|&c| is_xml_char(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value. Tabs and line breaks are written as references because
/// attribute-value normalisation would otherwise turn them into spaces.
fn attr(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars().filter(|&c| is_xml_char(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
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
        assert_eq!(suite.attribute("timestamp"), Some("2025-11-25T12:00:00"));
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
    fn control_characters_are_dropped_so_the_document_stays_well_formed() {
        let raw = "bell\u{7} nul\u{0} escape\u{1b}[31m tab\tline\nreturn\r nonchar\u{FFFF} end";
        let kept = "bell nul escape[31m tab\tline\nreturn\r nonchar end";
        let report = run(vec![journey("controls", Outcome::Failed(raw.into()), 5)]);
        let xml = to_junit_xml(&report);
        assert!(!xml.contains('\u{7}') && !xml.contains('\u{0}') && !xml.contains('\u{1b}'));
        let doc = parse(&xml);
        let failure = child(testcase(&doc, "controls"), "failure").unwrap();
        assert_eq!(failure.text(), Some(kept), "tab, newline and carriage return are kept");
        assert_eq!(failure.attribute("message"), Some("bell nul escape[31m tab\tline"));
    }

    #[test]
    fn line_breaks_in_attributes_are_kept_rather_than_normalised_to_spaces() {
        let reason = "two\nlines\tand a tab";
        let report = run(vec![journey("skips", Outcome::Skipped(reason.into()), 0)]);
        let xml = to_junit_xml(&report);
        let doc = parse(&xml);
        let skipped = child(testcase(&doc, "skips"), "skipped").unwrap();
        assert_eq!(skipped.attribute("message"), Some(reason));
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
