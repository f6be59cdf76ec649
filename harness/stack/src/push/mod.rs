//! Pushing metrics to a Prometheus Pushgateway: the one push path of the workspace, used by the journey runner
//! (`e2e run --pushgateway`) and the load tool.
//!
//! A caller fills a `prometheus-client` [`Registry`] and pushes it under a job and a grouping key:
//!
//! ```no_run
//! # async fn example() -> Result<(), billing_stack::push::PushError> {
//! use billing_stack::push::Pushgateway;
//! use prometheus_client::{metrics::gauge::Gauge, registry::Registry};
//!
//! let mut registry = Registry::default();
//! let duration = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
//! registry.register("billing_load_run_duration_seconds", "How long the run took", duration.clone());
//! duration.set(42.5);
//! let gateway = Pushgateway::from_env("http://localhost:9091")?.with_retries(3, std::time::Duration::from_secs(1));
//! gateway.push("billing_load", &[("scenario", "onboarding"), ("environment", "ci"), ("worker", "0")], &registry).await?;
//! # Ok(()) }
//! ```
//!
//! - [`Pushgateway::push`] is a `PUT`: it **replaces the whole group** (job + grouping key), so a series that is no
//!   longer pushed disappears instead of lingering with its last value. Keep the grouping key to what identifies a
//!   run's *slot* (environment, scenario, worker), never a commit or a timestamp: the Pushgateway forgets nothing on
//!   its own, so a key that changes on every push grows it without bound. [`Pushgateway::delete`] removes a group.
//! - The body is the Prometheus text format 0.0.4, encoded by `prometheus-client` ([`exposition`] says what is
//!   translated and why). Counters arrive as `<name>_total`, histograms as `_bucket`/`_sum`/`_count`, so Prometheus
//!   can sum workers and run `histogram_quantile` over the buckets.
//! - Grouping values that are empty or not plain path characters (`A-Z a-z 0-9 . _ ~ -`; a `/` above all) go in the
//!   URL as the Pushgateway's `<label>@base64/<URL-safe base64>`, so `staging/eu` or an empty value cannot break
//!   the path ([`Pushgateway::group_url`]).
//! - Basic auth from `PUSHGATEWAY_USER` and `PUSHGATEWAY_PASSWORD` ([`Pushgateway::from_env`]); the password never
//!   shows in `Debug`.
//! - Each attempt is bounded by a timeout ([`DEFAULT_TIMEOUT`]); with [`Pushgateway::with_retries`], transport errors
//!   and 5xx answers are retried with a doubling back-off, and 4xx answers never are (the request itself is wrong).

pub mod error;
pub mod exposition;

use std::time::Duration;

use base64::Engine as _;
use prometheus_client::registry::Registry;
use reqwest::{Method, StatusCode};

pub use error::PushError;
pub use exposition::{LabelValue, encode};

/// How long one attempt may take, connection included, before it is given up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Content-Type` of the Prometheus text format 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A group the Pushgateway holds: its grouping labels (`job` among them) and the values of its single-valued
/// metrics, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub labels: std::collections::BTreeMap<String, String>,
    pub values: std::collections::BTreeMap<String, f64>,
}

impl Group {
    /// The grouping key without the job, as [`Pushgateway::delete`] takes it.
    pub fn grouping(&self) -> Vec<(&str, &str)> {
        self.labels.iter().filter(|(name, _)| name.as_str() != "job").map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }
}

/// A Pushgateway to push to, with optional basic-auth credentials, a timeout per attempt and a retry policy.
#[derive(Clone)]
pub struct Pushgateway {
    url: String,
    auth: Option<(String, String)>,
    timeout: Duration,
    attempts: u32,
    first_backoff: Duration,
    http: reqwest::Client,
}

impl Pushgateway {
    /// A Pushgateway at `url` (`http` or `https`, e.g. `http://localhost:9091`, or behind a path prefix such as
    /// `https://metrics.example.com/pushgateway`), pushed to without credentials, once per push.
    pub fn new(url: &str) -> Result<Self, PushError> {
        let invalid = |reason: &str| PushError::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
        let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("it must not have a query or a fragment"));
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            auth: None,
            timeout: DEFAULT_TIMEOUT,
            attempts: 1,
            first_backoff: Duration::ZERO,
            http: client(DEFAULT_TIMEOUT)?,
        })
    }

    /// A Pushgateway at `url`, with basic-auth credentials from `PUSHGATEWAY_USER` and `PUSHGATEWAY_PASSWORD` when
    /// they are set: both or neither (an empty variable counts as unset, as a missing CI secret is empty).
    pub fn from_env(url: &str) -> Result<Self, PushError> {
        let var = |name| std::env::var(name).ok();
        Self::from_credentials(url, var("PUSHGATEWAY_USER"), var("PUSHGATEWAY_PASSWORD"))
    }

    /// What [`from_env`](Self::from_env) does, given the two variables' values.
    pub fn from_credentials(url: &str, user: Option<String>, password: Option<String>) -> Result<Self, PushError> {
        let gateway = Self::new(url)?;
        let user = user.filter(|v| !v.is_empty());
        let password = password.filter(|v| !v.is_empty());
        match (user, password) {
            (Some(user), Some(password)) => Ok(gateway.with_basic_auth(user, password)),
            (None, None) => Ok(gateway),
            (Some(_), None) => {
                Err(PushError::PartialCredentials { set: "PUSHGATEWAY_USER", missing: "PUSHGATEWAY_PASSWORD" })
            }
            (None, Some(_)) => {
                Err(PushError::PartialCredentials { set: "PUSHGATEWAY_PASSWORD", missing: "PUSHGATEWAY_USER" })
            }
        }
    }

    /// Pushes with HTTP basic auth.
    pub fn with_basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some((user.into(), password.into()));
        self
    }

    /// Gives up on an attempt after `timeout` instead of [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, PushError> {
        self.http = client(timeout)?;
        self.timeout = timeout;
        Ok(self)
    }

    /// Makes up to `attempts` attempts in all (1 = no retry) when the gateway is unreachable, times out or answers
    /// 5xx, waiting `first_backoff` before the second and twice as long before each next one. A 4xx is never retried.
    pub fn with_retries(mut self, attempts: u32, first_backoff: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.first_backoff = first_backoff;
        self
    }

    /// The base URL pushes go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the group of `job` and `grouping` lives: `<base>/metrics/job/<job>/<label>/<value>…`, with the
    /// `@base64` form for a job or value that is empty or not path-safe.
    pub fn group_url(&self, job: &str, grouping: &[(&str, &str)]) -> String {
        let mut url = format!("{}/metrics/{}", self.url, path_label("job", job));
        for (label, value) in grouping {
            url.push('/');
            url.push_str(&path_label(label, value));
        }
        url
    }

    /// Replaces the group of `job` and `grouping` with the metrics of `registry` (an HTTP `PUT`).
    pub async fn push(&self, job: &str, grouping: &[(&str, &str)], registry: &Registry) -> Result<(), PushError> {
        let body = encode(registry).map_err(PushError::Encode)?;
        self.send_with_retries(Method::PUT, &self.group_url(job, grouping), Some(body)).await
    }

    /// Removes the group of `job` and `grouping` (an HTTP `DELETE`; removing a group that is not there succeeds).
    pub async fn delete(&self, job: &str, grouping: &[(&str, &str)]) -> Result<(), PushError> {
        self.send_with_retries(Method::DELETE, &self.group_url(job, grouping), None).await
    }

    /// Every group the Pushgateway holds for `job`, with its grouping labels and the value of each gauge or
    /// counter without labels of its own (`GET /api/v1/metrics`, the Pushgateway's JSON API). For finding the
    /// groups an earlier run left, to remove them.
    pub async fn groups(&self, job: &str) -> Result<Vec<Group>, PushError> {
        let url = format!("{}/api/v1/metrics", self.url);
        let mut request = self.http.get(&url);
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| self.send_failed(&url, e))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(PushError::Unauthorized { url });
        }
        let rejected = |first_line: String| PushError::Rejected {
            url: url.clone(),
            status: status.as_u16(),
            first_line,
            attempts: 1,
        };
        if !status.is_success() {
            return Err(rejected(response.text().await.unwrap_or_default().lines().next().unwrap_or("").to_string()));
        }
        let body: serde_json::Value =
            response.json().await.map_err(|err| rejected(format!("not the Pushgateway's JSON API: {err}")))?;
        let mut groups = Vec::new();
        for entry in body["data"].as_array().into_iter().flatten() {
            let labels: std::collections::BTreeMap<String, String> = entry["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string())))
                .collect();
            if labels.get("job").map(String::as_str) != Some(job) {
                continue;
            }
            let mut values = std::collections::BTreeMap::new();
            for (name, family) in entry.as_object().into_iter().flatten() {
                let Some(metrics) = family["metrics"].as_array() else { continue };
                // A metric with labels beyond the group's has several values: only single ones are kept.
                if let [only] = metrics.as_slice()
                    && let Some(value) = only["value"].as_str().and_then(|value| value.parse::<f64>().ok())
                {
                    values.insert(name.clone(), value);
                }
            }
            groups.push(Group { labels, values });
        }
        Ok(groups)
    }

    async fn send_with_retries(&self, method: Method, url: &str, body: Option<String>) -> Result<(), PushError> {
        let mut backoff = self.first_backoff;
        let mut attempt = 1;
        loop {
            match self.send_once(method.clone(), url, body.clone()).await {
                Ok(()) => return Ok(()),
                Err(error) if error.is_transient() && attempt < self.attempts => {
                    tracing::debug!(%error, attempt, "push failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
                Err(error) => return Err(error.with_attempts(attempt)),
            }
        }
    }

    async fn send_once(&self, method: Method, url: &str, body: Option<String>) -> Result<(), PushError> {
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, TEXT_FORMAT).body(body);
        }
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| self.send_failed(url, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(PushError::Unauthorized { url: url.to_string() });
        }
        let body = response.text().await.unwrap_or_default();
        let first_line = body.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(empty body)");
        Err(PushError::Rejected {
            url: url.to_string(),
            status: status.as_u16(),
            first_line: first_line.into(),
            attempts: 1,
        })
    }

    fn send_failed(&self, url: &str, error: reqwest::Error) -> PushError {
        if error.is_timeout() {
            return PushError::Timeout { url: url.to_string(), timeout: self.timeout, attempts: 1 };
        }
        // reqwest's own message is just "error sending request"; the cause (e.g. "Connection refused") is at the
        // end of the source chain.
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            detail = cause.to_string();
            source = cause.source();
        }
        PushError::Unreachable { url: url.to_string(), detail, attempts: 1 }
    }
}

/// Shows the user but never the password, since runners log their configuration.
impl std::fmt::Debug for Pushgateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushgateway")
            .field("url", &self.url)
            .field("user", &self.auth.as_ref().map(|(user, _)| user))
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("first_backoff", &self.first_backoff)
            .finish_non_exhaustive()
    }
}

fn client(timeout: Duration) -> Result<reqwest::Client, PushError> {
    billing_service::tls::client_builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(PushError::HttpClient)
}

/// One `label/value` pair of a Pushgateway path, base64-encoded when the value would not survive as a plain path
/// segment.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_grouping_values_are_plain_path_segments() {
        let gateway = Pushgateway::new("http://127.0.0.1:9091/").unwrap();
        assert_eq!(
            gateway.group_url("billing_load", &[("scenario", "onboarding"), ("worker", "0")]),
            "http://127.0.0.1:9091/metrics/job/billing_load/scenario/onboarding/worker/0"
        );
    }

    #[test]
    fn values_with_a_slash_or_nothing_at_all_are_base64_encoded_behind_a_path_prefix() {
        let gateway = Pushgateway::new("https://metrics.example.com/pushgateway").unwrap();
        assert_eq!(
            gateway.group_url("billing_e2e", &[("environment", "staging/eu")]),
            "https://metrics.example.com/pushgateway/metrics/job/billing_e2e/environment@base64/c3RhZ2luZy9ldQ=="
        );
        assert_eq!(
            gateway.group_url("billing_e2e", &[("environment", "")]),
            "https://metrics.example.com/pushgateway/metrics/job/billing_e2e/environment@base64/="
        );
        assert_eq!(gateway.group_url("a/b", &[]), "https://metrics.example.com/pushgateway/metrics/job@base64/YS9i");
        assert_eq!(
            gateway.group_url("j", &[("dots", "..")]),
            "https://metrics.example.com/pushgateway/metrics/job/j/dots@base64/Li4="
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
    fn a_url_that_is_not_http_or_has_a_query_is_refused() {
        for url in ["localhost:9091", "not a url", "ftp://localhost:9091", "http://localhost:9091/?x=1", "http://h/#f"]
        {
            let message = Pushgateway::new(url).unwrap_err().to_string();
            assert!(message.contains("is not a Pushgateway URL"), "{url}: {message}");
            assert!(message.contains("http://localhost:9091"), "{url}: {message}");
        }
    }

    #[test]
    fn zero_attempts_still_makes_one() {
        let gateway = Pushgateway::new("http://localhost:9091").unwrap().with_retries(0, Duration::ZERO);
        assert_eq!(gateway.attempts, 1);
    }
}
