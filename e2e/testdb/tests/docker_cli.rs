//! The Docker provider, driven through a fake `docker` client: this machine has the client but no engine, so the
//! fake answers `info`/`run`/`port` and records what it was asked, while a local cluster plays the container's server.
//! What it proves: the commands we run, the port parsing, readiness, and `docker rm -f` on drop and at process exit.
//! What it cannot prove: that a real engine and the real image behave as the fake does.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use billing_testdb::{PgServer, ProviderChoice, ProviderConfig, ProviderKind};
use common::eventually;
use sqlx::{Connection, PgConnection};

const CONTAINER_ID: &str = "f4ke0c0nta1ner";

/// Writes `<dir>/docker`, which logs its arguments to `<dir>/calls.log` and publishes the container on `port`.
fn fake_docker(dir: &Path, port: u16) -> PathBuf {
    let log = dir.join("calls.log");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{log}'\ncase \"$1\" in\n  info) echo 27.0.0 ;;\n  run) echo {CONTAINER_ID} ;;\n  port) \
         echo '[::1]:{port}'; echo '127.0.0.1:{port}' ;;\n  logs) echo 'fake container log' ;;\nesac\n",
        log = log.display()
    );
    let client = dir.join("docker");
    std::fs::write(&client, script).expect("write fake docker");
    std::fs::set_permissions(&client, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    client
}

fn calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

fn port_of(url: &str) -> u16 {
    let after_host = url.rsplit_once(':').expect("port").1;
    after_host.split('/').next().expect("port").parse().expect("numeric port")
}

async fn local_server() -> PgServer {
    let config = ProviderConfig { provider: Some(ProviderChoice::Local), ..ProviderConfig::from_env().expect("env") };
    PgServer::start_with(&config).await.expect("local cluster standing in for the container")
}

#[tokio::test]
async fn the_docker_provider_runs_the_image_on_loopback_and_removes_the_container_on_drop() {
    let stand_in = local_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = fake_docker(dir.path(), port_of(&stand_in.admin_url()));
    let config = ProviderConfig {
        provider: None,
        database_url: None,
        docker_host: Some("tcp://fake-engine:2375".to_owned()),
        docker_client: client,
        ..ProviderConfig::from_env().expect("env")
    };

    let server = PgServer::start_with(&config).await.expect("docker provider");
    assert_eq!(server.kind(), ProviderKind::Docker);
    let mut connection = PgConnection::connect(&server.admin_url()).await.expect("connect");
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut connection).await.expect("select 1");
    assert_eq!(one, 1);
    connection.close().await.expect("close");

    let log = calls(dir.path());
    assert!(log.contains("info --format"), "{log}");
    let run = log.lines().find(|line| line.starts_with("run ")).expect("docker run");
    for expected in ["-d --rm", "-p 127.0.0.1::5432", "postgres:16-alpine", "-c fsync=off", "POSTGRES_PASSWORD="] {
        assert!(run.contains(expected), "{expected:?} missing from: {run}");
    }
    assert!(log.contains(&format!("port {CONTAINER_ID} 5432/tcp")), "{log}");

    drop(server);
    assert!(calls(dir.path()).contains(&format!("rm -f {CONTAINER_ID}")), "{}", calls(dir.path()));
}

/// Run by the test below in a child process whose PATH starts with the fake client: holds the process-wide server
/// and exits without dropping it.
#[tokio::test]
#[ignore = "run in a child process by a_container_is_removed_when_its_process_exits"]
async fn holds_a_shared_container_and_exits() {
    let server = PgServer::shared().await.expect("shared docker server");
    assert_eq!(server.kind(), ProviderKind::Docker);
    println!("READY");
}

#[tokio::test]
async fn a_container_is_removed_when_its_process_exits() {
    let stand_in = local_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    fake_docker(dir.path(), port_of(&stand_in.admin_url()));
    let path = std::env::join_paths(
        std::iter::once(dir.path().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "holds_a_shared_container_and_exits", "--ignored", "--nocapture"])
        .env("PATH", path)
        .env("BILLING_TESTDB_PROVIDER", "docker")
        .env("DOCKER_HOST", "tcp://fake-engine:2375")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("READY"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let removed = format!("rm -f {CONTAINER_ID}");
    assert!(
        eventually(Duration::from_secs(10), || calls(dir.path()).contains(&removed)).await,
        "the reaper did not remove the container: {}",
        calls(dir.path())
    );
}
