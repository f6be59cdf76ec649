//! Test servers keep their state in their own temporary directory, and nothing a machine left elsewhere reaches
//! them. The case that broke: Debian's Pushgateway persists to a default `--persistence.file`
//! (`/var/lib/prometheus/pushgateway.data`); gateways started by tests without the flag loaded the metrics a real
//! gateway once left there, and a push test then failed on every run with "… is not a GAUGE".
//!
//! `a_test_gateway_is_unaffected_by_state_left_at_the_default_location` reproduces that machine without touching
//! it: a child test process runs in a private mount namespace in which a fresh temporary directory is mounted over
//! the default location's directory. There it leaves conflicting state the way a real gateway would, shows that a
//! gateway started without the flag is poisoned by it, and that a [`TestPushgateway`] is not. When the namespace
//! ends, the machine's own directory is as it was. A scan of the workspace's sources catches a test that starts a
//! gateway of its own without the flag.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use billing_stack::push::{PushError, Pushgateway};
use billing_stack::test_pushgateway::{self, TestPushgateway};
use billing_stack::wait_until;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A metric name both a stranger's run (as a counter) and our test (as a gauge) use.
const SHARED_NAME: &str = "hermetic_probe_value";

fn registry_with_gauge() -> Registry {
    let mut registry = Registry::default();
    let gauge = Gauge::<f64, AtomicU64>::default();
    gauge.set(1.0);
    registry.register(SHARED_NAME, "A gauge", gauge);
    registry
}

#[tokio::test]
async fn a_gateway_keeps_its_state_in_its_own_directory_and_nowhere_else() {
    let mut gateway = TestPushgateway::start().await.unwrap();
    let arguments = std::fs::read(format!("/proc/{}/cmdline", gateway.pid())).unwrap();
    let persistence: Vec<String> = arguments
        .split(|b| *b == 0)
        .filter_map(|arg| std::str::from_utf8(arg).ok()?.strip_prefix("--persistence.file=").map(str::to_string))
        .collect();
    assert_eq!(persistence, [gateway.persistence_file().display().to_string()]);
    assert!(gateway.persistence_file().starts_with(gateway.dir()));

    gateway.pushgateway().push("hermetic", &[], &registry_with_gauge()).await.unwrap();
    gateway.stop().await.unwrap();

    assert!(gateway.persistence_file().is_file(), "the gateway wrote its state into its own directory at shutdown");
}

#[test]
fn a_test_gateway_is_unaffected_by_state_left_at_the_default_location() {
    let Some(default_file) = default_persistence_file() else {
        eprintln!("this Pushgateway persists nothing by default: there is no default location to be poisoned by");
        return;
    };
    let default_dir = default_file.parent().expect("a file has a directory").to_path_buf();
    assert!(default_dir.is_dir(), "{} does not exist: cannot mount over it", default_dir.display());
    let before = fingerprint(&default_dir);
    let stand_in = tempfile::tempdir().unwrap();

    let mut command = Command::new("unshare");
    // SAFETY-free: geteuid has no preconditions.
    if !nix::unistd::geteuid().is_root() {
        command.arg("--map-root-user");
    }
    let output = command
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount --bind "$1" "$2" || exit 97; shift 2; exec "$@""#)
        .args(["sh"])
        .arg(stand_in.path())
        .arg(&default_dir)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "poisons_the_default_location_then_starts_gateways", "--ignored", "--nocapture"])
        .env("HERMETIC_DEFAULT_FILE", &default_file)
        .stdin(Stdio::null())
        .output()
        .expect("run unshare (util-linux)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stdout.contains("CHILD STARTED") && (stderr.contains("unshare:") || output.status.code() == Some(97)) {
        eprintln!("no private mount namespace here ({}): this check cannot run; {stderr}", output.status);
        return;
    }
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!("{}", stdout.lines().find(|line| line.contains("refuses the push")).unwrap_or_default());
    assert!(stand_in.path().join(default_file.file_name().unwrap()).is_file(), "the poison went to the stand-in");
    assert_eq!(fingerprint(&default_dir), before, "the machine's {} was touched", default_dir.display());
}

/// Run by the test above inside its mount namespace, where the default location is a throw-away directory.
#[tokio::test]
#[ignore = "run in a private mount namespace by a_test_gateway_is_unaffected_by_state_left_at_the_default_location"]
async fn poisons_the_default_location_then_starts_gateways() {
    println!("CHILD STARTED");
    let default_file = PathBuf::from(std::env::var_os("HERMETIC_DEFAULT_FILE").expect("HERMETIC_DEFAULT_FILE"));
    assert!(!default_file.exists(), "the stand-in directory starts empty");

    // What a person did once: a gateway on the default state, a push with a counter of the same name, a stop.
    // Their metric has our gauge's name but is a counter (0.0.4 text lets a counter go without `_total`).
    let mut stranger = DefaultStateGateway::start().await;
    let theirs = format!("# TYPE {SHARED_NAME} counter\n{SHARED_NAME} 3\n");
    let response = billing_service::tls::client()
        .put(format!("{}/metrics/job/someone_elses_run", stranger.url))
        .body(theirs)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "their push: {}", response.status());
    stranger.stop().await;
    assert!(default_file.is_file(), "a gateway on the default state writes it at shutdown");

    // A gateway started as tests used to start them is poisoned by it.
    let poisoned = DefaultStateGateway::start().await;
    let error = poisoned.client().push("hermetic", &[], &registry_with_gauge()).await.unwrap_err();
    assert!(matches!(error, PushError::Rejected { status: 400, .. }), "the old way is poisoned: {error}");
    println!("a gateway on the default state refuses the push: {error}");
    drop(poisoned);

    // A TestPushgateway is not.
    let gateway = TestPushgateway::start().await.unwrap();
    gateway.pushgateway().push("hermetic", &[], &registry_with_gauge()).await.unwrap();
    let scrape = gateway.scrape().await.unwrap();
    assert_eq!(scrape.type_of(SHARED_NAME), Some("gauge"));
    assert!(scrape.values(SHARED_NAME, &[("job", "someone_elses_run")]).is_empty(), "the stranger's run leaked in");
}

#[test]
fn every_source_file_that_starts_a_pushgateway_gives_it_its_own_persistence_file() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut offenders = Vec::new();
    let mut pending = vec![workspace];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() && name != "target" && name != ".git" {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let source = std::fs::read_to_string(&path).unwrap_or_default();
                if source.contains("--web.listen-address") && !source.contains("--persistence.file") {
                    offenders.push(path);
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these start a Pushgateway on the machine's default state; use billing_stack::test_pushgateway::TestPushgateway: \
         {offenders:?}"
    );
}

/// A gateway started the way tests started them before: no `--persistence.file`, so on the binary's default.
struct DefaultStateGateway {
    child: Child,
    url: String,
}

impl DefaultStateGateway {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(test_pushgateway::binary().unwrap())
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let http = billing_service::tls::client();
        wait_until("the default-state gateway to be ready", Duration::from_secs(15), || {
            let exited = child.try_wait();
            let request = http.get(format!("{url}/-/ready")).send();
            async move {
                anyhow::ensure!(exited?.is_none(), "the gateway exited");
                Ok(request.await.ok().filter(|r| r.status().is_success()).map(|_| ()))
            }
        })
        .await
        .unwrap();
        Self { child, url }
    }

    fn client(&self) -> Pushgateway {
        Pushgateway::new(&self.url).unwrap()
    }

    /// SIGTERM, so it writes its state, and wait.
    async fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let child = &mut self.child;
        wait_until("the default-state gateway to stop", Duration::from_secs(10), || {
            let exited = child.try_wait();
            async move { Ok(exited?.map(|_| ())) }
        })
        .await
        .unwrap();
    }
}

impl Drop for DefaultStateGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary's default `--persistence.file`, read from its `--help`; `None` when it persists nothing by default.
fn default_persistence_file() -> Option<PathBuf> {
    let output = Command::new(test_pushgateway::binary().unwrap()).arg("--help").output().unwrap();
    let help = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let default = help.split("--persistence.file=\"").nth(1)?.split('"').next()?;
    (!default.is_empty()).then(|| PathBuf::from(default))
}

/// The names, sizes and modification times of a directory's entries: enough to see that nothing was written.
fn fingerprint(dir: &Path) -> Vec<(String, u64, Option<SystemTime>)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| {
            let meta = entry.metadata().ok();
            (
                entry.file_name().to_string_lossy().into_owned(),
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect();
    entries.sort();
    entries
}
