//! PostgreSQL in a Docker container, driven through the `docker` CLI (no testcontainers: its build time on two
//! cores is not worth it). Untested on the machine this was written on, which has a client but no engine.
//!
//! The container is published on a random loopback port and removed (`docker rm -f`) on drop. A process-wide server
//! is never dropped, so a small reaper shell, tied to this process by a parent-death signal, removes the container
//! when the process ends.

use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::TestDbError;
use crate::config::ProviderConfig;
use crate::ready::wait_until_ready;

/// How long `docker info` may take to prove an engine answers.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the container may take to accept connections once `docker run` returned (the image is pulled by then).
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// The same test tuning as the local cluster, as `postgres` arguments.
const SERVER_ARGS: &[&str] =
    &["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300"];
/// Removes the container named by `$1` with the client `$2` when this shell is told to stop.
const REAPER_SCRIPT: &str = r#"trap 'kill $! 2>/dev/null; "$2" rm -f "$1" >/dev/null 2>&1; exit 0' TERM INT QUIT HUP
while :; do sleep 3600 & wait $!; done"#;

/// Whether a Docker engine answers; the error says why not.
pub(crate) async fn engine_reachable(config: &ProviderConfig) -> Result<(), String> {
    if config.docker_host.is_none() && !config.docker_socket.exists() {
        return Err(format!("DOCKER_HOST is unset and {} does not exist", config.docker_socket.display()));
    }
    let mut info = tokio::process::Command::from(docker(config));
    info.args(["info", "--format", "{{.ServerVersion}}"]).kill_on_drop(true);
    match tokio::time::timeout(PROBE_TIMEOUT, info.output()).await {
        Err(_) => Err(format!("`docker info` did not answer within {PROBE_TIMEOUT:?}")),
        Ok(Err(error)) => Err(format!("cannot run {}: {error}", config.docker_client.display())),
        Ok(Ok(output)) if !output.status.success() => {
            Err(format!("`docker info` failed: {}", first_line(&String::from_utf8_lossy(&output.stderr))))
        }
        Ok(Ok(_)) => Ok(()),
    }
}

/// A running container; dropping it removes it.
#[derive(Debug)]
pub(crate) struct DockerContainer {
    id: String,
    client: Command,
    reaper: Mutex<Option<Child>>,
}

impl DockerContainer {
    /// Runs the configured image and waits until it accepts connections; returns it with its admin URL.
    pub(crate) async fn start(config: &ProviderConfig) -> Result<(Self, String), TestDbError> {
        let password = uuid::Uuid::new_v4().simple().to_string();
        let image = config.docker_image.as_str();
        let mut run = docker(config);
        run.args(["run", "-d", "--rm", "--shm-size", "256m", "--label", "billing-testdb=1"])
            .args(["-e", &format!("POSTGRES_PASSWORD={password}"), "-p", "127.0.0.1::5432", image])
            .args(SERVER_ARGS);
        let id = run_client(run, &format!("`docker run {image}`")).await?;
        let container = Self { id: id.clone(), client: docker(config), reaper: Mutex::new(None) };
        // From here on, dropping `container` removes it.
        *container.reaper.lock().unwrap_or_else(PoisonError::into_inner) = spawn_reaper(config, &id);

        let mut port_query = docker(config);
        port_query.args(["port", &id, "5432/tcp"]);
        let published = run_client(port_query, "`docker port`").await?;
        let port = published
            .lines()
            .find(|line| line.starts_with("127.0.0.1:"))
            .and_then(|line| line.rsplit(':').next())
            .and_then(|port| port.trim().parse::<u16>().ok())
            .ok_or_else(|| TestDbError::Docker {
                action: "`docker port`".to_owned(),
                detail: format!("no 127.0.0.1 port for 5432/tcp in {published:?}"),
            })?;
        let url = format!("postgres://postgres:{password}@127.0.0.1:{port}/postgres");
        let logs = || container_logs(config, &id);
        wait_until_ready(&url, READY_DEADLINE, || Ok(()), logs).await?;
        Ok((container, url))
    }
}

impl Drop for DockerContainer {
    fn drop(&mut self) {
        if let Some(mut reaper) = self.reaper.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
        let _ = self.client.args(["rm", "-f", &self.id]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// A `docker` command aimed at the configured engine.
fn docker(config: &ProviderConfig) -> Command {
    let mut command = Command::new(&config.docker_client);
    if let Some(host) = &config.docker_host {
        command.env("DOCKER_HOST", host);
    }
    command.stdin(Stdio::null());
    command
}

/// Runs a client command and returns its trimmed standard output.
async fn run_client(command: Command, action: &str) -> Result<String, TestDbError> {
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .map_err(|error| TestDbError::Docker { action: action.to_owned(), detail: error.to_string() })?;
    if !output.status.success() {
        return Err(TestDbError::Docker {
            action: action.to_owned(),
            detail: format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn spawn_reaper(config: &ProviderConfig, id: &str) -> Option<Child> {
    let mut reaper = Command::new("sh");
    reaper.args(["-c", REAPER_SCRIPT, "billing-testdb-reaper", id]).arg(&config.docker_client);
    if let Some(host) = &config.docker_host {
        reaper.env("DOCKER_HOST", host);
    }
    reaper.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    match crate::spawner::spawn_tied_to_process(reaper, libc::SIGTERM) {
        Ok(child) => Some(child),
        Err(error) => {
            tracing::warn!(%error, container = id, "cannot start the reaper; the container may outlive this process");
            None
        }
    }
}

fn container_logs(config: &ProviderConfig, id: &str) -> String {
    docker(config)
        .args(["logs", "--tail", "20", id])
        .output()
        .map(|output| {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            text
        })
        .unwrap_or_else(|error| format!("(no logs: {error})"))
}

fn first_line(text: &str) -> &str {
    text.lines().find(|line| !line.trim().is_empty()).unwrap_or("no output").trim()
}
