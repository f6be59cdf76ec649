//! A real Pushgateway for tests: Debian's `prometheus-pushgateway` on a free loopback port, requiring basic auth
//! (bcrypt, through `--web.config.file`) exactly as CI and staging run it, and what it serves on `/metrics` read
//! back as [`Scrape`]. Any crate's tests use it: the push module's own, the journey runner's, the load tool's.
//!
//! **Hermetic**: each gateway keeps its state in a temporary directory of its own — web config, log and
//! `--persistence.file` — and nowhere else. Debian's build persists to `/var/lib/prometheus/pushgateway.data` by
//! default, so a gateway started without the flag loads whatever a real gateway once left there (a test then fails
//! with "… is not a GAUGE" on every run) and writes its own series back for the next. `tests/hermetic.rs` poisons
//! that default location (in a private mount namespace) and proves a gateway from here does not see it.
//!
//! The binary is required: without it [`TestPushgateway::start`] fails (tests do not skip), because a skipped push
//! test would let a broken push path through CI. `PUSHGATEWAY_BIN` names another binary.
//!
//! The reading side ([`Scrape`]) is hand-written: the one crate that parses the text format, `prometheus-parse`,
//! cuts a label set at its first `}` with a regular expression and does not unescape values, and reading back
//! awkward label values intact is the point of these tests.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::push::Pushgateway;

/// The user every test gateway accepts.
pub const USER: &str = "pusher";
/// Its password.
pub const PASSWORD: &str = "s3cret";
/// bcrypt of [`PASSWORD`], made once with Python's `crypt` at cost 4 (the minimum, so each authenticated request
/// stays fast).
const PASSWORD_BCRYPT: &str = "$2b$04$r.d4K3Sa1T.UAqADYXNbB.ZEiiS0ba4ot5yfz2y/VuDPl7Y9GHe9e";

const INSTALL_HINT: &str = "install it with `apt-get install prometheus-pushgateway` (scripts/test does), or set \
                            PUSHGATEWAY_BIN to a Pushgateway binary";
/// How long a gateway may take to answer `/-/ready`.
const READY_DEADLINE: Duration = Duration::from_secs(15);
/// Another process may take the free port between our probe and the gateway's bind; then we try another.
const PORT_ATTEMPTS: usize = 3;

/// A Pushgateway process with its own state directory; killed, and its directory removed, on drop.
pub struct TestPushgateway {
    child: Child,
    url: String,
    // Last: removed after the process is gone.
    dir: tempfile::TempDir,
}

impl TestPushgateway {
    /// Starts a gateway that requires [`USER`]/[`PASSWORD`] and waits until it is ready.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = binary()?;
        let dir = tempfile::Builder::new().prefix("test-pushgateway-").tempdir().context("a temporary directory")?;
        let web_config = dir.path().join("web-config.yml");
        std::fs::write(&web_config, format!("basic_auth_users:\n  {USER}: '{PASSWORD_BCRYPT}'\n"))?;
        let log = dir.path().join(LOG_FILE);
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let url = format!("http://127.0.0.1:{port}");
            let mut command = Command::new(&binary);
            command
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg(format!("--web.config.file={}", web_config.display()))
                .arg(format!("--persistence.file={}", dir.path().join(PERSISTENCE_FILE).display()));
            let mut child = spawn_logged(command, &log)
                .with_context(|| format!("could not start {}: {INSTALL_HINT}", binary.display()))?;
            match wait_until_ready(&mut child, &url, Some((USER, PASSWORD))).await {
                Ok(()) => return Ok(Self { child, url, dir }),
                Err(error) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    if !log.contains("address already in use") {
                        return Err(error.context(format!("--- pushgateway log ---\n{log}")));
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(last_error
            .unwrap_or_else(|| anyhow::anyhow!("no attempt made"))
            .context("no free port for the Pushgateway"))
    }

    /// Its base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client of this gateway with the right credentials.
    pub fn pushgateway(&self) -> Pushgateway {
        Pushgateway::new(&self.url).expect("a loopback URL is valid").with_basic_auth(USER, PASSWORD)
    }

    /// The directory holding everything this gateway reads and writes.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where this gateway persists its metrics (written at shutdown and every `--persistence.interval`).
    pub fn persistence_file(&self) -> PathBuf {
        self.dir.path().join(PERSISTENCE_FILE)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the gateway serves on `/metrics` (read with credentials): every pushed series, with the gateway's own.
    pub async fn scrape(&self) -> anyhow::Result<Scrape> {
        let response = billing_service::tls::client()
            .get(format!("{}/metrics", self.url))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .context("the Pushgateway's /metrics")?;
        anyhow::ensure!(response.status().is_success(), "/metrics answered {}", response.status());
        Scrape::parse(&response.text().await?)
    }

    /// Stops the gateway as a service manager would (SIGTERM), so it writes its persistence file, and waits for it.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        stop_gracefully(&mut self.child).await
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestPushgateway {
    fn drop(&mut self) {
        self.kill();
    }
}

const PERSISTENCE_FILE: &str = "pushgateway.data";
const LOG_FILE: &str = "pushgateway.log";

/// The Pushgateway binary: `PUSHGATEWAY_BIN`, else Debian's `/usr/bin/prometheus-pushgateway`, else
/// `prometheus-pushgateway` or `pushgateway` on `PATH`.
pub fn binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PUSHGATEWAY_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .flat_map(|dir| [dir.join("prometheus-pushgateway"), dir.join("pushgateway")]);
    [PathBuf::from("/usr/bin/prometheus-pushgateway")]
        .into_iter()
        .chain(on_path)
        .find(|path| path.is_file())
        .with_context(|| format!("no Pushgateway binary found: {INSTALL_HINT}"))
}

/// Polls `<url>/-/ready` until it answers 200, failing early when the process exits.
pub(crate) async fn wait_until_ready(
    child: &mut Child,
    url: &str,
    credentials: Option<(&str, &str)>,
) -> anyhow::Result<()> {
    let http = billing_service::tls::client();
    let ready = format!("{url}/-/ready");
    crate::wait::wait_until("the Pushgateway to be ready", READY_DEADLINE, || {
        let exited = child.try_wait();
        let mut request = http.get(&ready);
        if let Some((user, password)) = credentials {
            request = request.basic_auth(user, Some(password));
        }
        async move {
            if let Some(status) = exited? {
                anyhow::bail!("the Pushgateway exited with {status} before it was ready");
            }
            Ok(request.send().await.ok().filter(|r| r.status().is_success()).map(|_| ()))
        }
    })
    .await
}

/// Spawns `command` with its output appended to `log`, tied to this process so that it dies with it (SIGKILL: a
/// gateway of a crashed test must not write its state anywhere on the way out).
pub(crate) fn spawn_logged(mut command: Command, log: &Path) -> anyhow::Result<Child> {
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    command.stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file);
    Ok(billing_testdb::spawn_tied_to_process(command, nix::libc::SIGKILL)?)
}

/// SIGTERM, then wait up to 10 s for the process to end (SIGKILL after that).
pub(crate) async fn stop_gracefully(child: &mut Child) -> anyhow::Result<()> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id())?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
    let started = Instant::now();
    let result = crate::wait::wait_until("the Pushgateway to stop", Duration::from_secs(10), || {
        let exited = child.try_wait();
        async move { Ok(exited?.map(|_| ())) }
    })
    .await;
    if result.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    result.with_context(|| format!("after {:?}", started.elapsed()))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One sample line of a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// What a Pushgateway served on `/metrics`: the samples, and each family's `# TYPE` and `# HELP`.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    types: HashMap<String, String>,
    helps: HashMap<String, String>,
}

impl Scrape {
    /// Parses the Prometheus text format 0.0.4 (what a Pushgateway serves), label values unescaped.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut scrape = Scrape::default();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').with_context(|| format!("bad TYPE line: {line}"))?;
                scrape.types.insert(name.to_string(), kind.to_string());
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                scrape.helps.insert(name.to_string(), help.to_string());
            } else if !line.starts_with('#') {
                scrape.samples.push(parse_sample(line).with_context(|| format!("unparsable sample line: {line}"))?);
            }
        }
        Ok(scrape)
    }

    /// The `# TYPE` of a family (`counter`, `gauge`, `histogram`, `untyped`…), if it has one.
    pub fn type_of(&self, family: &str) -> Option<&str> {
        self.types.get(family).map(String::as_str)
    }

    /// The `# HELP` text of a family, if it has one.
    pub fn help_of(&self, family: &str) -> Option<&str> {
        self.helps.get(family).map(String::as_str)
    }

    /// The samples named `name` whose labels include all of `labels`.
    pub fn matching<'a>(&'a self, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |sample| {
            sample.name == name && labels.iter().all(|(k, v)| sample.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The values of `name` whose labels include all of `labels`.
    pub fn values(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.matching(name, labels).map(|sample| sample.value).collect()
    }

    /// The one value of `name` with `labels`.
    ///
    /// # Panics
    /// When there is none or more than one, listing what there is.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.values(name, labels).as_slice() {
            [value] => *value,
            found => panic!(
                "expected one {name} with {labels:?}, found {found:?}; every {name}: {:?}",
                self.matching(name, &[]).collect::<Vec<_>>()
            ),
        }
    }

    /// The label sets of `name` whose labels include all of `labels`.
    pub fn label_sets(&self, name: &str, labels: &[(&str, &str)]) -> Vec<BTreeMap<String, String>> {
        self.matching(name, labels).map(|sample| sample.labels.clone()).collect()
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let Some((name, labels)) = series.split_once('{') else {
        return Some(Sample { name: series.to_string(), labels: BTreeMap::new(), value });
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
    Some(Sample { name: name.to_string(), labels: parsed, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_reads_types_helps_and_escaped_label_values() {
        let scrape = Scrape::parse(
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"q\\\"uo}te\\\\ \\n\",b=\"\"} 3\nplain 1.5e+09\n",
        )
        .unwrap();
        assert_eq!(scrape.type_of("x_total"), Some("counter"));
        assert_eq!(scrape.help_of("x_total"), Some("Things."));
        assert_eq!(scrape.value("x_total", &[("a", "q\"uo}te\\ \n"), ("b", "")]), 3.0);
        assert_eq!(scrape.value("plain", &[]), 1.5e9);
    }
}
