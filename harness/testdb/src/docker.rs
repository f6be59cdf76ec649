//! PostgreSQL in a Docker container, through the Engine API ([`engine`]; no `docker` CLI). Tested against a fake
//! engine that follows the API's documented shapes and points the container's port at a real local PostgreSQL
//! (tests/docker.rs); untested against a real engine on the machine this was written on, which has none — hence
//! the chain falls through to the local binaries, saying why, when a container cannot be started.
//!
//! - **Reachable?** Before anything else, one `GET /_ping` to the engine (`DOCKER_HOST`, else the local socket),
//!   bounded by [`PROBE_TIMEOUT`]; no socket and no `DOCKER_HOST` is decided without a connection at all.
//! - **Start**: `POST /containers/create` of the configured image with the local cluster's test tuning, a random
//!   password and port 5432 published on a random host port (`PublishAllPorts`); if the engine has no such image,
//!   `POST /images/create` pulls it (the progress stream is read to its end; an `error` line in it fails the pull)
//!   and the create is tried once more; then `POST /containers/{id}/start`, and `GET /containers/{id}/json` for the
//!   host port; ready when PostgreSQL accepts connections there. Whatever fails after the create removes the
//!   container.
//! - **Stop**: dropping the container removes it (`DELETE /containers/{id}?force=true&v=true`). The process-wide
//!   server is never dropped, so an `atexit` hook removes its container when the process exits normally; a killed
//!   process leaves it, and the next container start on the same host removes containers whose owning process is
//!   gone (labels `billing-testdb.host` and `billing-testdb.pid`), as the local provider sweeps cluster directories.

mod engine;

use std::time::Duration;

use hyper::Method;
use serde_json::{Value, json};

use crate::config::ProviderConfig;
use crate::error::TestDbError;
use crate::ready::wait_until_ready;
use engine::{Endpoint, Engine, query_value};

/// How long the engine may take to answer `/_ping`.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a create, start, inspect, list or remove may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long pulling the image may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the container may take to accept connections once it runs (the image is pulled by then).
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// The same test tuning as the local cluster, as `postgres` arguments (the image's entrypoint prepends `postgres`).
const SERVER_ARGS: &[&str] =
    &["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300"];
/// `/dev/shm` of the container: PostgreSQL's parallel queries need more than Docker's default 64 MiB.
const SHM_SIZE: u64 = 256 * 1024 * 1024;
const LABEL: &str = "billing-testdb";
const HOST_LABEL: &str = "billing-testdb.host";
const PID_LABEL: &str = "billing-testdb.pid";
const PORT: &str = "5432/tcp";

/// Whether a Docker engine answers; the error says why not.
pub(crate) async fn engine_reachable(config: &ProviderConfig) -> Result<(), String> {
    let engine = engine(config)?;
    engine.call(Method::GET, "/_ping", None, PROBE_TIMEOUT).await?.success().map(drop)
}

/// A client of the configured engine: `DOCKER_HOST` (`unix://`, `tcp://` or `http://`), else the local socket.
fn engine(config: &ProviderConfig) -> Result<Engine, String> {
    Endpoint::from_host(config.docker_host.as_deref(), &config.docker_socket).map(Engine::new)
}

/// A running container; dropping it removes it.
#[derive(Debug)]
pub(crate) struct DockerContainer {
    id: String,
    engine: Engine,
}

impl DockerContainer {
    /// Runs the configured image and waits until it accepts connections; returns it with its admin URL.
    pub(crate) async fn start(config: &ProviderConfig) -> Result<(Self, String), TestDbError> {
        let image = &config.docker_image;
        let failed = |action: &str, detail: String| TestDbError::Docker { action: format!("{action} {image}"), detail };
        let engine = engine(config).map_err(|detail| failed("reaching the engine for", detail))?;
        remove_containers_of_dead_processes(&engine).await;
        let password = uuid::Uuid::new_v4().simple().to_string();
        let id = create(&engine, image, &password).await.map_err(|detail| failed("creating a container of", detail))?;
        // From here on, dropping `container` removes it, whatever fails.
        let container = Self { id, engine };
        let port = container.run().await.map_err(|detail| failed("starting", detail))?;
        let host = container.engine.endpoint().published_host();
        let url = format!("postgres://postgres:{password}@{host}:{port}/postgres");
        let id = container.id.clone();
        wait_until_ready(&url, READY_DEADLINE, || Ok(()), || format!("(see `docker logs {id}`)")).await?;
        Ok((container, url))
    }

    /// Starts the created container and returns the host port published for 5432.
    async fn run(&self) -> Result<String, String> {
        let path = format!("/containers/{}/start", self.id);
        let answer = self.engine.call(Method::POST, &path, None, CALL_TIMEOUT).await?;
        // 304: already started.
        if answer.status != hyper::StatusCode::NOT_MODIFIED {
            answer.success()?;
        }
        let path = format!("/containers/{}/json", self.id);
        let inspected = self.engine.call(Method::GET, &path, None, CALL_TIMEOUT).await?.json()?;
        published_port(&inspected).ok_or_else(|| format!("the engine published no host port for {PORT}: {inspected}"))
    }

    /// Removes the container, from any thread (a drop inside a runtime included), on a runtime of its own.
    fn remove(&self) {
        let (engine, id) = (self.engine.clone(), self.id.clone());
        let removal = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            runtime.map_err(|error| error.to_string())?.block_on(remove_container(&engine, &id))
        });
        if let Ok(Err(error)) = removal.join() {
            tracing::warn!(container = self.id, error, "could not remove the PostgreSQL container: `docker rm -f` it");
        }
    }

    /// For a container that is never dropped (the shared one), at process exit.
    pub(crate) fn remove_at_exit(&self) {
        self.remove();
    }
}

impl Drop for DockerContainer {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Creates the container, pulling the image first when the engine does not have it; returns its id.
async fn create(engine: &Engine, image: &str, password: &str) -> Result<String, String> {
    let body = json!({
        "Image": image,
        "Cmd": SERVER_ARGS,
        "Env": [format!("POSTGRES_PASSWORD={password}")],
        "Labels": {LABEL: "1", HOST_LABEL: hostname(), PID_LABEL: std::process::id().to_string()},
        "ExposedPorts": {PORT: {}},
        "HostConfig": {"PublishAllPorts": true, "ShmSize": SHM_SIZE},
    });
    let mut answer = engine.call(Method::POST, "/containers/create", Some(&body), CALL_TIMEOUT).await?;
    if answer.status == hyper::StatusCode::NOT_FOUND {
        tracing::info!(image, "pulling the PostgreSQL image");
        pull(engine, image).await?;
        answer = engine.call(Method::POST, "/containers/create", Some(&body), CALL_TIMEOUT).await?;
    }
    let created = answer.json()?;
    created["Id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the engine's answer has no container Id: {created}"))
}

/// Pulls `image`. The engine answers 200 at once and streams progress as JSON lines; a failure mid-way is a line
/// with `error`, so the stream is read to its end and every line looked at.
async fn pull(engine: &Engine, image: &str) -> Result<(), String> {
    let (name, tag) = split_image(image);
    let path = format!("/images/create?fromImage={}&tag={}", query_value(name), query_value(tag));
    let progress = engine.call(Method::POST, &path, None, PULL_TIMEOUT).await?.success()?;
    let failure = progress
        .split(|byte| *byte == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
        .find_map(|line| line.get("error").and_then(Value::as_str).map(str::to_owned));
    match failure {
        Some(error) => Err(format!("pulling {image}: {error}")),
        None => Ok(()),
    }
}

async fn remove_container(engine: &Engine, id: &str) -> Result<(), String> {
    let answer =
        engine.call(Method::DELETE, &format!("/containers/{id}?force=true&v=true"), None, CALL_TIMEOUT).await?;
    // 404: already gone.
    if answer.status != hyper::StatusCode::NOT_FOUND {
        answer.success()?;
    }
    Ok(())
}

/// The host port published for 5432 in a `GET /containers/{id}/json` answer; IPv4 first.
fn published_port(inspected: &Value) -> Option<String> {
    let bindings = inspected["NetworkSettings"]["Ports"][PORT].as_array()?;
    let port = |binding: &Value| binding["HostPort"].as_str().filter(|port| !port.is_empty()).map(str::to_owned);
    let mut ipv4 = bindings.iter().filter(|binding| !binding["HostIp"].as_str().unwrap_or_default().contains(':'));
    ipv4.find_map(port).or_else(|| bindings.iter().find_map(port))
}

/// Removes containers this host started for processes that are gone (killed before their `atexit` hook ran).
async fn remove_containers_of_dead_processes(engine: &Engine) {
    let filters = json!({"label": [format!("{HOST_LABEL}={}", hostname())]}).to_string();
    let path = format!("/containers/json?all=true&filters={}", query_value(&filters));
    let containers = match engine.call(Method::GET, &path, None, CALL_TIMEOUT).await.and_then(engine::Answer::json) {
        Ok(Value::Array(containers)) => containers,
        Ok(other) => return tracing::warn!(%other, "the engine's container list is not a list"),
        Err(error) => return tracing::warn!(error, "could not list the containers of earlier runs"),
    };
    for container in containers {
        let owner = container["Labels"][PID_LABEL].as_str().and_then(|pid| pid.parse::<i32>().ok());
        if let (Some(id), Some(pid)) = (container["Id"].as_str(), owner)
            && !crate::sweep::process_is_alive(pid)
        {
            match remove_container(engine, id).await {
                Ok(()) => {
                    tracing::info!(container = id, pid, "removed the PostgreSQL container of a process that is gone")
                }
                Err(error) => {
                    tracing::warn!(container = id, pid, error, "could not remove a stale PostgreSQL container")
                }
            }
        }
    }
}

/// `postgres:16-alpine` → (`postgres`, `16-alpine`); `postgres[:16]@sha256:…` → (`postgres`, `sha256:…`) (the API
/// takes a digest as the tag, and the digest decides); a registry's port is not a tag; no tag is `latest`.
fn split_image(image: &str) -> (&str, &str) {
    if let Some((name, digest)) = image.split_once('@') {
        let untagged = match name.rsplit_once(':') {
            Some((untagged, tag)) if !tag.contains('/') => untagged,
            _ => name,
        };
        return (untagged, digest);
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

fn hostname() -> String {
    nix::unistd::gethostname().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{published_port, split_image};

    #[test]
    fn an_image_reference_splits_into_name_and_tag() {
        assert_eq!(split_image("postgres:16-alpine"), ("postgres", "16-alpine"));
        assert_eq!(split_image("registry.local:5000/team/postgres:16"), ("registry.local:5000/team/postgres", "16"));
        assert_eq!(split_image("registry.local:5000/postgres"), ("registry.local:5000/postgres", "latest"));
        assert_eq!(split_image("postgres"), ("postgres", "latest"));
        assert_eq!(split_image("postgres@sha256:0123abcd"), ("postgres", "sha256:0123abcd"));
        assert_eq!(split_image("postgres:16@sha256:0123abcd"), ("postgres", "sha256:0123abcd"));
        assert_eq!(
            split_image("registry.local:5000/postgres@sha256:0123abcd"),
            ("registry.local:5000/postgres", "sha256:0123abcd")
        );
    }

    #[test]
    fn the_published_port_is_the_ipv4_binding_when_there_is_one() {
        let inspected = |bindings| json!({"NetworkSettings": {"Ports": {"5432/tcp": bindings}}});
        let both = json!([{"HostIp": "::", "HostPort": "32769"}, {"HostIp": "0.0.0.0", "HostPort": "32768"}]);
        assert_eq!(published_port(&inspected(both)).as_deref(), Some("32768"));
        let ipv6_only = json!([{"HostIp": "::", "HostPort": "32769"}]);
        assert_eq!(published_port(&inspected(ipv6_only)).as_deref(), Some("32769"));
        assert_eq!(published_port(&inspected(json!(null))), None);
        assert_eq!(published_port(&inspected(json!([{"HostIp": "0.0.0.0", "HostPort": ""}]))), None);
    }
}
