//! Per-test databases cloned from one migrated template: made once however many tests ask at the same time, and
//! isolated from each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use billing_testdb::{PgServer, TestDatabase};
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
            server
                .database_from_template(&template)
                .await
                .expect("clone")
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
    sqlx::query("INSERT INTO invoices (customer) VALUES ('cus_first')")
        .execute(&mut connection)
        .await
        .expect("insert");
    connection.close().await.expect("close");
    assert_eq!(invoice_customers(first).await, vec!["cus_first".to_owned()]);
    assert!(
        invoice_customers(second).await.is_empty(),
        "a row written in one clone is visible in another"
    );

    for database in databases {
        database.drop_database().await.expect("drop");
    }
}

#[tokio::test]
async fn a_failed_prepare_is_reported_and_retried_by_the_next_caller() {
    let server = PgServer::shared().await.expect("server");
    let fingerprint = format!("failing-{}", uuid::Uuid::new_v4());
    let error = server
        .template(&fingerprint, |_url| async {
            Err::<(), BoxError>("migration 0002 is broken".into())
        })
        .await
        .expect_err("prepare failed");
    assert!(
        error.to_string().contains("migration 0002 is broken"),
        "{error}"
    );

    let template = server
        .template(&fingerprint, migrate)
        .await
        .expect("second attempt");
    let database = server
        .database_from_template(&template)
        .await
        .expect("clone");
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

    let mut admin = PgConnection::connect(&server.admin_url())
        .await
        .expect("connect");
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
