//! The Docker provider, on a machine without a Docker engine, as this one is:
//! - without an engine, the probe gives up fast whatever is in the way (no socket, a closed port, a socket that never
//!   answers) and the chain falls through to the local binaries;
//! - against a fake engine on a Unix socket, which answers the Engine API calls the provider makes with the shapes
//!   the API documents and "runs" the container by publishing the port of a real local PostgreSQL: the image is
//!   pulled when missing, the container is created with the tuning, labels and published port, started, used, and
//!   removed on drop; a failed pull, a refused start and containers left by killed processes are handled.
//!
//! What these cannot prove: that a real engine and the real image behave as the API documents.

use std::collections::HashMap;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use billing_testdb::{PgServer, ProviderChoice, ProviderConfig, ProviderKind, TestDbError};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

/// How long the probe may take before the chain moves on (the provider's own bound is 2 s).
const PROBE_BOUND: Duration = Duration::from_secs(3);
const CONTAINER_ID: &str = "4f1c0ffee0ddba11";

fn config(docker_host: Option<String>, docker_socket: &Path) -> ProviderConfig {
    ProviderConfig {
        provider: None,
        database_url: None,
        docker_host,
        docker_socket: docker_socket.to_path_buf(),
        docker_image: "postgres:16-alpine".to_owned(),
        ..ProviderConfig::from_env().expect("environment")
    }
}

fn forced_docker(config: ProviderConfig) -> ProviderConfig {
    ProviderConfig { provider: Some(ProviderChoice::Docker), ..config }
}

/// Forces the Docker provider and returns how long it took to give up, and what it said.
async fn docker_refusal(config: ProviderConfig) -> (Duration, String) {
    let started = Instant::now();
    let error = PgServer::start_with(&forced_docker(config)).await.expect_err("no engine here");
    assert!(matches!(error, TestDbError::ForcedProviderUnavailable { provider: "docker", .. }), "{error:?}");
    (started.elapsed(), error.to_string())
}

#[tokio::test]
async fn without_a_socket_or_docker_host_the_probe_decides_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (took, message) = docker_refusal(config(None, &dir.path().join("docker.sock"))).await;
    assert!(took < Duration::from_millis(100), "took {took:?}");
    assert!(message.contains("DOCKER_HOST is unset and") && message.contains("does not exist"), "{message}");
}

#[tokio::test]
async fn a_docker_host_on_a_closed_port_is_given_up_on_at_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let (took, message) = docker_refusal(config(Some(format!("tcp://127.0.0.1:{port}")), dir.path())).await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(message.contains("the engine did not answer GET /_ping"), "{message}");
}

#[tokio::test]
async fn a_docker_host_the_client_cannot_speak_to_is_named_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let (_, message) = docker_refusal(config(Some("ssh://me@build-host".to_owned()), dir.path())).await;
    assert!(message.contains("DOCKER_HOST=ssh://me@build-host is not"), "{message}");
    assert!(message.contains("BILLING_TESTDB_PROVIDER=local"), "{message}");
}

/// A Docker socket that accepts connections (the kernel queues them) and never answers; gone with the directory.
fn silent_socket() -> (tempfile::TempDir, UnixListener) {
    let dir = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(dir.path().join("docker.sock")).unwrap();
    (dir, listener)
}

#[tokio::test]
async fn a_socket_that_never_answers_is_given_up_on_within_the_probe_timeout() {
    let (dir, _silent) = silent_socket();

    let (took, message) = docker_refusal(config(None, &dir.path().join("docker.sock"))).await;

    assert!(took < PROBE_BOUND, "took {took:?}");
    assert!(message.contains("/_ping"), "{message}");
    assert!(message.contains("unset BILLING_TESTDB_PROVIDER"), "{message}");
}

#[tokio::test]
async fn without_an_engine_the_chain_falls_through_to_the_local_binaries() {
    let (dir, _silent) = silent_socket();

    let started = Instant::now();
    let server =
        PgServer::start_with(&config(None, &dir.path().join("docker.sock"))).await.expect("the local binaries");

    assert_eq!(server.kind(), ProviderKind::LocalBinaries);
    eprintln!("probe + fall-through + local cluster: {:?}", started.elapsed());
    assert!(started.elapsed() < PROBE_BOUND + Duration::from_secs(20), "took {:?}", started.elapsed());
}

/// What the fake engine was asked, and how it behaves.
#[derive(Debug, Default)]
struct Engine {
    /// The port of the real PostgreSQL the "container" publishes.
    postgres_port: u16,
    has_image: bool,
    /// The registry's answer to a pull, when it fails.
    pull_error: Option<String>,
    /// The engine's answer to a start, when it refuses.
    start_error: Option<String>,
    /// Containers of earlier runs: (id, labels).
    earlier: Vec<(String, HashMap<String, String>)>,
    pulls: Vec<HashMap<String, String>>,
    creates: Vec<Value>,
    starts: Vec<String>,
    list_filters: Vec<Value>,
    /// (id, query).
    removals: Vec<(String, HashMap<String, String>)>,
}

type Shared = Arc<Mutex<Engine>>;

/// A fake engine on a Unix socket, served from a thread of its own (a container is removed from `Drop`, which
/// blocks the dropping thread until the engine answers).
struct FakeEngine {
    dir: tempfile::TempDir,
    state: Shared,
}

impl FakeEngine {
    fn start(engine: Engine) -> FakeEngine {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("docker.sock")).unwrap();
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(Mutex::new(engine));
        let router = axum::Router::new()
            .route("/_ping", get(|| async { "OK" }))
            .route("/containers/json", get(list))
            .route("/containers/create", post(create))
            .route("/images/create", post(pull))
            .route("/containers/{id}/start", post(start))
            .route("/containers/{id}/json", get(inspect))
            .route("/containers/{id}", delete(remove))
            .with_state(state.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::UnixListener::from_std(listener).unwrap();
                axum::serve(listener, router).await.unwrap();
            });
        });
        FakeEngine { dir, state }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    fn config(&self) -> ProviderConfig {
        config(Some(self.host()), &self.dir.path().join("unused.sock"))
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Engine> {
        self.state.lock().unwrap()
    }
}

fn engine_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"message": message}))).into_response()
}

async fn list(State(state): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    let mut engine = state.lock().unwrap();
    assert_eq!(query.get("all").map(String::as_str), Some("true"), "stopped containers are listed too");
    let filters: Value = serde_json::from_str(&query["filters"]).expect("filters are JSON");
    engine.list_filters.push(filters.clone());
    let wanted: Vec<&str> = filters["label"].as_array().unwrap().iter().map(|label| label.as_str().unwrap()).collect();
    let matching = engine.earlier.iter().filter(|(_, labels)| {
        wanted.iter().all(|label| {
            let (key, value) = label.split_once('=').unwrap();
            labels.get(key).map(String::as_str) == Some(value)
        })
    });
    Json(json!(
        matching.map(|(id, labels)| json!({"Id": id, "Labels": labels, "State": "running"})).collect::<Vec<_>>()
    ))
}

async fn create(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut engine = state.lock().unwrap();
    engine.creates.push(body.clone());
    if !engine.has_image {
        let image = body["Image"].as_str().unwrap_or_default();
        return engine_error(StatusCode::NOT_FOUND, &format!("No such image: {image}"));
    }
    (StatusCode::CREATED, Json(json!({"Id": CONTAINER_ID, "Warnings": []}))).into_response()
}

/// A pull answers 200 at once and streams its progress, chunked, as the engine does; a failure is a line in it.
async fn pull(State(state): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut engine = state.lock().unwrap();
    engine.pulls.push(query);
    let mut lines = vec![json!({"status": "Pulling from library/postgres", "id": "16-alpine"})];
    match engine.pull_error.clone() {
        Some(error) => lines.push(json!({"errorDetail": {"message": error}, "error": error})),
        None => {
            engine.has_image = true;
            lines.push(json!({"status": "Download complete", "progressDetail": {}, "id": "9824c27679d3"}));
            lines.push(json!({"status": "Status: Downloaded newer image for postgres:16-alpine"}));
        }
    }
    let chunks = lines.into_iter().map(|line| Ok::<_, std::io::Error>(format!("{line}\r\n")));
    Response::new(Body::from_stream(futures_util::stream::iter(chunks)))
}

async fn start(State(state): State<Shared>, UrlPath(id): UrlPath<String>) -> Response {
    let mut engine = state.lock().unwrap();
    engine.starts.push(id.clone());
    if id != CONTAINER_ID {
        return engine_error(StatusCode::NOT_FOUND, &format!("No such container: {id}"));
    }
    match engine.start_error.clone() {
        Some(error) => engine_error(StatusCode::INTERNAL_SERVER_ERROR, &error),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn inspect(State(state): State<Shared>, UrlPath(id): UrlPath<String>) -> Json<Value> {
    let port = state.lock().unwrap().postgres_port.to_string();
    Json(json!({
        "Id": id,
        "State": {"Status": "running", "Running": true},
        "NetworkSettings": {"Ports": {
            "5432/tcp": [{"HostIp": "::", "HostPort": "1"}, {"HostIp": "0.0.0.0", "HostPort": port}]
        }}
    }))
}

async fn remove(
    State(state): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> StatusCode {
    state.lock().unwrap().removals.push((id, query));
    StatusCode::NO_CONTENT
}

/// A real PostgreSQL for the fake engine's container to publish.
async fn real_postgres() -> (PgServer, u16) {
    let config = ProviderConfig { provider: Some(ProviderChoice::Local), ..ProviderConfig::from_env().unwrap() };
    let server = PgServer::start_with(&config).await.expect("local binaries");
    let port = server.admin_url().rsplit_once(':').unwrap().1.split('/').next().unwrap().parse().unwrap();
    (server, port)
}

fn hostname() -> String {
    nix::unistd::gethostname().unwrap().to_string_lossy().into_owned()
}

fn removed(engine: &Engine) -> Vec<&str> {
    engine.removals.iter().map(|(id, _)| id.as_str()).collect()
}

#[tokio::test]
async fn a_missing_image_is_pulled_and_the_container_is_created_started_used_and_removed_on_drop() {
    let (_postgres, port) = real_postgres().await;
    let engine = FakeEngine::start(Engine { postgres_port: port, ..Engine::default() });

    let server = PgServer::start_with(&forced_docker(engine.config())).await.expect("a container");

    assert_eq!(server.kind(), ProviderKind::Docker);
    let url = server.admin_url();
    assert!(url.starts_with("postgres://postgres:") && url.ends_with(&format!("@127.0.0.1:{port}/postgres")), "{url}");
    let database = server.empty_database().await.expect("a database on the container's server");
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let answer: i32 = sqlx::query_scalar("SELECT 41 + 1").fetch_one(&mut connection).await.unwrap();
    assert_eq!(answer, 42);
    connection.close().await.unwrap();
    {
        let seen = engine.seen();
        assert_eq!(seen.pulls.len(), 1, "pulled once, after the engine said it has no such image");
        assert_eq!(seen.pulls[0].get("fromImage").map(String::as_str), Some("postgres"));
        assert_eq!(seen.pulls[0].get("tag").map(String::as_str), Some("16-alpine"));
        assert_eq!(seen.creates.len(), 2, "created again once the image is there");
        let created = &seen.creates[1];
        assert_eq!(created["Image"], "postgres:16-alpine");
        let command = created["Cmd"].as_array().expect("a command");
        assert!(command.contains(&json!("fsync=off")) && command.contains(&json!("max_connections=300")), "{created}");
        let password = url.trim_start_matches("postgres://postgres:").split('@').next().unwrap();
        assert_eq!(created["Env"], json!([format!("POSTGRES_PASSWORD={password}")]));
        assert_eq!(created["ExposedPorts"], json!({"5432/tcp": {}}));
        assert_eq!(created["HostConfig"]["PublishAllPorts"], true);
        assert_eq!(created["Labels"]["billing-testdb.pid"], std::process::id().to_string());
        assert_eq!(created["Labels"]["billing-testdb.host"], hostname());
        assert_eq!(seen.starts, [CONTAINER_ID]);
        assert_eq!(seen.list_filters, [json!({"label": [format!("billing-testdb.host={}", hostname())]})]);
        assert!(seen.removals.is_empty(), "nothing removed while in use");
    }

    drop(database);
    drop(server);

    let seen = engine.seen();
    assert_eq!(removed(&seen), [CONTAINER_ID], "the container is removed when the server is dropped");
    let query = &seen.removals[0].1;
    assert_eq!((query["force"].as_str(), query["v"].as_str()), ("true", "true"), "stopped and its volume removed");
}

#[tokio::test]
async fn a_failed_pull_is_reported_with_the_registry_reason_and_nothing_is_left() {
    let engine = FakeEngine::start(Engine {
        pull_error: Some("manifest for postgres:16-alpine not found: manifest unknown".to_owned()),
        ..Engine::default()
    });

    let error = PgServer::start_with(&forced_docker(engine.config())).await.expect_err("no image");

    let message = error.to_string();
    assert!(message.starts_with("Docker: creating a container of postgres:16-alpine failed:"), "{message}");
    assert!(message.contains("manifest unknown"), "the registry's reason: {message}");
    assert!(message.contains("BILLING_TESTDB_PROVIDER=local"), "the way out: {message}");
    let seen = engine.seen();
    assert_eq!(seen.creates.len(), 1, "not created again after a failed pull");
    assert!(seen.starts.is_empty() && seen.removals.is_empty());
}

#[tokio::test]
async fn an_engine_that_refuses_to_start_the_container_is_reported_with_its_reason_and_the_container_removed() {
    let engine = FakeEngine::start(Engine {
        has_image: true,
        start_error: Some("fake engine: no space left on device".to_owned()),
        ..Engine::default()
    });

    let error = PgServer::start_with(&forced_docker(engine.config())).await.expect_err("the fake runs nothing");

    assert!(matches!(error, TestDbError::Docker { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("Docker: starting postgres:16-alpine failed:"), "{message}");
    assert!(message.contains("500 Internal Server Error: fake engine: no space left on device"), "{message}");
    assert_eq!(removed(&engine.seen()), [CONTAINER_ID], "a container that never ran is not left behind");
}

#[tokio::test]
async fn an_engine_that_gives_no_container_is_passed_over_by_the_chain() {
    let engine = FakeEngine::start(Engine {
        has_image: true,
        start_error: Some("fake engine: no space left on device".to_owned()),
        ..Engine::default()
    });

    let server = PgServer::start_with(&engine.config()).await.expect("the next provider");

    assert_eq!(server.kind(), ProviderKind::LocalBinaries);
    assert_eq!(engine.seen().starts, [CONTAINER_ID], "Docker was tried first");
}

#[tokio::test]
async fn containers_of_processes_that_are_gone_are_removed_before_a_new_one_starts() {
    let (_postgres, port) = real_postgres().await;
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id().to_string();
    child.wait().unwrap();
    let labels = |host: String, pid: &str| {
        HashMap::from([
            ("billing-testdb".to_owned(), "1".to_owned()),
            ("billing-testdb.host".to_owned(), host),
            ("billing-testdb.pid".to_owned(), pid.to_owned()),
        ])
    };
    let engine = FakeEngine::start(Engine {
        postgres_port: port,
        has_image: true,
        earlier: vec![
            ("left-by-a-killed-run".to_owned(), labels(hostname(), &dead_pid)),
            ("of-a-running-process".to_owned(), labels(hostname(), &std::process::id().to_string())),
            ("of-another-host".to_owned(), labels("another-host".to_owned(), &dead_pid)),
        ],
        ..Engine::default()
    });

    let server = PgServer::start_with(&forced_docker(engine.config())).await.expect("a container");

    assert_eq!(removed(&engine.seen()), ["left-by-a-killed-run"], "only the dead process's container on this host");
    drop(server);
    assert_eq!(removed(&engine.seen()), ["left-by-a-killed-run", CONTAINER_ID]);
}
