//! The Docker provider (testcontainers) on a machine without a Docker engine, as this one is: the probe gives up
//! fast whatever is in the way (no socket, a closed port, a socket that never answers), the chain then falls
//! through to the local binaries, and an engine that answers but refuses to run the container is reported as such
//! (a fake engine on a unix socket stands in for it). What these cannot prove: that a real engine and the real
//! image behave as testcontainers expects. Built with the crate's `docker` feature only (`.ci/run` runs them):
//! `cargo test -p billing-testdb --features docker`.

#![cfg(feature = "docker")]

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use billing_testdb::{PgServer, ProviderChoice, ProviderConfig, ProviderKind, TestDbError};

/// How long the probe may take before the chain moves on (the provider's own bound is 2 s).
const PROBE_BOUND: Duration = Duration::from_secs(3);

fn config(docker_host: Option<String>, docker_socket: &Path) -> ProviderConfig {
    ProviderConfig {
        provider: None,
        database_url: None,
        docker_host,
        docker_socket: docker_socket.to_path_buf(),
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
    assert!(message.contains("the engine did not answer /_ping"), "{message}");
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

/// Run by the test below in a child process whose `DOCKER_HOST` is a fake engine (testcontainers reads the
/// environment): the engine answers `/_ping` and refuses everything else.
#[tokio::test]
#[ignore = "run in a child process by an_engine_that_refuses_to_run_the_container_is_reported_with_its_reason"]
async fn asks_a_refusing_engine_for_a_container() {
    let socket = std::env::var("FAKE_ENGINE_SOCKET").expect("FAKE_ENGINE_SOCKET");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let engine = axum::Router::new().route("/_ping", axum::routing::get(|| async { "OK" })).fallback(|| async {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(serde_json::json!({"message": "fake engine: no space left on device"})),
        )
    });
    tokio::spawn(async move { axum::serve(listener, engine).await });

    let error = PgServer::start().await.expect_err("the fake engine runs nothing");
    println!("ERROR {error}");
    assert!(matches!(error, TestDbError::Docker { .. }), "{error:?}");
}

#[test]
fn an_engine_that_refuses_to_run_the_container_is_reported_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("fake-engine.sock");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "asks_a_refusing_engine_for_a_container", "--ignored", "--nocapture"])
        .env("FAKE_ENGINE_SOCKET", &socket)
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .env("BILLING_TESTDB_PROVIDER", "docker")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let message = stdout.lines().find_map(|line| line.strip_prefix("ERROR ")).expect("the child's error");
    eprintln!("{message}");
    assert!(message.starts_with("Docker: starting postgres:16-alpine failed:"), "{message}");
    assert!(message.contains("no space left on device"), "the engine's reason: {message}");
    assert!(message.contains("BILLING_TESTDB_PROVIDER=local"), "the way out: {message}");
}
