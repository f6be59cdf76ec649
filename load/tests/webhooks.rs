//! The webhook scenario's after-run outcome check: it passes against the service, and it fails
//! against a database that grants a paid invoice's credits twice.

mod common;

use common::{assert_exit, keys_file_on, load_run, load_stack, stdout, summary};

#[tokio::test]
async fn a_webhook_run_on_the_embedded_stack_passes_its_outcome_check() {
    let dir = tempfile::tempdir().unwrap();
    let output = load_run("webhooks", dir.path())
        .in_process()
        .users(4)
        .arg("--fixtures", "3")
        .run_time("3s")
        .only_threshold("error-rate<1%")
        .output()
        .await;
    assert_exit(&output, 0);
    let summary = summary(dir.path());
    let check = summary.checks.iter().find(|check| check.name == "webhook outcome").expect("the outcome was checked");
    assert!(check.passed, "{check:?}");
    assert!(check.detail.contains("duplicates"), "{}", check.detail);
    assert!(summary.total.requests > 50, "{:?}", summary.total);
}

/// Makes the database grant every load-test invoice's credits a second time, as a service
/// with a broken once-per-invoice rule would.
const DOUBLE_GRANT: &str = r#"
CREATE FUNCTION grant_twice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.source = 'pro_invoice' AND NEW.reference NOT LIKE '%#again' THEN
        INSERT INTO ledger_entries (customer_id, delta, balance_after, source, reference, created_at)
        VALUES (NEW.customer_id, NEW.delta, NEW.balance_after + NEW.delta, NEW.source, NEW.reference || '#again', NEW.created_at);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER grant_twice AFTER INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION grant_twice();
"#;

#[tokio::test]
async fn the_outcome_check_fails_against_a_service_that_grants_credits_twice() {
    let stack = load_stack().await;
    let dir = tempfile::tempdir().unwrap();
    // Before the Pro customers are made: their first invoices are granted (twice) when Stripe
    // delivers them, and the run's events name those real invoices.
    sqlx::raw_sql(DOUBLE_GRANT).execute(&stack.pool).await.unwrap();
    let keys = keys_file_on(dir.path(), &stack, 1, 2).await;
    stack.wait_for_webhooks().await.unwrap();
    let output = load_run("webhooks", &dir.path().join("r"))
        .target(&stack.service_url)
        .arg("--keys-file", &keys)
        .users(2)
        .run_time("2s")
        .flag("--no-default-thresholds")
        .env("STRIPE_WEBHOOK_SECRET", &stack.webhook_secret)
        .output()
        .await;
    assert_exit(&output, 1);
    let table = stdout(&output);
    assert!(table.contains("webhook outcome  FAIL"), "{table}");
    assert!(table.contains("credits granted for this run's invoices"), "{table}");
    assert!(table.contains("#again granted credits but no paid invoice"), "{table}");
}
