//! The reconciliation check passes on a healthy stack, and fails — naming what is wrong — on
//! each kind of money or ledger defect it exists to catch.

use std::time::Duration;

use billing_stack::{ApiClient, Stack, reconcile, reconcile_customers};

/// A pay-as-you-go customer with two succeeded charges, once Stripe's events about them have been
/// delivered: a test that then changes a charge's row knows no late `payment_intent.succeeded` will
/// settle it again behind its back.
async fn payg_customer_with_two_charges(stack: &Stack) -> ApiClient {
    let (_, customer) = stack.signed_up_customer("payg@example.com").await.unwrap();
    customer.add_payment_method("pm_card_visa", true).await.unwrap().unwrap();
    for n in 0..7 {
        customer.record_fix(&format!("fix {n}")).await.unwrap().unwrap();
    }
    stack.wait_for_webhooks().await.unwrap();
    customer
}

async fn problems(stack: &Stack) -> Vec<String> {
    reconcile(&stack.pool, &stack.stripe_access(), Duration::from_secs(2)).await.unwrap().problems
}

#[tokio::test]
async fn a_healthy_stack_reconciles_clean() {
    let stack = Stack::start().await.unwrap();
    payg_customer_with_two_charges(&stack).await;
    let report = stack.reconcile().await.unwrap();
    assert_eq!((report.payment_intents, report.charges, report.ledgers), (2, 2, 1), "{report}");
}

#[tokio::test]
async fn a_charge_made_in_stripe_but_never_recorded_is_lost_money() {
    let stack = Stack::start().await.unwrap();
    payg_customer_with_two_charges(&stack).await;
    let (customer, stripe_customer, payment_method): (uuid::Uuid, String, String) =
        sqlx::query_as("SELECT id, stripe_customer_id, default_payment_method FROM customers")
            .fetch_one(&stack.pool)
            .await
            .unwrap();
    let response = billing_service::tls::client()
        .post(format!("{}/v1/payment_intents", stack.stripe.base_url()))
        .bearer_auth("sk_test_stack")
        .form(&[
            ("amount", "2900"),
            ("currency", "usd"),
            ("customer", &stripe_customer),
            ("payment_method", &payment_method),
            ("confirm", "true"),
            ("off_session", "true"),
            ("metadata[fix_id]", &uuid::Uuid::new_v4().to_string()),
            ("metadata[customer_id]", &customer.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());

    let problems = problems(&stack).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("no charge records it (lost money)"), "{problems:?}");
}

#[tokio::test]
async fn one_payment_intent_recorded_twice_is_doubled_money() {
    let stack = Stack::start().await.unwrap();
    payg_customer_with_two_charges(&stack).await;
    // The schema forbids it; a service without that constraint could do it.
    sqlx::query("ALTER TABLE charges DROP CONSTRAINT charges_stripe_payment_intent_id_key")
        .execute(&stack.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO charges (id, customer_id, fix_id, amount_cents, currency, plan, status, stripe_idempotency_key,
             stripe_payment_intent_id, settled_at, created_at)
         SELECT gen_random_uuid(), customer_id, gen_random_uuid(), amount_cents, currency, plan, 'succeeded',
                'copy-' || stripe_idempotency_key, stripe_payment_intent_id, now(), now()
         FROM charges LIMIT 1",
    )
    .execute(&stack.pool)
    .await
    .unwrap();

    let problems = problems(&stack).await;
    assert!(problems.iter().any(|p| p.contains("recorded by 2 charges (doubled money)")), "{problems:?}");
}

#[tokio::test]
async fn a_charge_left_pending_is_reported_once_the_deadline_passes() {
    let stack = Stack::start_with(billing_stack::StackOptions {
        configure: Box::new(|config| config.reconciler.interval_ms = 0),
        ..Default::default()
    })
    .await
    .unwrap();
    payg_customer_with_two_charges(&stack).await;
    sqlx::query("ALTER TABLE charges DROP CONSTRAINT charges_settled_when_not_pending")
        .execute(&stack.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE charges SET status = 'pending' WHERE id = (SELECT id FROM charges LIMIT 1)")
        .execute(&stack.pool)
        .await
        .unwrap();

    let problems = problems(&stack).await;
    assert!(problems.iter().any(|p| p.contains("is still pending")), "{problems:?}");
}

#[tokio::test]
async fn a_ledger_entry_that_does_not_add_up_is_caught() {
    let stack = Stack::start().await.unwrap();
    stack.signed_up_customer("ledger@example.com").await.unwrap();
    sqlx::query(
        "INSERT INTO ledger_entries (customer_id, delta, balance_after, source, created_at)
         SELECT id, 60, 70, 'pro_invoice', now() FROM customers",
    )
    .execute(&stack.pool)
    .await
    .unwrap();

    let problems = problems(&stack).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("says the balance is 70, its entries add up to 65"), "{problems:?}");
}

#[tokio::test]
async fn a_check_of_some_customers_sees_their_defects_and_nobody_elses() {
    // The service's own reconciler is off, so the pending charge below stays pending.
    let stack = Stack::start_with(billing_stack::StackOptions {
        configure: Box::new(|config| config.reconciler.interval_ms = 0),
        ..Default::default()
    })
    .await
    .unwrap();
    let (mine, _) = stack.signed_up_customer("mine@example.com").await.unwrap();
    let (theirs, their_client) = stack.signed_up_customer("theirs@example.com").await.unwrap();
    their_client.add_payment_method("pm_card_visa", true).await.unwrap().unwrap();
    for n in 0..6 {
        their_client.record_fix(&format!("fix {n}")).await.unwrap().unwrap();
    }
    // Stripe's events about their charge are delivered before the row is changed below, so none
    // settles it again afterwards.
    stack.wait_for_webhooks().await.unwrap();
    // Their ledger is broken and one of their charges is still pending (someone else's run, mid-charge).
    let theirs_id: uuid::Uuid = theirs.customer_id.parse().unwrap();
    sqlx::query(
        "INSERT INTO ledger_entries (customer_id, delta, balance_after, source, created_at)
         VALUES ($1, 60, 70, 'pro_invoice', now())",
    )
    .bind(theirs_id)
    .execute(&stack.pool)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE charges DROP CONSTRAINT charges_settled_when_not_pending")
        .execute(&stack.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE charges SET status = 'pending' WHERE customer_id = $1")
        .bind(theirs_id)
        .execute(&stack.pool)
        .await
        .unwrap();
    let settle = Duration::from_secs(2);

    let mine_only =
        reconcile_customers(&stack.pool, &stack.stripe_access(), &[mine.customer_id.parse().unwrap()], settle)
            .await
            .unwrap();
    let theirs_only = reconcile_customers(&stack.pool, &stack.stripe_access(), &[theirs_id], settle).await.unwrap();

    assert!(mine_only.is_clean(), "{:?}", mine_only.problems);
    assert_eq!((mine_only.payment_intents, mine_only.charges, mine_only.ledgers), (0, 0, 1), "{mine_only}");
    assert_eq!((theirs_only.payment_intents, theirs_only.charges), (1, 1), "{theirs_only}");
    assert!(theirs_only.problems.iter().any(|p| p.contains("is still pending")), "{:?}", theirs_only.problems);
    assert!(theirs_only.problems.iter().any(|p| p.contains("says the balance is 70")), "{:?}", theirs_only.problems);
}
