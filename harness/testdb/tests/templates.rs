//! Per-test databases cloned from one migrated template: made once however many tests ask at the same time, and
//! isolated from each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use billing_testdb::{PgServer, ProviderKind, SHARED_URL_ENV, TestDatabase};
use sqlx::{Connection, PgConnection};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn migrate(url: String) -> Result<(), BoxError> {
    let mut connection = PgConnection::connect(&url).await?;
    sqlx::raw_sql("CREATE TABLE invoices (id bigserial PRIMARY KEY, customer text NOT NULL)")
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

async fn invoice_customers(database: &TestDatabase) -> Vec<String> {
    let mut connection = PgConnection::connect(&database.url).await.expect("connect");
    let customers = sqlx::query_scalar("SELECT customer FROM invoices ORDER BY id")
        .fetch_all(&mut connection)
        .await
        .expect("select");
    connection.close().await.expect("close");
    customers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_clones_are_distinct_isolated_and_share_one_prepare() {
    let server = PgServer::shared().await.expect("server");
    let fingerprint = format!("templates-test-{}", uuid::Uuid::new_v4());
    let prepared = Arc::new(AtomicUsize::new(0));

    let clones = (0..20).map(|_| {
        let prepared = Arc::clone(&prepared);
        let fingerprint = fingerprint.clone();
        async move {
            let template = server
                .template(&fingerprint, |url| {
                    prepared.fetch_add(1, Ordering::SeqCst);
                    migrate(url)
                })
                .await
                .expect("template");
            server.database_from_template(&template).await.expect("clone")
        }
    });
    let databases = futures_join_all(clones).await;

    assert_eq!(prepared.load(Ordering::SeqCst), 1, "prepare must run once");
    let mut names: Vec<&str> = databases.iter().map(|db| db.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20, "every clone is its own database");

    let (first, second) = (&databases[0], &databases[1]);
    let mut connection = PgConnection::connect(&first.url).await.expect("connect");
    sqlx::query("INSERT INTO invoices (customer) VALUES ('cus_first')").execute(&mut connection).await.expect("insert");
    connection.close().await.expect("close");
    assert_eq!(invoice_customers(first).await, vec!["cus_first".to_owned()]);
    assert!(invoice_customers(second).await.is_empty(), "a row written in one clone is visible in another");

    for database in databases {
        database.drop_database().await.expect("drop");
    }
}

#[tokio::test]
async fn a_failed_prepare_is_reported_and_retried_by_the_next_caller() {
    let server = PgServer::shared().await.expect("server");
    let fingerprint = format!("failing-{}", uuid::Uuid::new_v4());
    let error = server
        .template(&fingerprint, |_url| async { Err::<(), BoxError>("migration 0002 is broken".into()) })
        .await
        .expect_err("prepare failed");
    assert!(error.to_string().contains("migration 0002 is broken"), "{error}");

    let template = server.template(&fingerprint, migrate).await.expect("second attempt");
    let database = server.database_from_template(&template).await.expect("clone");
    assert!(invoice_customers(&database).await.is_empty());
    database.drop_database().await.expect("drop");
}

#[tokio::test]
async fn an_empty_database_can_be_dropped() {
    let server = PgServer::shared().await.expect("server");
    let database = server.empty_database().await.expect("empty database");
    assert!(database.name.starts_with("test_"));
    let name = database.name.clone();
    database.drop_database().await.expect("drop");

    let mut admin = PgConnection::connect(&server.admin_url()).await.expect("connect");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("count");
    assert_eq!(left, 0);
}

/// `join_all` without pulling in `futures`: each future runs as a task on this runtime.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.expect("task"));
    }
    outputs
}

/// Run by the test below in two child processes at once, against the same server (`DATABASE_URL`).
#[tokio::test]
#[ignore = "run in child processes by two_processes_asking_for_one_template_prepare_it_once"]
async fn asks_for_the_template_named_in_the_environment() {
    let server = PgServer::start().await.expect("server from DATABASE_URL");
    let fingerprint = std::env::var("TEMPLATE_FINGERPRINT").expect("TEMPLATE_FINGERPRINT");
    let template = server
        .template(&fingerprint, |url| async move {
            println!("PREPARED");
            migrate(url).await
        })
        .await
        .expect("template");
    let database = server.database_from_template(&template).await.expect("clone");
    assert!(invoice_customers(&database).await.is_empty());
    database.drop_database().await.expect("drop");
}

#[tokio::test]
async fn two_processes_asking_for_one_template_prepare_it_once() {
    let server = PgServer::shared().await.expect("server");
    let fingerprint = format!("cross-process-{}", uuid::Uuid::new_v4());
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args(["--exact", "asks_for_the_template_named_in_the_environment", "--ignored", "--nocapture"])
                .env("BILLING_TESTDB_PROVIDER", "url")
                .env("DATABASE_URL", server.admin_url())
                .env("TEMPLATE_FINGERPRINT", &fingerprint)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    let mut prepared = 0;
    for child in children {
        let output = child.wait_with_output().expect("child output");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        prepared += stdout.lines().filter(|line| *line == "PREPARED").count();
    }
    assert_eq!(prepared, 1, "exactly one process runs prepare");
}

/// Run by the test below in a child process of a run that shares the parent's server.
#[tokio::test]
#[ignore = "run in a child process by a_process_sharing_a_server_makes_its_databases_there_and_drops_them_at_exit"]
async fn makes_a_database_on_the_shared_server_and_exits() {
    let server = PgServer::shared().await.expect("the shared server");
    assert_eq!(server.kind(), ProviderKind::DatabaseUrl, "no server of its own");
    assert_eq!(Some(server.admin_url()), std::env::var(SHARED_URL_ENV).ok());
    let fingerprint = std::env::var("TEMPLATE_FINGERPRINT").expect("TEMPLATE_FINGERPRINT");
    let template = server.template(&fingerprint, migrate).await.expect("template");
    let database = server.database_from_template(&template).await.expect("clone");
    assert!(invoice_customers(&database).await.is_empty());
    println!("DATABASE {}", database.name);
}

#[tokio::test]
async fn a_process_sharing_a_server_makes_its_databases_there_and_drops_them_at_exit() {
    let server = PgServer::shared().await.expect("server");
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "makes_a_database_on_the_shared_server_and_exits", "--ignored", "--nocapture"])
        .env(SHARED_URL_ENV, server.admin_url())
        .env("TEMPLATE_FINGERPRINT", format!("shared-{}", uuid::Uuid::new_v4()))
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let name = stdout.lines().find_map(|line| line.strip_prefix("DATABASE ")).expect("the child's database");

    let mut admin = PgConnection::connect(&server.admin_url()).await.expect("connect");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .expect("count");
    assert_eq!(left, 0, "{name} was made on the shared server and dropped when its process exited");
}
