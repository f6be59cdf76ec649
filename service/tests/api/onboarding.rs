//! Onboarding: one transaction, nothing half-made, one Stripe customer per signup.

use std::time::Duration;

use billing_fakes::Fault;
use billing_stack::Stack;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_signup_provisions_a_trial_customer_with_five_credits_a_key_and_a_stripe_customer() {
    let stack = Stack::start().await.unwrap();

    let signup = stack.api().signup("ada@example.com", "Ada Lovelace", None).await.unwrap().unwrap();

    assert_eq!(signup.plan, "trial");
    assert_eq!(signup.credit_balance, 5);
    assert_eq!(signup.source, "direct");
    assert!(signup.api_key.starts_with("bk_") && signup.api_key.len() >= 40);
    let stripe_customer = stack.stripe.object(&signup.stripe_customer_id).expect("the Stripe customer exists");
    assert_eq!(stripe_customer["email"], "ada@example.com");
    assert_eq!(stripe_customer["metadata"]["customer_id"], signup.customer_id.as_str());
    assert_eq!(stripe_customer["metadata"]["source"], "direct");
    let stored: (String, String) = sqlx::query_as("SELECT stripe_customer_id, plan FROM customers WHERE id = $1::uuid")
        .bind(&signup.customer_id)
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(stored, (signup.stripe_customer_id.clone(), "trial".to_string()));
    let grant: (i32, i32, String) =
        sqlx::query_as("SELECT delta, balance_after, source FROM ledger_entries").fetch_one(&stack.pool).await.unwrap();
    assert_eq!(grant, (5, 5, "trial_signup".to_string()));
}

#[tokio::test]
async fn a_signup_schedules_the_whole_welcome_sequence() {
    let stack = Stack::start().await.unwrap();
    stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap();

    let schedule: Vec<(String, f64)> = sqlx::query_as(
        "SELECT o.template, extract(epoch FROM o.send_after - c.created_at)::float8 / 86400
         FROM email_outbox o JOIN customers c ON c.id = o.customer_id ORDER BY o.send_after",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    let expected = [
        ("welcome", 0.0),
        ("getting_started", 1.0),
        ("setup_verification", 3.0),
        ("feature_discovery", 5.0),
        ("feedback", 7.0),
    ];
    assert_eq!(schedule.len(), expected.len());
    for ((template, days), (want_template, want_days)) in schedule.iter().zip(expected) {
        assert_eq!((template.as_str(), *days), (want_template, want_days));
    }
}

#[tokio::test]
async fn the_raw_api_key_is_nowhere_in_the_database() {
    let stack = Stack::start().await.unwrap();
    let signup = stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap();
    let secret_part = &signup.api_key["bk_".len()..];

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    assert!(tables.contains(&"api_keys".to_string()));
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT t::text FROM {table} t")))
            .fetch_all(&stack.pool)
            .await
            .unwrap();
        for row in rows {
            assert!(!row.contains(secret_part), "the API key is stored in {table}: {row}");
        }
    }
    // And the key still works, so it is stored in some form (its hash).
    assert!(stack.api().with_key(&signup.api_key).usage().await.unwrap().is_ok());
}

#[tokio::test]
async fn a_marketplace_signup_keeps_its_source_in_the_database_and_in_stripe() {
    let stack = Stack::start().await.unwrap();
    let signup = stack.api().signup("gh@example.com", "Octo Cat", Some("gh_marketplace")).await.unwrap().unwrap();
    assert_eq!(signup.source, "gh_marketplace");
    assert_eq!(stack.stripe.object(&signup.stripe_customer_id).unwrap()["metadata"]["source"], "gh_marketplace");
    let usage = stack.api().with_key(&signup.api_key).usage().await.unwrap().unwrap();
    assert_eq!(usage["source"], "gh_marketplace");
}

#[tokio::test]
async fn a_second_signup_with_the_same_email_in_any_case_is_409() {
    let stack = Stack::start().await.unwrap();
    stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap();

    let duplicate = stack.api().signup("ADA@Example.com", "Ada again", None).await.unwrap().unwrap_err();

    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.code(), "email_taken");
    assert_eq!(stack.count_rows("customers").await.unwrap(), 1);
}

#[tokio::test]
async fn concurrent_signups_with_one_email_make_one_customer_and_one_stripe_customer() {
    let stack = Stack::start().await.unwrap();
    let api = stack.api();
    let attempts = (0..10).map(|_| api.signup("race@example.com", "Racer", None));
    let results = futures_util::future::join_all(attempts).await;

    let created = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let conflicts = results.iter().filter(|r| matches!(r, Ok(Err(f)) if f.status == StatusCode::CONFLICT)).count();
    assert_eq!((created, conflicts), (1, 9), "{results:?}");
    assert_eq!(stack.count_rows("customers").await.unwrap(), 1);
    // Every attempt that reached Stripe sent the same idempotency key: one Stripe customer.
    let keys: std::collections::BTreeSet<Option<String>> = stack
        .stripe
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/customers" && r.status == 200)
        .map(|r| r.idempotency_key.clone())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let customers = stack.stripe.events().iter().filter(|e| e["type"] == "customer.created").count();
    assert_eq!(customers, 1);
}

async fn assert_nothing_left_behind(stack: &Stack) {
    for table in ["customers", "api_keys", "ledger_entries", "email_outbox", "fixes"] {
        assert_eq!(stack.count_rows(table).await.unwrap(), 0, "rows left in {table}");
    }
}

#[tokio::test]
async fn when_stripe_fails_mid_onboarding_nothing_is_left_behind() {
    let stack = Stack::start().await.unwrap();
    stack.stripe.inject_fault(Fault::on("POST", "/v1/customers").status(500));

    let failure = stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap_err();

    assert_eq!(failure.status, StatusCode::BAD_GATEWAY);
    assert_eq!(failure.code(), "payment_provider_unavailable");
    assert!(failure.body["error"]["message"].as_str().unwrap().contains("retry"));
    assert_nothing_left_behind(&stack).await;
    // The same signup goes through once Stripe is back.
    let signup = stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap();
    assert_eq!(signup.credit_balance, 5);
}

#[tokio::test]
async fn when_stripe_drops_the_connection_nothing_is_left_behind() {
    let stack = Stack::start().await.unwrap();
    stack.stripe.inject_fault(Fault::on("POST", "/v1/customers").drop_connection());

    let failure = stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap_err();

    assert_eq!(failure.status, StatusCode::BAD_GATEWAY);
    assert_nothing_left_behind(&stack).await;
}

#[tokio::test]
async fn when_stripe_times_out_nothing_is_left_behind_and_a_retry_makes_one_stripe_customer() {
    let stack = billing_stack::Stack::start_with(billing_stack::StackOptions {
        configure: Box::new(|config| config.stripe_timeout_ms = 200),
        ..Default::default()
    })
    .await
    .unwrap();
    stack.stripe.inject_fault(Fault::on("POST", "/v1/customers").latency(Duration::from_millis(1_000)));

    let failure = stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap_err();
    assert_eq!(failure.status, StatusCode::BAD_GATEWAY);
    assert_nothing_left_behind(&stack).await;

    let signup = stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap();

    // Stripe carries out the timed-out call too, with the same key: it replays, not duplicates.
    let creates =
        billing_stack::wait_until("both customer creations to reach Stripe", Duration::from_secs(5), || async {
            let creates: Vec<_> = stack
                .stripe
                .requests()
                .into_iter()
                .filter(|r| r.method == "POST" && r.path == "/v1/customers")
                .collect();
            Ok((creates.len() == 2).then_some(creates))
        })
        .await
        .unwrap();
    assert_eq!(creates[0].idempotency_key, creates[1].idempotency_key);
    assert!(creates[0].idempotency_key.is_some());
    let listed = stack.stripe_get("/v1/customers?email=ada@example.com").await.unwrap();
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [signup.stripe_customer_id.as_str()]);
}

#[tokio::test]
async fn a_retried_signup_sends_stripe_the_same_idempotency_key_and_parameters() {
    let stack = Stack::start().await.unwrap();
    stack.stripe.inject_fault(Fault::on("POST", "/v1/customers").status(500));
    stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap_err();

    stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap();

    let creates: Vec<_> =
        stack.stripe.requests().into_iter().filter(|r| r.method == "POST" && r.path == "/v1/customers").collect();
    assert_eq!(creates.len(), 2);
    let first_key = creates[0].idempotency_key.clone().expect("the call carries an Idempotency-Key");
    assert_eq!(creates[1].idempotency_key.as_deref(), Some(first_key.as_str()));
    assert_eq!(creates[0].params, creates[1].params, "Stripe refuses a reused key with other parameters");
}

#[tokio::test]
async fn a_client_idempotency_key_is_folded_into_the_stripe_key() {
    let stack = Stack::start().await.unwrap();
    let (status, body) = stack
        .api()
        .send_with_headers(
            reqwest::Method::POST,
            "/api/v1/customers",
            Some(json!({"email": "k@example.com", "name": "K"})),
            &[("Idempotency-Key", "client-key-1")],
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = stack.stripe.requests().into_iter().find(|r| r.path == "/v1/customers").unwrap().idempotency_key.unwrap();
    assert!(key.starts_with("onboarding-"));
    assert!(!key.contains("client-key-1"), "the client's key is hashed, not passed through");
}
