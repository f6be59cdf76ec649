//! A throw-away PostgreSQL cluster made from the installed server binaries: `initdb` into a fresh directory under
//! the test root ([`ProviderConfig::tmp_root`]), then `postgres` on a free loopback port, tuned for tests (no fsync, trust auth).
//!
//! `initdb` and `postgres` refuse to run as root, so as root both run as the `postgres` system user and the cluster
//! directory belongs to it. The postmaster is our direct child (no `pg_ctl`), forked by the `spawner` thread with a
//! parent-death signal, so it cannot outlive this process; an owned cluster stops and removes its directory on drop,
//! and directories left by dead processes are swept when the next cluster starts.
//!
//! Directory layout: `cluster-XXXX/{owner.pid, postgres.log, data/, .s.PGSQL.<port>}`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::ProviderConfig;
use crate::error::TestDbError;
use crate::ready::wait_until_ready;
use crate::sweep::{self, CLUSTER_PREFIX, OWNER_FILE};

/// How long a fresh cluster may take to accept connections.
const READY_DEADLINE: Duration = Duration::from_secs(20);
/// Another process may take the free port between our probe and the postmaster's bind; then we try another.
const PORT_ATTEMPTS: usize = 5;
/// Server settings for tests: durability off, room for many parallel tests, reachable on loopback only.
const TEST_SETTINGS: &[(&str, &str)] = &[
    ("listen_addresses", "127.0.0.1"),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "300"),
    ("shared_buffers", "128MB"),
    ("logging_collector", "off"),
];
/// The superuser `initdb` creates; its name does not depend on who runs the tests.
const SUPERUSER: &str = "postgres";

/// The server programs this provider needs.
#[derive(Debug, Clone)]
pub(crate) struct PgBinaries {
    initdb: PathBuf,
    postgres: PathBuf,
}

/// Finds `initdb` and `postgres`: in `pg_bin_dir` only when it is set, else on `PATH`, else in the newest
/// `<pg_versions_root>/<version>/bin`. The error says where it looked.
pub(crate) fn find_binaries(config: &ProviderConfig) -> Result<PgBinaries, String> {
    let in_dir = |dir: &Path| {
        let initdb = dir.join("initdb");
        let postgres = dir.join("postgres");
        (is_executable(&initdb) && is_executable(&postgres)).then_some(PgBinaries { initdb, postgres })
    };
    if let Some(dir) = &config.pg_bin_dir {
        return in_dir(dir)
            .ok_or_else(|| format!("no initdb and postgres in {} (BILLING_TESTDB_PG_BIN)", dir.display()));
    }
    if let Some(found) =
        config.search_path.as_ref().and_then(|path| std::env::split_paths(path).find_map(|dir| in_dir(&dir)))
    {
        return Ok(found);
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(&config.pg_versions_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .iter()
        .rev()
        .find_map(|(_, dir)| in_dir(dir))
        .ok_or_else(|| format!("no initdb and postgres on PATH or under {}/*/bin", config.pg_versions_root.display()))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The unprivileged user the server programs run as when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl RunAs {
    /// `None` when we are not root (the programs run as us); the `postgres` user when we are.
    fn for_this_process() -> Result<Option<Self>, TestDbError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        match nix::unistd::User::from_name(SUPERUSER) {
            Ok(Some(user)) => Ok(Some(RunAs { uid: user.uid.as_raw(), gid: user.gid.as_raw() })),
            Ok(None) => Err(TestDbError::RootWithoutPostgresUser),
            Err(errno) => Err(TestDbError::io(format!("cannot look up the {SUPERUSER} user"), errno.into())),
        }
    }

    fn apply(self, command: &mut Command) {
        command.uid(self.uid).gid(self.gid);
    }
}

/// A running throw-away cluster. Dropping it stops the postmaster and removes the directory.
#[derive(Debug)]
pub(crate) struct LocalCluster {
    // Field order matters: fields drop in order, and the server must stop before its directory is removed.
    postmaster: Mutex<Postmaster>,
    dir: tempfile::TempDir,
    /// What it takes to start the server again on the same data and port ([`LocalCluster::start_again`]).
    binaries: PgBinaries,
    port: u16,
    run_as: Option<RunAs>,
}

/// The postmaster process; stopped when dropped, including when a start-up is abandoned half-way.
#[derive(Debug)]
struct Postmaster(Child);

impl Postmaster {
    /// Immediate shutdown (SIGQUIT: the data is thrown away anyway), then reap it.
    fn stop(&mut self) {
        self.stop_with(libc::SIGQUIT);
    }

    /// Sends `signal` (SIGINT: fast shutdown; SIGQUIT: immediate) and reaps the process.
    fn stop_with(&mut self, signal: libc::c_int) {
        if matches!(self.0.try_wait(), Ok(None)) {
            // SAFETY: the pid is our unreaped child, so it cannot have been reused.
            unsafe { libc::kill(self.0.id() as libc::pid_t, signal) };
            let _ = self.0.wait();
        }
    }
}

impl Drop for Postmaster {
    fn drop(&mut self) {
        self.stop();
    }
}

impl LocalCluster {
    /// Makes and starts a cluster; returns it with the URL of its `postgres` database.
    pub(crate) async fn start(binaries: &PgBinaries, tmp_root: &Path) -> Result<(Self, String), TestDbError> {
        let started = Instant::now();
        let run_as = RunAs::for_this_process()?;
        prepare_root(tmp_root)?;
        let swept = sweep::sweep_stale_clusters(tmp_root);
        if swept > 0 {
            tracing::info!(swept, root = %tmp_root.display(), "removed stale PostgreSQL test clusters");
        }
        let dir = make_cluster_dir(tmp_root, run_as)?;
        let data = dir.path().join("data");
        initdb(binaries, &data, run_as).await?;

        let log = dir.path().join("postgres.log");
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_loopback_port()?;
            let mut postmaster = Postmaster(spawn_postmaster(binaries, dir.path(), &data, &log, port, run_as)?);
            let url = format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres");
            let still_running = || match postmaster.0.try_wait() {
                Ok(Some(status)) => Err(TestDbError::ServerExited { status, log_tail: log_tail(&log) }),
                _ => Ok(()),
            };
            match wait_until_ready(&url, READY_DEADLINE, still_running, || log_tail(&log)).await {
                Ok(()) => {
                    let elapsed = started.elapsed();
                    tracing::info!(?elapsed, dir = %dir.path().display(), port, "local PostgreSQL test cluster is ready");
                    let cluster =
                        Self { postmaster: Mutex::new(postmaster), dir, binaries: binaries.clone(), port, run_as };
                    return Ok((cluster, url));
                }
                Err(TestDbError::ServerExited { log_tail, .. })
                    if attempt < PORT_ATTEMPTS
                        && (log_tail.contains("could not bind") || log_tail.contains("already in use")) =>
                {
                    tracing::debug!(port, "port taken before postgres could bind it; trying another");
                }
                // Dropping `postmaster`, then `dir`, cleans up.
                Err(error) => return Err(error),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The directory holding the cluster (`data/`, its log, its socket).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server with a fast shutdown (open transactions aborted, clients disconnected),
    /// keeping its data, as an operator's restart or a failover would.
    pub(crate) fn stop_server(&self) {
        self.postmaster.lock().unwrap_or_else(|p| p.into_inner()).stop_with(libc::SIGINT);
    }

    /// Starts the stopped server again, on the same data and port, and waits until it accepts
    /// connections.
    pub(crate) async fn start_again(&self) -> Result<(), TestDbError> {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("postgres.log");
        {
            let mut postmaster = self.postmaster.lock().unwrap_or_else(|p| p.into_inner());
            if matches!(postmaster.0.try_wait(), Ok(None)) {
                return Ok(());
            }
            *postmaster =
                Postmaster(spawn_postmaster(&self.binaries, self.dir.path(), &data, &log, self.port, self.run_as)?);
        }
        let url = format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port);
        let still_running = || match self.postmaster.lock().unwrap_or_else(|p| p.into_inner()).0.try_wait() {
            Ok(Some(status)) => Err(TestDbError::ServerExited { status, log_tail: log_tail(&log) }),
            _ => Ok(()),
        };
        wait_until_ready(&url, READY_DEADLINE, still_running, || log_tail(&log)).await
    }

    /// For a cluster that is never dropped (the shared one), at process exit: stop the server, remove the directory.
    pub(crate) fn stop_and_remove(&self) {
        // try_lock: at exit, never wait on a thread that may be gone.
        if let Ok(mut postmaster) = self.postmaster.try_lock() {
            postmaster.stop();
            let _ = std::fs::remove_dir_all(self.dir.path());
        }
    }
}

/// The shared root is world-writable and sticky (like /tmp) so root and ordinary users can both keep clusters in it.
fn prepare_root(root: &Path) -> Result<(), TestDbError> {
    if let Some(parent) = root.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| TestDbError::io(format!("cannot create {}", parent.display()), e))?;
    }
    match std::fs::create_dir(root) {
        Ok(()) => std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1777))
            .map_err(|e| TestDbError::io(format!("cannot make {} world-writable", root.display()), e)),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(TestDbError::io(
            format!("cannot create {} (set TMPDIR to a writable directory)", root.display()),
            error,
        )),
    }
}

fn make_cluster_dir(root: &Path, run_as: Option<RunAs>) -> Result<tempfile::TempDir, TestDbError> {
    let dir = tempfile::Builder::new()
        .prefix(CLUSTER_PREFIX)
        .tempdir_in(root)
        .map_err(|e| TestDbError::io(format!("cannot create a cluster directory in {}", root.display()), e))?;
    let owner = dir.path().join(OWNER_FILE);
    std::fs::write(&owner, format!("{}\n", std::process::id()))
        .map_err(|e| TestDbError::io(format!("cannot write {}", owner.display()), e))?;
    // Private to whoever runs initdb and postgres: the data and the socket live here.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(|e| TestDbError::io(format!("cannot make {} private", dir.path().display()), e))?;
    if let Some(run_as) = run_as {
        std::os::unix::fs::chown(dir.path(), Some(run_as.uid), Some(run_as.gid))
            .map_err(|e| TestDbError::io(format!("cannot hand {} to the postgres user", dir.path().display()), e))?;
    }
    Ok(dir)
}

async fn initdb(binaries: &PgBinaries, data: &Path, run_as: Option<RunAs>) -> Result<(), TestDbError> {
    let mut command = Command::new(&binaries.initdb);
    command
        .arg("-D")
        .arg(data)
        .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        .current_dir(data.parent().unwrap_or(Path::new("/")))
        .env_remove("PGDATA")
        .stdin(Stdio::null());
    if let Some(run_as) = run_as {
        run_as.apply(&mut command);
    }
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .map_err(|e| TestDbError::io(format!("cannot run {}", binaries.initdb.display()), e))?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(TestDbError::Initdb { status: output.status, output: text.trim().to_owned() })
}

fn spawn_postmaster(
    binaries: &PgBinaries,
    dir: &Path,
    data: &Path,
    log: &Path,
    port: u16,
    run_as: Option<RunAs>,
) -> Result<Child, TestDbError> {
    let log_file = open_log(log)?;
    let log_err = log_file.try_clone().map_err(|e| TestDbError::io(format!("cannot open {}", log.display()), e))?;
    let mut command = Command::new(&binaries.postgres);
    command.arg("-D").arg(data).arg("-c").arg(format!("port={port}"));
    command.arg("-c").arg(format!("unix_socket_directories={}", dir.display()));
    for (name, value) in TEST_SETTINGS {
        command.arg("-c").arg(format!("{name}={value}"));
    }
    command.current_dir(dir).stdin(Stdio::null()).stdout(log_file).stderr(log_err);
    if let Some(run_as) = run_as {
        run_as.apply(&mut command);
    }
    crate::spawner::spawn_tied_to_process(command, libc::SIGQUIT)
        .map_err(|e| TestDbError::io(format!("cannot start {}", binaries.postgres.display()), e))
}

fn open_log(log: &Path) -> Result<File, TestDbError> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| TestDbError::io(format!("cannot open {}", log.display()), e))?;
    let _ = writeln!(file, "--- billing-testdb: starting postgres");
    Ok(file)
}

fn free_loopback_port() -> Result<u16, TestDbError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| TestDbError::io("cannot find a free port on 127.0.0.1", e))
}

/// The last lines of the server log, for error messages.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read(log).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
