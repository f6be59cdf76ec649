//! `e2e stack up` as a person and a container runtime use it: it prints working URLs and an
//! API key, and stops cleanly on Ctrl-C (SIGINT) and on SIGTERM (what containers and Kubernetes
//! send), leaving nothing running.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::StackUp;

/// The PostgreSQL cluster directories under a test-database root.
fn clusters_under(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("billing-testdb"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("cluster-"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn stack_up_prints_a_working_service_and_key_and_stops_on_ctrl_c() {
    let mut stack = StackUp::start(&[]);
    let service = stack.service_url();
    let key = stack.demo_key();

    let http = billing_service::tls::client();
    let health = http.get(format!("{service}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let usage = http.get(format!("{service}/api/v1/usage")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(usage.status(), 200);

    stack.signal("INT");

    let status = stack.wait_for_exit(Duration::from_secs(30)).expect("stops within 30 s of Ctrl-C");
    assert!(status.success(), "exit status {status}");
    assert!(http.get(format!("{service}/healthz")).send().await.is_err(), "the service is gone");
}

#[tokio::test]
async fn stack_up_stops_cleanly_on_sigterm_and_leaves_nothing_running() {
    // The stack's PostgreSQL cluster lives under $TMPDIR/billing-testdb: a root of this test's own.
    let root = tempfile::tempdir().unwrap();
    // As root the cluster runs as the `postgres` user, which must reach the directory.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut stack = StackUp::start(&[("TMPDIR", root.path().into())]);
    let service = stack.service_url();
    let address = service.trim_start_matches("http://").to_string();
    assert_eq!(clusters_under(root.path()).len(), 1, "the stack's cluster is where TMPDIR says");
    assert!(std::net::TcpStream::connect(&address).is_ok(), "the service listens on {address}");
    let database = stack.field("database");
    let postgres = database.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap().to_string();
    assert!(std::net::TcpStream::connect(&postgres).is_ok(), "PostgreSQL listens on {postgres}");

    stack.signal("TERM");

    let status = stack.wait_for_exit(Duration::from_secs(20)).expect("exits within 20 s of SIGTERM");
    assert!(status.success(), "a SIGTERM is a clean stop, exit 0: {status}");
    assert_eq!(clusters_under(root.path()), Vec::<String>::new(), "the PostgreSQL cluster directory is removed");
    assert!(std::net::TcpStream::connect(&address).is_err(), "the service port {address} is closed");
    assert!(std::net::TcpStream::connect(&postgres).is_err(), "PostgreSQL on {postgres} is stopped");
}
