//! The provider chain: what it picks, what it says when nothing is there, and the sweep of stale clusters.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use billing_testdb::{PgServer, ProviderChoice, ProviderConfig, ProviderKind, TestDbError, sweep_stale_clusters};
use sqlx::{Connection, PgConnection};

fn config() -> ProviderConfig {
    ProviderConfig::from_env().expect("environment")
}

/// A machine with nothing: no DATABASE_URL, no Docker, and no binaries in the (empty) directory searched.
fn nothing_available(empty_dir: PathBuf) -> ProviderConfig {
    ProviderConfig {
        provider: None,
        database_url: None,
        docker_host: None,
        docker_socket: empty_dir.join("docker.sock"),
        pg_bin_dir: Some(empty_dir),
        ..config()
    }
}

#[tokio::test]
async fn with_database_url_forced_the_chain_uses_that_server() {
    let local = PgServer::start_with(&ProviderConfig { provider: Some(ProviderChoice::Local), ..config() })
        .await
        .expect("local cluster to point DATABASE_URL at");
    let via_url = PgServer::start_with(&ProviderConfig {
        provider: Some(ProviderChoice::Url),
        database_url: Some(local.admin_url()),
        ..config()
    })
    .await
    .expect("DATABASE_URL provider");
    assert_eq!(via_url.kind(), ProviderKind::DatabaseUrl);
    assert!(via_url.cluster_dir().is_none());

    let database = via_url.empty_database().await.expect("database on the DATABASE_URL server");
    assert!(database.name.starts_with("test_"));
    let mut connection = PgConnection::connect(&database.url).await.expect("connect");
    let current: String =
        sqlx::query_scalar("SELECT current_database()").fetch_one(&mut connection).await.expect("select");
    assert_eq!(current, database.name);
    connection.close().await.expect("close");
    database.drop_database().await.expect("drop");
}

#[tokio::test]
async fn a_set_database_url_comes_first_in_the_chain() {
    let local = PgServer::start_with(&ProviderConfig { provider: Some(ProviderChoice::Local), ..config() })
        .await
        .expect("local cluster");
    let empty = tempfile::tempdir().expect("tempdir");
    let chosen = PgServer::start_with(&ProviderConfig {
        database_url: Some(local.admin_url()),
        ..nothing_available(empty.path().to_path_buf())
    })
    .await
    .expect("chain");
    assert_eq!(chosen.kind(), ProviderKind::DatabaseUrl);
}

#[tokio::test]
async fn with_nothing_available_the_error_names_all_three_fixes() {
    let empty = tempfile::tempdir().expect("tempdir");
    let error = PgServer::start_with(&nothing_available(empty.path().to_path_buf())).await.expect_err("nothing to use");
    assert!(matches!(error, TestDbError::NoPostgres { .. }), "{error:?}");
    let message = error.to_string();
    eprintln!("{message}");
    for fix in ["DATABASE_URL", "Docker", "apt-get install postgresql"] {
        assert!(message.contains(fix), "{fix:?} missing from: {message}");
    }
}

#[tokio::test]
async fn a_forced_provider_that_is_missing_says_so() {
    let empty = tempfile::tempdir().expect("tempdir");
    for (choice, name) in
        [(ProviderChoice::Url, "url"), (ProviderChoice::Docker, "docker"), (ProviderChoice::Local, "local")]
    {
        let error = PgServer::start_with(&ProviderConfig {
            provider: Some(choice),
            ..nothing_available(empty.path().to_path_buf())
        })
        .await
        .expect_err("forced provider is missing");
        let message = error.to_string();
        assert!(message.contains(&format!("BILLING_TESTDB_PROVIDER={name}")), "{message}");
    }
}

#[test]
fn an_unknown_provider_value_is_refused_with_the_valid_ones() {
    let error = "podman".parse::<ProviderChoice>().expect_err("not a provider");
    let message = error.to_string();
    assert!(message.contains("\"podman\"") && message.contains("`url`, `docker` or `local`"), "{message}");
    assert_eq!(" Local ".parse::<ProviderChoice>().expect("case and spaces are forgiven"), ProviderChoice::Local);
}

#[test]
fn the_sweep_removes_clusters_of_dead_processes_and_keeps_live_ones() {
    let root = tempfile::tempdir().expect("tempdir");
    let dead_pid = {
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        pid
    };
    let stale = root.path().join("cluster-stale");
    std::fs::create_dir_all(stale.join("data")).expect("mkdir");
    std::fs::write(stale.join("data/postmaster.pid"), format!("{dead_pid}\n/some/data\n")).expect("write");

    let live = root.path().join("cluster-live");
    std::fs::create_dir_all(live.join("data")).expect("mkdir");
    std::fs::write(live.join("data/postmaster.pid"), format!("{}\n", std::process::id())).expect("write");

    let not_ours = root.path().join("something-else");
    std::fs::create_dir_all(&not_ours).expect("mkdir");

    assert_eq!(sweep_stale_clusters(root.path()), 1);
    assert!(!stale.exists(), "the dead cluster's directory is gone");
    assert!(live.exists() && not_ours.exists(), "live and foreign directories are kept");
}

#[tokio::test]
async fn when_postgres_exits_during_start_up_the_error_shows_its_log() {
    let bin = tempfile::tempdir().expect("tempdir");
    // Traversable by the postgres user, which runs these programs when we are root.
    std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let real_initdb = which("initdb");
    std::os::unix::fs::symlink(&real_initdb, bin.path().join("initdb")).expect("symlink initdb");
    let postgres = bin.path().join("postgres");
    std::fs::write(&postgres, "#!/bin/sh\necho 'FATAL:  simulated start-up failure' >&2\nexit 1\n").expect("write");
    std::fs::set_permissions(&postgres, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let error = PgServer::start_with(&ProviderConfig {
        provider: Some(ProviderChoice::Local),
        pg_bin_dir: Some(bin.path().to_path_buf()),
        ..config()
    })
    .await
    .expect_err("postgres exits at once");
    eprintln!("{error}");
    assert!(matches!(error, TestDbError::ServerExited { .. }), "{error:?}");
    assert!(error.to_string().contains("simulated start-up failure"), "{error}");
}

/// The real `initdb`, wherever the chain would find it.
fn which(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten().map(|v| v.path().join("bin")))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.exists())
        .expect("PostgreSQL server binaries are installed")
}
