//! The push path against a real Pushgateway (Debian's `prometheus-pushgateway`), started on a
//! free loopback port with basic auth, exactly as CI and staging run it: what lands, what a
//! second push replaces, what stays apart, and what the errors say.
//!
//! The binary is required: without it these tests fail (they do not skip), because a skipped
//! push test would let a broken push path through CI unnoticed.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use billing_e2e::report::{JourneyResult, Outcome, Pushgateway, ReportError, RunReport};
use billing_e2e::wait_until;

const USER: &str = "e2e";
const PASSWORD: &str = "s3cret";
/// bcrypt of `s3cret`, generated once with Python's `crypt` (cost 4, the minimum, so each
/// authenticated request stays fast).
const PASSWORD_BCRYPT: &str = "$2b$04$r.d4K3Sa1T.UAqADYXNbB.ZEiiS0ba4ot5yfz2y/VuDPl7Y9GHe9e";

const INSTALL_HINT: &str = "install prometheus-pushgateway (apt-get install prometheus-pushgateway)";

/// A Pushgateway process on a free loopback port, requiring basic auth; killed on drop.
struct RunningPushgateway {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl RunningPushgateway {
    async fn start() -> Self {
        let binary = pushgateway_binary();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let web_config = dir.path().join("web-config.yml");
        std::fs::write(&web_config, format!("basic_auth_users:\n  {USER}: '{PASSWORD_BCRYPT}'\n")).unwrap();
        let log = dir.path().join("pushgateway.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let port = free_port();
        let child = Command::new(&binary)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--web.config.file={}", web_config.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}; {INSTALL_HINT}", binary.display()));
        let mut gateway = Self { child, url: format!("http://127.0.0.1:{port}"), log, _dir: dir };
        gateway.wait_until_ready().await;
        gateway
    }

    async fn wait_until_ready(&mut self) {
        let http = reqwest::Client::new();
        let ready = format!("{}/-/ready", self.url);
        let result = wait_until("the Pushgateway to be ready", Duration::from_secs(15), || {
            let exited = self.child.try_wait().expect("the Pushgateway's status");
            let request = http.get(&ready).basic_auth(USER, Some(PASSWORD)).send();
            async move {
                if let Some(status) = exited {
                    anyhow::bail!("the Pushgateway exited with {status} before it was ready");
                }
                Ok(request.await.ok().filter(|r| r.status().is_success()).map(|_| ()))
            }
        })
        .await;
        if let Err(error) = result {
            panic!("{error}\n--- pushgateway log ---\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }

    fn with_credentials(&self) -> Pushgateway {
        Pushgateway::new(&self.url).unwrap().with_basic_auth(USER, PASSWORD)
    }

    /// The samples the Pushgateway serves on `/metrics` (read with credentials).
    async fn scrape(&self) -> Scrape {
        let response = reqwest::Client::new()
            .get(format!("{}/metrics", self.url))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .expect("the Pushgateway's /metrics");
        assert!(response.status().is_success(), "/metrics answered {}", response.status());
        Scrape::parse(&response.text().await.unwrap())
    }
}

impl Drop for RunningPushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pushgateway_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PUSHGATEWAY_BIN") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .flat_map(|dir| [dir.join("prometheus-pushgateway"), dir.join("pushgateway")]);
    [PathBuf::from("/usr/bin/prometheus-pushgateway")]
        .into_iter()
        .chain(on_path)
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("no Pushgateway binary found: {INSTALL_HINT}, or set PUSHGATEWAY_BIN"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Samples parsed from the Prometheus text format: enough of it to read back what was pushed.
struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

impl Scrape {
    fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| parse_sample(line).unwrap_or_else(|| panic!("unparsable sample line: {line}")))
            .collect();
        Self(samples)
    }

    /// The values of `name` whose labels include all of `labels`.
    fn values(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.0
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
            .map(|(_, _, value)| *value)
            .collect()
    }

    /// The one value of `name` with `labels`; panics when there is none or more than one.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.values(name, labels)[..] {
            [value] => value,
            ref other => panic!("expected one {name}{labels:?}, found {other:?}"),
        }
    }

    /// The label sets of `name` in one environment.
    fn label_sets(&self, name: &str, environment: &str) -> Vec<BTreeMap<String, String>> {
        self.0
            .iter()
            .filter(|(n, l, _)| n == name && l.get("environment").map(String::as_str) == Some(environment))
            .map(|(_, l, _)| l.clone())
            .collect()
    }
}

fn parse_sample(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let Some((name, labels)) = series.split_once('{') else {
        return Some((series.to_string(), BTreeMap::new(), value));
    };
    let mut parsed = BTreeMap::new();
    let mut rest = labels.strip_suffix('}')?;
    while !rest.is_empty() {
        let (label, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        parsed.insert(label.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some((name.to_string(), parsed, value))
}

fn journey(name: &str, outcome: Outcome, millis: u64) -> JourneyResult {
    JourneyResult::new(name, outcome, Duration::from_millis(millis))
}

fn run_in(environment: &str, journeys: Vec<JourneyResult>) -> RunReport {
    RunReport {
        target: "https://staging.example.com".into(),
        environment: environment.into(),
        commit: Some("0123abcdef".into()),
        started_at: 1_764_072_000,
        duration: Duration::from_millis(7_250),
        journeys,
    }
}

fn three_journey_run(environment: &str) -> RunReport {
    run_in(
        environment,
        vec![
            journey("trial_signup_first_fix", Outcome::Passed, 1_500),
            journey("pro_renewal", Outcome::Failed("expected 60 credits, got 0".into()), 2_250),
            journey("stripe_outage", Outcome::Skipped("needs control of the Stripe fake".into()), 0),
        ],
    )
}

fn assert_refused_credentials(error: ReportError) {
    let message = error.to_string();
    assert!(matches!(error, ReportError::Unauthorized { .. }), "{error:?}");
    assert!(
        message.starts_with("the Pushgateway refused the credentials: set PUSHGATEWAY_USER and PUSHGATEWAY_PASSWORD"),
        "{message}"
    );
}

#[tokio::test]
async fn a_run_pushed_with_credentials_can_be_read_back_with_its_counts_durations_and_commit() {
    let gateway = RunningPushgateway::start().await;

    gateway.with_credentials().push_run(&three_journey_run("ci")).await.expect("the push lands");

    let scrape = gateway.scrape().await;
    let ci = [("job", "billing_e2e"), ("environment", "ci")];
    let with = |extra: (&'static str, &'static str)| [ci[0], ci[1], extra];
    assert_eq!(scrape.value("billing_e2e_journeys", &with(("result", "passed"))), 1.0);
    assert_eq!(scrape.value("billing_e2e_journeys", &with(("result", "failed"))), 1.0);
    assert_eq!(scrape.value("billing_e2e_journeys", &with(("result", "skipped"))), 1.0);
    assert_eq!(scrape.value("billing_e2e_journey_passed", &with(("journey", "trial_signup_first_fix"))), 1.0);
    assert_eq!(scrape.value("billing_e2e_journey_passed", &with(("journey", "pro_renewal"))), 0.0);
    assert!(scrape.values("billing_e2e_journey_passed", &with(("journey", "stripe_outage"))).is_empty());
    assert_eq!(scrape.value("billing_e2e_journey_skipped", &with(("journey", "stripe_outage"))), 1.0);
    assert_eq!(scrape.value("billing_e2e_journey_duration_seconds", &with(("journey", "trial_signup_first_fix"))), 1.5);
    assert_eq!(scrape.value("billing_e2e_journey_duration_seconds", &with(("journey", "pro_renewal"))), 2.25);
    assert_eq!(scrape.value("billing_e2e_run_duration_seconds", &ci), 7.25);
    assert_eq!(scrape.value("billing_e2e_run_timestamp_seconds", &ci), 1_764_072_000.0);
    assert_eq!(
        scrape.value(
            "billing_e2e_run_info",
            &[ci[0], ci[1], ("commit", "0123abcdef"), ("target", "https://staging.example.com")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_second_push_for_the_same_environment_replaces_the_first() {
    let gateway = RunningPushgateway::start().await;
    let pushgateway = gateway.with_credentials();
    pushgateway.push_run(&three_journey_run("ci")).await.unwrap();

    let mut second = run_in("ci", vec![journey("trial_signup_first_fix", Outcome::Passed, 900)]);
    second.commit = Some("4567fedcba".into());
    pushgateway.push_run(&second).await.unwrap();

    let scrape = gateway.scrape().await;
    let journeys: Vec<String> = scrape
        .label_sets("billing_e2e_journey_duration_seconds", "ci")
        .into_iter()
        .map(|labels| labels["journey"].clone())
        .collect();
    assert_eq!(journeys, ["trial_signup_first_fix"], "the removed journeys are gone");
    assert!(scrape.label_sets("billing_e2e_journey_skipped", "ci").is_empty());
    assert_eq!(scrape.value("billing_e2e_journeys", &[("environment", "ci"), ("result", "passed")]), 1.0);
    assert_eq!(scrape.value("billing_e2e_journeys", &[("environment", "ci"), ("result", "failed")]), 0.0);
    assert_eq!(scrape.value("billing_e2e_journeys", &[("environment", "ci"), ("result", "skipped")]), 0.0);
    let info = scrape.label_sets("billing_e2e_run_info", "ci");
    assert_eq!(info.len(), 1, "only the latest commit's info series is left: {info:?}");
    assert_eq!(info[0]["commit"], "4567fedcba");
}

#[tokio::test]
async fn two_environments_keep_their_own_latest_run_even_with_a_slash_in_the_name() {
    let gateway = RunningPushgateway::start().await;
    let pushgateway = gateway.with_credentials();

    pushgateway.push_run(&three_journey_run("ci")).await.unwrap();
    let staging = run_in("staging/eu", vec![journey("trial_signup_first_fix", Outcome::Passed, 3_000)]);
    pushgateway.push_run(&staging).await.unwrap();

    let scrape = gateway.scrape().await;
    assert_eq!(scrape.value("billing_e2e_journeys", &[("environment", "ci"), ("result", "failed")]), 1.0);
    assert_eq!(scrape.value("billing_e2e_journeys", &[("environment", "staging/eu"), ("result", "failed")]), 0.0);
    assert_eq!(
        scrape.value(
            "billing_e2e_journey_duration_seconds",
            &[("environment", "staging/eu"), ("journey", "trial_signup_first_fix")]
        ),
        3.0
    );
    assert_eq!(
        scrape.value(
            "billing_e2e_journey_duration_seconds",
            &[("environment", "ci"), ("journey", "trial_signup_first_fix")]
        ),
        1.5
    );
}

#[tokio::test]
async fn a_push_without_credentials_is_refused_with_the_401_message() {
    let gateway = RunningPushgateway::start().await;
    let anonymous = Pushgateway::new(&gateway.url).unwrap();

    let error = anonymous.push_run(&three_journey_run("ci")).await.unwrap_err();

    assert_refused_credentials(error);
    assert!(gateway.scrape().await.label_sets("billing_e2e_journeys", "ci").is_empty(), "nothing landed");
}

#[tokio::test]
async fn a_push_with_a_wrong_password_is_refused_with_the_401_message() {
    let gateway = RunningPushgateway::start().await;
    let wrong =
        Pushgateway::from_credentials(&gateway.url, Some(USER.into()), Some("not-the-password".into())).unwrap();

    let error = wrong.push_run(&three_journey_run("ci")).await.unwrap_err();

    assert_refused_credentials(error);
    assert!(gateway.scrape().await.label_sets("billing_e2e_journeys", "ci").is_empty(), "nothing landed");
}

#[tokio::test]
async fn a_push_to_a_pushgateway_that_is_not_running_says_it_could_not_reach_it() {
    let url = format!("http://127.0.0.1:{}", free_port());

    let error = Pushgateway::new(&url).unwrap().push_run(&three_journey_run("ci")).await.unwrap_err();

    let message = error.to_string();
    assert!(matches!(error, ReportError::Unreachable { .. }), "{error:?}");
    assert!(
        message.starts_with(&format!("could not reach the Pushgateway at {url}/metrics/job/billing_e2e")),
        "{message}"
    );
    assert!(message.to_lowercase().contains("connection refused"), "{message}");
    assert!(message.contains("check that it is running"), "{message}");
}

#[tokio::test]
async fn a_pushgateway_that_never_answers_is_given_up_on_after_the_timeout() {
    // Accepts connections (the kernel completes them) but never reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let pushgateway = Pushgateway::new(&url).unwrap().with_timeout(Duration::from_millis(300)).unwrap();

    let started = std::time::Instant::now();
    let error = pushgateway.push_run(&three_journey_run("ci")).await.unwrap_err();

    assert!(matches!(error, ReportError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("did not answer within"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_pushgateway_rejection_other_than_401_carries_the_first_line_of_its_body() {
    let gateway = RunningPushgateway::start().await;
    // The Pushgateway refuses a push whose metric conflicts with another group's metric of the
    // same name (here: a counter where ours is a gauge) with a 400 and a plain-text reason.
    let http = reqwest::Client::new();
    let conflicting = "# TYPE billing_e2e_run_duration_seconds counter\nbilling_e2e_run_duration_seconds 1\n";
    let response = http
        .put(format!("{}/metrics/job/other_job", gateway.url))
        .basic_auth(USER, Some(PASSWORD))
        .body(conflicting)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "the conflicting push: {}", response.status());

    let error = gateway.with_credentials().push_run(&three_journey_run("ci")).await.unwrap_err();

    let ReportError::Rejected { status, first_line, .. } = &error else { panic!("{error:?}") };
    assert_eq!(*status, 400, "{error}");
    assert!(!first_line.is_empty() && !first_line.contains('\n'), "{error}");
    assert!(error.to_string().contains("rejected the push with HTTP 400"), "{error}");
}

#[tokio::test]
async fn label_values_with_quotes_backslashes_and_newlines_arrive_intact() {
    let gateway = RunningPushgateway::start().await;
    let awkward = "C:\\runs \"nightly\"\nsecond line ✓";
    let mut report = run_in("ci", vec![journey(awkward, Outcome::Passed, 10)]);
    report.target = awkward.into();

    gateway.with_credentials().push_run(&report).await.unwrap();

    let scrape = gateway.scrape().await;
    assert_eq!(scrape.value("billing_e2e_journey_passed", &[("environment", "ci"), ("journey", awkward)]), 1.0);
    assert_eq!(scrape.value("billing_e2e_run_info", &[("environment", "ci"), ("target", awkward)]), 1.0);
}
