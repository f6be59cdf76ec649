//! The throw-away local cluster: it starts as whoever runs the tests (as root, by switching to the `postgres` user),
//! answers queries, keeps every file it uses in its own directory, and leaves nothing behind once dropped.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use billing_testdb::{PgServer, ProviderChoice, ProviderConfig, ProviderKind};
use common::eventually;
use sqlx::{Connection, PgConnection};

fn local_config() -> ProviderConfig {
    ProviderConfig { provider: Some(ProviderChoice::Local), ..ProviderConfig::from_env().expect("environment") }
}

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

async fn select_one(url: &str) -> i32 {
    let mut connection = PgConnection::connect(url).await.expect("connect");
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut connection).await.expect("select 1");
    connection.close().await.expect("close");
    one
}

fn owner_uid(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").uid()
}

#[tokio::test]
async fn a_local_cluster_answers_belongs_to_the_server_user_and_is_removed_on_drop() {
    let started = Instant::now();
    let server = PgServer::start_with(&local_config()).await.expect("local cluster");
    eprintln!("local cluster (initdb + start + first connection) ready in {:?}", started.elapsed());
    assert_eq!(server.kind(), ProviderKind::LocalBinaries);
    assert_eq!(select_one(&server.admin_url()).await, 1);

    let dir = server.cluster_dir().expect("a local cluster has a directory").to_path_buf();
    let expected_owner = if euid() == 0 { postgres_uid() } else { euid() };
    assert_eq!(owner_uid(&dir.join("data")), expected_owner, "data dir owner");

    drop(server);
    assert!(eventually(Duration::from_secs(10), || !dir.exists()).await, "{} still exists after drop", dir.display());
}

#[tokio::test]
async fn every_file_a_local_cluster_reads_or_writes_is_inside_its_own_directory() {
    let server = PgServer::start_with(&local_config()).await.expect("local cluster");
    let dir = server.cluster_dir().expect("a local cluster has a directory").to_path_buf();
    let mut connection = PgConnection::connect(&server.admin_url()).await.expect("connect");
    for setting in ["data_directory", "config_file", "hba_file", "ident_file", "unix_socket_directories"] {
        let value: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(&mut connection)
            .await
            .expect("show");
        assert!(Path::new(&value).starts_with(&dir), "{setting} = {value} is outside {}", dir.display());
    }
    for (setting, off) in [("external_pid_file", ""), ("logging_collector", "off")] {
        let value: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(&mut connection)
            .await
            .expect("show");
        assert_eq!(value, off, "{setting} would write outside the cluster directory");
    }
    connection.close().await.expect("close");
}

#[tokio::test]
async fn the_shared_server_is_started_once_and_serves_every_caller() {
    let (first, second) = tokio::join!(PgServer::shared(), PgServer::shared());
    let (first, second) = (first.expect("shared server"), second.expect("shared server"));
    assert!(std::ptr::eq(first, second));
    assert_eq!(select_one(&first.admin_url()).await, 1);
}

/// Run by the test below as the `postgres` user: no uid switch happens when we are not root.
#[tokio::test]
#[ignore = "run as the postgres user by as_an_ordinary_user_the_cluster_starts_without_switching_users"]
async fn starts_as_an_ordinary_user() {
    assert_ne!(euid(), 0, "this test must run as an ordinary user");
    let server = PgServer::start_with(&local_config()).await.expect("local cluster as an ordinary user");
    assert_eq!(select_one(&server.admin_url()).await, 1);
    let dir = server.cluster_dir().expect("cluster dir").to_path_buf();
    assert_eq!(owner_uid(&dir.join("data")), euid());
    drop(server);
    assert!(eventually(Duration::from_secs(10), || !dir.exists()).await);
}

#[test]
fn as_an_ordinary_user_the_cluster_starts_without_switching_users() {
    if euid() != 0 {
        eprintln!("not root: the other tests already run as an ordinary user");
        return;
    }
    let test_binary = std::env::current_exe().expect("test binary path");
    let output = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(&test_binary)
        .args(["--exact", "starts_as_an_ordinary_user", "--ignored", "--nocapture"])
        .output()
        .expect("runuser (util-linux) must be installed to run this test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the run as postgres failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

fn postgres_uid() -> u32 {
    let output = std::process::Command::new("id").args(["-u", "postgres"]).output().expect("id");
    String::from_utf8_lossy(&output.stdout).trim().parse().expect("postgres uid")
}

/// Run by the tests below in a child process: starts the process-wide cluster, reports it, and ends the process
/// either normally (statics are never dropped, the `atexit` hook runs) or killed (nothing of ours runs).
#[tokio::test]
#[ignore = "run in a child process by the two tests below"]
async fn holds_the_shared_cluster_and_exits() {
    let server = PgServer::shared().await.expect("shared server");
    let dir = server.cluster_dir().expect("local cluster");
    let pid = std::fs::read_to_string(dir.join("data/postmaster.pid")).expect("postmaster.pid");
    println!("CLUSTER {} {}", pid.lines().next().expect("pid line"), dir.display());
    if std::env::var_os("KILL_AFTERWARDS").is_some() {
        use std::io::Write;
        std::io::stdout().flush().expect("flush");
        // SAFETY: ends this process the way the OOM killer would; no core file, unlike abort().
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// Runs `holds_the_shared_cluster_and_exits` in a child process; returns the postmaster's pid and the cluster dir.
fn run_child_holding_the_shared_cluster(killed: bool) -> (i32, PathBuf) {
    let mut command = std::process::Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["--exact", "holds_the_shared_cluster_and_exits", "--ignored", "--nocapture"])
        .env("BILLING_TESTDB_PROVIDER", "local")
        // The process-wide server of its own, even in a run whose processes share one.
        .env_remove(billing_testdb::SHARED_URL_ENV);
    if killed {
        command.env("KILL_AFTERWARDS", "1");
    }
    let output = command.output().expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.success(),
        !killed,
        "child ended unexpectedly ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().find_map(|line| line.strip_prefix("CLUSTER ")).expect("the child reports its cluster");
    let (pid, dir) = line.split_once(' ').expect("pid and dir");
    (pid.parse().expect("pid"), PathBuf::from(dir))
}

#[tokio::test]
async fn a_shared_cluster_is_stopped_and_removed_when_its_process_exits() {
    let (pid, dir) = run_child_holding_the_shared_cluster(false);
    assert!(!billing_testdb::process_is_alive(pid), "postmaster {pid} outlived its process");
    assert!(!dir.exists(), "{} outlived its process", dir.display());
}

#[tokio::test]
async fn a_shared_cluster_dies_with_a_killed_process_and_is_swept_later() {
    let (pid, dir) = run_child_holding_the_shared_cluster(true);
    assert!(
        eventually(Duration::from_secs(10), || { !billing_testdb::process_is_alive(pid) }).await,
        "postmaster {pid} outlived its process"
    );
    assert!(dir.exists(), "nothing of ours ran at SIGKILL, so the directory is still there");
    billing_testdb::sweep_stale_clusters(dir.parent().expect("root"));
    assert!(!dir.exists(), "the sweep removes the directory of the dead cluster");
}

#[tokio::test]
async fn a_stopped_server_refuses_connections_and_starts_again_with_its_data() {
    let server = PgServer::start_with(&local_config()).await.expect("local cluster");
    let database = server.empty_database().await.expect("a database");
    let mut connection = PgConnection::connect(&database.url).await.expect("connect");
    sqlx::query("CREATE TABLE kept (n int)").execute(&mut connection).await.unwrap();
    sqlx::query("INSERT INTO kept VALUES (42)").execute(&mut connection).await.unwrap();
    connection.close().await.unwrap();

    server.stop_server().expect("a local cluster can be stopped");
    assert!(PgConnection::connect(&database.url).await.is_err(), "nothing answers while it is stopped");
    server.start_server().await.expect("it starts again");

    let mut connection = PgConnection::connect(&database.url).await.expect("connect again");
    let kept: i32 = sqlx::query_scalar("SELECT n FROM kept").fetch_one(&mut connection).await.unwrap();
    assert_eq!(kept, 42, "same data, same port");
}
