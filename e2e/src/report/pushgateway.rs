//! Pushes a run's results to a Prometheus Pushgateway, so Prometheus can chart pass/fail counts
//! and durations per environment over time.
//!
//! # Where a run lands: the grouping key
//!
//! Every run is pushed with `PUT /metrics/job/billing_e2e/environment/<environment>`. A PUT
//! replaces every metric in that group, so **each environment keeps exactly its latest run**:
//! a journey that was removed from the suite disappears on the next push instead of lingering
//! with its last value, and `ci`, `staging` and `local` runs sit side by side without touching
//! each other. Prometheus, scraping the Pushgateway, turns the successive latest runs into a
//! history.
//!
//! The commit is a label on the `billing_e2e_run_info` series, *not* part of the grouping key:
//! the Pushgateway never forgets a group on its own, so a group per commit would add a group on
//! every push and grow without bound (and old commits' results would keep being scraped as if
//! current). The target URL is a series label for the same reason.
//!
//! Label values in the path that are empty or contain anything but `A-Z a-z 0-9 . _ ~ -` (a `/`
//! above all) use the Pushgateway's `<label>@base64/<URL-safe base64>` form, so an environment
//! such as `staging/eu` or `` cannot break the path.
//!
//! # The metrics
//!
//! All are gauges in the Prometheus text format 0.0.4. The Pushgateway adds the grouping labels
//! `job="billing_e2e"` and `environment` (and `instance=""`) to each of them.
//!
//! | metric | labels | value |
//! | --- | --- | --- |
//! | `billing_e2e_journeys` | `result` = `passed`, `failed`, `skipped` | how many journeys ended so (all three are always present) |
//! | `billing_e2e_journey_passed` | `journey` | 1 if the journey passed, 0 if it failed; absent for skipped journeys |
//! | `billing_e2e_journey_skipped` | `journey` | 1 for each journey that was skipped; absent for the others |
//! | `billing_e2e_journey_duration_seconds` | `journey` | how long the journey ran; absent for skipped journeys |
//! | `billing_e2e_run_duration_seconds` | | how long the whole run took |
//! | `billing_e2e_run_timestamp_seconds` | | when the run started, Unix seconds |
//! | `billing_e2e_run_info` | `target`, `commit` | always 1; `commit` is `unknown` when the run does not know it |
//!
//! (The Pushgateway itself adds `push_time_seconds` and `push_failure_time_seconds` per group.)
//!
//! # Credentials
//!
//! [`Pushgateway::from_env`] reads `PUSHGATEWAY_USER` and `PUSHGATEWAY_PASSWORD` for HTTP basic
//! auth: both or neither (an empty variable counts as unset, as a missing CI secret is empty).

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine as _;

use super::{Outcome, ReportError, RunReport};

/// The Pushgateway job every run is pushed under.
pub const JOB: &str = "billing_e2e";
/// How long one push may take, connection included, before it is given up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Content-Type` of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A Pushgateway to push runs to, with optional basic-auth credentials.
#[derive(Clone)]
pub struct Pushgateway {
    url: String,
    job: String,
    auth: Option<(String, String)>,
    timeout: Duration,
    http: reqwest::Client,
}

impl Pushgateway {
    /// A Pushgateway at `url` (e.g. `http://localhost:9091`, or one behind a path prefix such as
    /// `https://metrics.example.com/pushgateway`), pushed to without credentials.
    pub fn new(url: &str) -> Result<Self, ReportError> {
        let invalid = |reason: &str| ReportError::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
        let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("it must not have a query or a fragment"));
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            job: JOB.to_string(),
            auth: None,
            timeout: DEFAULT_TIMEOUT,
            http: client(DEFAULT_TIMEOUT)?,
        })
    }

    /// A Pushgateway at `url`, with basic-auth credentials from `PUSHGATEWAY_USER` and
    /// `PUSHGATEWAY_PASSWORD` when they are set (both or neither).
    pub fn from_env(url: &str) -> Result<Self, ReportError> {
        let var = |name| std::env::var(name).ok();
        Self::from_credentials(url, var("PUSHGATEWAY_USER"), var("PUSHGATEWAY_PASSWORD"))
    }

    /// What [`from_env`](Self::from_env) does, given the two variables' values: both set means
    /// basic auth, neither means none, one alone is an error. Empty counts as unset.
    pub fn from_credentials(url: &str, user: Option<String>, password: Option<String>) -> Result<Self, ReportError> {
        let gateway = Self::new(url)?;
        let user = user.filter(|v| !v.is_empty());
        let password = password.filter(|v| !v.is_empty());
        match (user, password) {
            (Some(user), Some(password)) => Ok(gateway.with_basic_auth(user, password)),
            (None, None) => Ok(gateway),
            (Some(_), None) => {
                Err(ReportError::PartialCredentials { set: "PUSHGATEWAY_USER", missing: "PUSHGATEWAY_PASSWORD" })
            }
            (None, Some(_)) => {
                Err(ReportError::PartialCredentials { set: "PUSHGATEWAY_PASSWORD", missing: "PUSHGATEWAY_USER" })
            }
        }
    }

    /// Pushes with HTTP basic auth.
    pub fn with_basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some((user.into(), password.into()));
        self
    }

    /// Pushes under another job than [`JOB`] (e.g. to keep a trial set-up's results apart).
    pub fn with_job(mut self, job: impl Into<String>) -> Self {
        self.job = job.into();
        self
    }

    /// Gives up on a push after `timeout` instead of [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ReportError> {
        self.http = client(timeout)?;
        self.timeout = timeout;
        Ok(self)
    }

    /// The base URL pushes go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where a run for `environment` is pushed: the job and environment grouping key.
    pub fn group_url(&self, environment: &str) -> String {
        format!("{}/metrics/{}/{}", self.url, path_label("job", &self.job), path_label("environment", environment))
    }

    /// Replaces the environment's group on the Pushgateway with this run's metrics.
    pub async fn push_run(&self, report: &RunReport) -> Result<(), ReportError> {
        let url = self.group_url(&report.environment);
        let mut request =
            self.http.put(&url).header(reqwest::header::CONTENT_TYPE, TEXT_FORMAT).body(to_prometheus_text(report));
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| self.send_failed(&url, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ReportError::Unauthorized { url });
        }
        let body = response.text().await.unwrap_or_default();
        let first_line = body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(empty body)");
        Err(ReportError::Rejected { url, status: status.as_u16(), first_line: first_line.to_string() })
    }

    fn send_failed(&self, url: &str, error: reqwest::Error) -> ReportError {
        if error.is_timeout() {
            return ReportError::Timeout { url: url.to_string(), timeout: self.timeout };
        }
        // reqwest's own message is just "error sending request"; the cause (e.g. "Connection
        // refused") is at the end of the source chain.
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            detail = cause.to_string();
            source = cause.source();
        }
        ReportError::Unreachable { url: url.to_string(), detail }
    }
}

/// Shows the user but never the password, since runners log their configuration.
impl std::fmt::Debug for Pushgateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushgateway")
            .field("url", &self.url)
            .field("job", &self.job)
            .field("user", &self.auth.as_ref().map(|(user, _)| user))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn client(timeout: Duration) -> Result<reqwest::Client, ReportError> {
    reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build().map_err(ReportError::HttpClient)
}

/// One `label/value` pair of a Pushgateway path, base64-encoded when the value would not
/// survive as a plain path segment.
fn path_label(name: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
        && value != "."
        && value != "..";
    if plain {
        format!("{name}/{value}")
    } else if value.is_empty() {
        // The Pushgateway's documented spelling of an empty value: one padding character.
        format!("{name}@base64/=")
    } else {
        format!("{name}@base64/{}", base64::engine::general_purpose::URL_SAFE.encode(value))
    }
}

/// The run's metrics in the Prometheus text format 0.0.4 (see the module documentation).
pub fn to_prometheus_text(report: &RunReport) -> String {
    let mut text = String::new();
    let ran = || report.journeys.iter().filter(|j| !matches!(j.outcome, Outcome::Skipped(_)));

    family(&mut text, "billing_e2e_journeys", "Journeys in the latest run, by result.");
    for (result, count) in [("passed", report.passed()), ("failed", report.failed()), ("skipped", report.skipped())] {
        sample(&mut text, "billing_e2e_journeys", &[("result", result)], count);
    }

    family(&mut text, "billing_e2e_journey_passed", "1 if the journey passed in the latest run, 0 if it failed.");
    for journey in ran() {
        let passed = u8::from(journey.outcome == Outcome::Passed);
        sample(&mut text, "billing_e2e_journey_passed", &[("journey", &journey.name)], passed);
    }

    family(&mut text, "billing_e2e_journey_skipped", "1 for each journey the latest run skipped.");
    for journey in report.journeys.iter().filter(|j| matches!(j.outcome, Outcome::Skipped(_))) {
        sample(&mut text, "billing_e2e_journey_skipped", &[("journey", &journey.name)], 1);
    }

    family(&mut text, "billing_e2e_journey_duration_seconds", "How long the journey ran in the latest run.");
    for journey in ran() {
        let seconds = journey.duration.as_secs_f64();
        sample(&mut text, "billing_e2e_journey_duration_seconds", &[("journey", &journey.name)], seconds);
    }

    family(&mut text, "billing_e2e_run_duration_seconds", "How long the latest run took.");
    sample(&mut text, "billing_e2e_run_duration_seconds", &[], report.duration.as_secs_f64());

    family(&mut text, "billing_e2e_run_timestamp_seconds", "When the latest run started, in Unix seconds.");
    sample(&mut text, "billing_e2e_run_timestamp_seconds", &[], report.started_at);

    family(&mut text, "billing_e2e_run_info", "The latest run's target and commit; always 1.");
    let commit = report.commit.as_deref().unwrap_or("unknown");
    sample(&mut text, "billing_e2e_run_info", &[("target", &report.target), ("commit", commit)], 1);

    text
}

fn family(text: &mut String, name: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
}

fn sample(text: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    text.push_str(name);
    if !labels.is_empty() {
        text.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let _ = write!(text, "{label}=\"{}\"", escape_label_value(value));
        }
        text.push('}');
    }
    let _ = writeln!(text, " {value}");
}

/// Escapes a label value as the text format requires: backslash, double quote and newline.
fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::JourneyResult;

    fn journey(name: &str, outcome: Outcome, millis: u64) -> JourneyResult {
        JourneyResult::new(name, outcome, Duration::from_millis(millis))
    }

    fn report() -> RunReport {
        RunReport {
            target: "local".into(),
            environment: "ci".into(),
            commit: Some("0123abc".into()),
            started_at: 1_764_072_000,
            duration: Duration::from_millis(4_500),
            journeys: vec![
                journey("signup", Outcome::Passed, 1_250),
                journey("renewal", Outcome::Failed("no credits".into()), 2_000),
                journey("staging_only", Outcome::Skipped("needs the fake".into()), 0),
            ],
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn the_text_has_counts_per_result_and_per_journey_series() {
        let text = to_prometheus_text(&report());
        assert_eq!(
            lines(&text),
            [
                r#"billing_e2e_journeys{result="passed"} 1"#,
                r#"billing_e2e_journeys{result="failed"} 1"#,
                r#"billing_e2e_journeys{result="skipped"} 1"#,
                r#"billing_e2e_journey_passed{journey="signup"} 1"#,
                r#"billing_e2e_journey_passed{journey="renewal"} 0"#,
                r#"billing_e2e_journey_skipped{journey="staging_only"} 1"#,
                r#"billing_e2e_journey_duration_seconds{journey="signup"} 1.25"#,
                r#"billing_e2e_journey_duration_seconds{journey="renewal"} 2"#,
                "billing_e2e_run_duration_seconds 4.5",
                "billing_e2e_run_timestamp_seconds 1764072000",
                r#"billing_e2e_run_info{target="local",commit="0123abc"} 1"#,
            ]
        );
    }

    #[test]
    fn every_family_has_help_and_a_gauge_type() {
        let text = to_prometheus_text(&report());
        let families = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(families, 7);
        assert_eq!(text.lines().filter(|l| l.starts_with("# HELP ")).count(), 7);
        assert!(text.lines().filter(|l| l.starts_with("# TYPE ")).all(|l| l.ends_with(" gauge")));
    }

    #[test]
    fn label_values_escape_backslashes_quotes_and_newlines() {
        let mut run = report();
        run.target = "C:\\path \"quoted\"\nnext".into();
        run.commit = None;
        let text = to_prometheus_text(&run);
        assert!(
            text.contains(r#"billing_e2e_run_info{target="C:\\path \"quoted\"\nnext",commit="unknown"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn plain_environments_are_plain_path_segments() {
        let gateway = Pushgateway::new("http://127.0.0.1:9091/").unwrap();
        assert_eq!(gateway.group_url("ci"), "http://127.0.0.1:9091/metrics/job/billing_e2e/environment/ci");
    }

    #[test]
    fn environments_with_a_slash_or_nothing_at_all_are_base64_encoded() {
        let gateway = Pushgateway::new("https://metrics.example.com/pushgateway").unwrap();
        assert_eq!(
            gateway.group_url("staging/eu"),
            "https://metrics.example.com/pushgateway/metrics/job/billing_e2e/environment@base64/c3RhZ2luZy9ldQ=="
        );
        assert_eq!(
            gateway.group_url(""),
            "https://metrics.example.com/pushgateway/metrics/job/billing_e2e/environment@base64/="
        );
    }

    #[test]
    fn one_credential_without_the_other_is_refused_with_a_clear_error() {
        let only_user = Pushgateway::from_credentials("http://localhost:9091", Some("ci".into()), None);
        let message = only_user.unwrap_err().to_string();
        assert!(message.starts_with("PUSHGATEWAY_USER is set but PUSHGATEWAY_PASSWORD is not"), "{message}");

        let only_password = Pushgateway::from_credentials("http://localhost:9091", None, Some("pw".into()));
        let message = only_password.unwrap_err().to_string();
        assert!(message.starts_with("PUSHGATEWAY_PASSWORD is set but PUSHGATEWAY_USER is not"), "{message}");
    }

    #[test]
    fn empty_credentials_count_as_unset_like_a_missing_ci_secret() {
        let gateway = Pushgateway::from_credentials("http://localhost:9091", Some(String::new()), Some(String::new()));
        assert!(gateway.unwrap().auth.is_none());
    }

    #[test]
    fn debug_output_names_the_user_but_never_the_password() {
        let gateway = Pushgateway::new("http://localhost:9091").unwrap().with_basic_auth("ci-pusher", "hunter2");
        let shown = format!("{gateway:?}");
        assert!(shown.contains("ci-pusher"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn a_url_that_is_not_http_is_refused() {
        let message = Pushgateway::new("localhost:9091").unwrap_err().to_string();
        assert!(message.contains("is not a Pushgateway URL"), "{message}");
        let message = Pushgateway::new("not a url").unwrap_err().to_string();
        assert!(message.contains("http://localhost:9091"), "{message}");
    }
}
