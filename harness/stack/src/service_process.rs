//! The billing service as a child process: the real `billing-service` binary, configured through
//! its environment variables, so a chaos journey can `kill -9` it mid-request and start it again
//! on the same database and port, and a load run measures the release build rather than the test
//! process.
//!
//! [`ServiceBinary::build`] finds the binary by asking cargo to build it (a no-op when it is fresh),
//! so a test never runs a stale service; `BILLING_SERVICE_BIN` names a binary to use instead (an
//! installed one, or in an environment without cargo). The child is forked with a parent-death
//! signal ([`billing_testdb::spawn_tied_to_process`]), so it never outlives the test process, and
//! its output goes to a log file the stack can show when something fails.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use billing_service::Config;
use tokio::sync::OnceCell;

/// Names a `billing-service` binary to run instead of building one.
pub const SERVICE_BIN_ENV: &str = "BILLING_SERVICE_BIN";

/// How long a started service may take to answer `/healthz`.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// Which build of the service to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `cargo build` (what tests use: quick to build).
    Debug,
    /// `cargo build --release` (what load runs measure).
    Release,
}

impl Profile {
    /// The profile this code was built with: a debug test or `e2e` runs the debug service.
    pub fn of_this_build() -> Profile {
        if cfg!(debug_assertions) { Profile::Debug } else { Profile::Release }
    }
}

/// A `billing-service` binary and the extra environment it runs with.
#[derive(Debug, Clone)]
pub struct ServiceBinary {
    pub path: PathBuf,
    /// Set after the stack's own configuration, so these win (e.g. `SIGNUP_RATE_PER_MINUTE=0`).
    pub env: Vec<(String, String)>,
}

impl ServiceBinary {
    /// The binary of this checkout for `profile`, built by cargo if it is missing or stale
    /// (once per process), or the one `BILLING_SERVICE_BIN` names.
    pub async fn build(profile: Profile) -> anyhow::Result<ServiceBinary> {
        if let Some(path) = std::env::var_os(SERVICE_BIN_ENV) {
            let path = PathBuf::from(path);
            anyhow::ensure!(path.is_file(), "{SERVICE_BIN_ENV}={} is not a file", path.display());
            return Ok(ServiceBinary { path, env: Vec::new() });
        }
        // One build per profile and process, however many stacks ask at once.
        static DEBUG: OnceCell<PathBuf> = OnceCell::const_new();
        static RELEASE: OnceCell<PathBuf> = OnceCell::const_new();
        let cell = match profile {
            Profile::Debug => &DEBUG,
            Profile::Release => &RELEASE,
        };
        let path = cell
            .get_or_try_init(|| async move { tokio::task::spawn_blocking(move || cargo_build(profile)).await? })
            .await?;
        Ok(ServiceBinary { path: path.clone(), env: Vec::new() })
    }

    /// The release binary (see [`ServiceBinary::build`]).
    pub async fn release() -> anyhow::Result<ServiceBinary> {
        ServiceBinary::build(Profile::Release).await
    }

    /// The same binary with one more environment variable.
    pub fn with_env(mut self, name: &str, value: impl ToString) -> ServiceBinary {
        self.env.push((name.to_string(), value.to_string()));
        self
    }
}

/// Runs `cargo build` for the service binary and returns the executable cargo reports.
fn cargo_build(profile: Profile) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../service/Cargo.toml");
    let mut command = Command::new(&cargo);
    // Inside `cargo test`, this process carries the variables cargo sets for the package under
    // test; build scripts (ring's) track some of them, so passing them on would rebuild half the
    // dependency tree here and again in the next outer build.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let per_package =
            ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_"].iter().any(|p| name.starts_with(p))
                || [
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_RUSTC_CURRENT_DIR",
                    "OUT_DIR",
                    "LD_LIBRARY_PATH",
                ]
                .contains(&name.as_ref());
        if per_package {
            command.env_remove(name.as_ref());
        }
    }
    command.args(["build", "--quiet", "--message-format=json"]);
    command.arg("--manifest-path").arg(&manifest);
    match profile {
        // What the tests build (`scripts/test` builds it so first), with the whole workspace's features: a build of
        // the service's package alone would give some dependencies other features than the tests' build gave them,
        // and compile them (and the service) once more.
        Profile::Debug => command.args(["--workspace", "--bin", "billing-service"]),
        // What load runs measure, built as `cargo build --release -p billing-load -p billing-service` (the
        // README's and the scripts' command) builds it: the two packages' features unify the same way, so
        // neither build undoes the other's binary (built alone, billing-service would get other features
        // of its dependencies and be rebuilt, and then rebuilt again by the next build of both).
        Profile::Release => command.args(["--release", "-p", "billing-service", "-p", "billing-load"]),
    };
    eprintln!("billing-stack: building the billing-service binary ({profile:?}; a no-op when it is fresh)");
    let output = command.stderr(Stdio::inherit()).output().with_context(|| {
        format!("cannot run cargo to build billing-service: install Rust, or set {SERVICE_BIN_ENV} to a built binary")
    })?;
    anyhow::ensure!(output.status.success(), "`cargo build` of billing-service failed (see its output above)");
    for line in output.stdout.split(|byte| *byte == b'\n') {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
        if message["reason"] == "compiler-artifact"
            && message["target"]["name"] == "billing-service"
            && let Some(path) = message["executable"].as_str()
        {
            return Ok(PathBuf::from(path));
        }
    }
    anyhow::bail!("cargo built billing-service but did not name its executable; set {SERVICE_BIN_ENV} instead")
}

/// A running (or killed) service process of a stack.
pub(crate) struct ServiceProcess {
    binary: ServiceBinary,
    config: Config,
    log_path: PathBuf,
    child: Mutex<Option<Child>>,
    _log_dir: Arc<tempfile::TempDir>,
}

impl ServiceProcess {
    /// Starts the binary with `config` (its `bind_addr` must name a fixed port) and waits until
    /// it answers `/healthz`.
    pub(crate) async fn start(binary: ServiceBinary, config: Config) -> anyhow::Result<ServiceProcess> {
        let log_dir = Arc::new(tempfile::Builder::new().prefix("billing-service-").tempdir()?);
        let log_path = log_dir.path().join("service.log");
        let process = ServiceProcess { binary, config, log_path, child: Mutex::new(None), _log_dir: log_dir };
        process.spawn().await?;
        Ok(process)
    }

    /// Starts the process again (after [`ServiceProcess::kill`]) on the same database and port.
    pub(crate) async fn spawn(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.lock().unwrap_or_else(|p| p.into_inner()).is_none(), "the service is running");
        let log = File::options().create(true).append(true).open(&self.log_path)?;
        let mut command = Command::new(&self.binary.path);
        command.env_clear();
        for name in ["PATH", "HOME", "TMPDIR"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command.env("RUST_LOG", std::env::var("BILLING_SERVICE_LOG").unwrap_or_else(|_| "info".into()));
        command.envs(self.config.to_env());
        command.envs(self.binary.env.iter().map(|(name, value)| (name, value)));
        command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let child = billing_testdb::spawn_tied_to_process(command, libc::SIGKILL)
            .with_context(|| format!("cannot start {}", self.binary.path.display()))?;
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        self.wait_until_healthy().await
    }

    async fn wait_until_healthy(&self) -> anyhow::Result<()> {
        let url = format!("http://{}/healthz", self.config.server.bind_addr);
        let http = billing_service::tls::client_builder().timeout(Duration::from_secs(2)).build()?;
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(status) = self.exit_status() {
                anyhow::bail!("the billing service exited with {status} while starting:\n{}", self.log_tail(40));
            }
            if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if started.elapsed() > READY_DEADLINE {
                anyhow::bail!(
                    "the billing service did not answer {url} within {READY_DEADLINE:?}:\n{}",
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    fn exit_status(&self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child.as_mut().and_then(|child| child.try_wait().ok().flatten())
    }

    /// Kills the process at once (SIGKILL: no graceful shutdown, in-flight requests die).
    pub(crate) fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(Child::id)
    }

    /// The last `lines` lines the service logged.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let Ok(file) = File::open(&self.log_path) else { return "(no log)".into() };
        let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
