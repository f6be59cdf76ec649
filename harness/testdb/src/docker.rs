//! PostgreSQL in a Docker container, through `testcontainers` (on `bollard`, the Docker Engine API; no `docker` CLI).
//! Untested against a real engine on the machine this was written on, which has none: the tests prove that without
//! an engine the chain fails fast and falls through, and that an engine's refusal comes back as a clear error.
//!
//! - **Reachable?** Before anything else, one `GET /_ping` to the engine (`DOCKER_HOST`, else the local socket),
//!   bounded by [`PROBE_TIMEOUT`]; no socket and no `DOCKER_HOST` is decided without a connection at all.
//! - **Start**: the configured image (pulled if missing) with the local cluster's test tuning, a random password and
//!   port 5432 published on a random host port; ready when it accepts connections.
//! - **Stop**: dropping the container removes it (testcontainers does that). The process-wide server is never
//!   dropped, so an `atexit` hook removes its container when the process exits normally; a killed process leaves it,
//!   and the next container start on the same host removes containers whose owning process is gone (labels
//!   `billing-testdb.host` and `billing-testdb.pid`), as the local provider sweeps cluster directories.

use std::collections::HashMap;
use std::time::Duration;

use testcontainers::bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use testcontainers::bollard::{API_DEFAULT_VERSION, Docker};
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::config::ProviderConfig;
use crate::error::TestDbError;
use crate::ready::wait_until_ready;

/// How long the engine may take to answer `/_ping`.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the container may take to accept connections once it runs (the image is pulled by then).
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// The same test tuning as the local cluster, as `postgres` arguments (the image's entrypoint prepends `postgres`).
const SERVER_ARGS: &[&str] =
    &["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300"];
const LABEL: &str = "billing-testdb";
const HOST_LABEL: &str = "billing-testdb.host";
const PID_LABEL: &str = "billing-testdb.pid";

/// Whether a Docker engine answers; the error says why not.
pub(crate) async fn engine_reachable(config: &ProviderConfig) -> Result<(), String> {
    let docker = engine(config)?;
    match tokio::time::timeout(PROBE_TIMEOUT, docker.ping()).await {
        Err(_) => Err(format!("the engine did not answer /_ping within {PROBE_TIMEOUT:?}")),
        Ok(Err(error)) => Err(format!("the engine did not answer /_ping: {error}")),
        Ok(Ok(_)) => Ok(()),
    }
}

/// A client of the configured engine: `DOCKER_HOST` (`unix://` or `tcp://`/`http://`), else the local socket.
fn engine(config: &ProviderConfig) -> Result<Docker, String> {
    let timeout = PROBE_TIMEOUT.as_secs().max(1);
    let connected = match config.docker_host.as_deref() {
        None if !config.docker_socket.exists() => {
            return Err(format!("DOCKER_HOST is unset and {} does not exist", config.docker_socket.display()));
        }
        None => Docker::connect_with_unix(&config.docker_socket.to_string_lossy(), timeout, API_DEFAULT_VERSION),
        Some(host) if host.starts_with("unix://") => Docker::connect_with_unix(host, timeout, API_DEFAULT_VERSION),
        Some(host) if host.starts_with("tcp://") || host.starts_with("http://") => {
            Docker::connect_with_http(host, timeout, API_DEFAULT_VERSION)
        }
        Some(host) => return Err(format!("DOCKER_HOST={host} is not a unix://, tcp:// or http:// address")),
    };
    connected.map_err(|error| format!("cannot connect to the engine: {error}"))
}

/// A running container; dropping it removes it.
#[derive(Debug)]
pub(crate) struct DockerContainer {
    container: ContainerAsync<GenericImage>,
    /// Where the engine is, to remove the container at exit with a client of that moment.
    config: ProviderConfig,
}

impl DockerContainer {
    /// Runs the configured image and waits until it accepts connections; returns it with its admin URL.
    pub(crate) async fn start(config: &ProviderConfig) -> Result<(Self, String), TestDbError> {
        if let Ok(docker) = engine(config) {
            remove_containers_of_dead_processes(&docker).await;
        }
        let password = uuid::Uuid::new_v4().simple().to_string();
        let (name, tag) = split_image(&config.docker_image);
        let container = GenericImage::new(name, tag)
            .with_exposed_port(5432.tcp())
            .with_wait_for(WaitFor::Nothing)
            .with_env_var("POSTGRES_PASSWORD", &password)
            .with_cmd(SERVER_ARGS.iter().copied())
            .with_shm_size(256 * 1024 * 1024)
            .with_labels([
                (LABEL, "1".to_owned()),
                (HOST_LABEL, hostname()),
                (PID_LABEL, std::process::id().to_string()),
            ])
            .start()
            .await
            .map_err(|error| docker_error(format!("starting {}", config.docker_image), error))?;
        let port = container
            .get_host_port_ipv4(5432.tcp())
            .await
            .map_err(|error| docker_error("finding the published port of 5432/tcp".into(), error))?;
        let host =
            container.get_host().await.map_err(|error| docker_error("finding the engine's host".into(), error))?;
        let url = format!("postgres://postgres:{password}@{host}:{port}/postgres");
        let container = Self { container, config: config.clone() };
        wait_until_ready(&url, READY_DEADLINE, || Ok(()), || String::from("(see `docker logs` of the container)"))
            .await?;
        Ok((container, url))
    }

    /// For a container that is never dropped (the shared one), at process exit: remove it, on a runtime of its own.
    pub(crate) fn remove_at_exit(&self) {
        let id = self.container.id().to_owned();
        let Ok(docker) = engine(&self.config) else { return };
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        let _ = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), docker.remove_container(&id, Some(options))).await
        });
    }
}

/// Removes containers this host started for processes that are gone (killed before their `atexit` hook ran).
async fn remove_containers_of_dead_processes(docker: &Docker) {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{HOST_LABEL}={}", hostname())])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let Ok(Ok(containers)) = tokio::time::timeout(PROBE_TIMEOUT, docker.list_containers(Some(options))).await else {
        return;
    };
    for container in containers {
        let labels = container.labels.unwrap_or_default();
        let owner = labels.get(PID_LABEL).and_then(|pid| pid.parse::<i32>().ok());
        if let (Some(id), Some(pid)) = (container.id, owner)
            && !crate::sweep::process_is_alive(pid)
        {
            let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
            let _ = docker.remove_container(&id, Some(options)).await;
            tracing::info!(container = id, pid, "removed the PostgreSQL container of a process that is gone");
        }
    }
}

/// `postgres:16-alpine` → (`postgres`, `16-alpine`); a registry's port is not a tag; no tag is `latest`.
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

fn hostname() -> String {
    nix::unistd::gethostname().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

fn docker_error(action: String, error: testcontainers::TestcontainersError) -> TestDbError {
    TestDbError::Docker { action, detail: error.to_string() }
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn an_image_reference_splits_into_name_and_tag() {
        assert_eq!(split_image("postgres:16-alpine"), ("postgres", "16-alpine"));
        assert_eq!(split_image("registry.local:5000/team/postgres:16"), ("registry.local:5000/team/postgres", "16"));
        assert_eq!(split_image("registry.local:5000/postgres"), ("registry.local:5000/postgres", "latest"));
        assert_eq!(split_image("postgres"), ("postgres", "latest"));
    }
}
