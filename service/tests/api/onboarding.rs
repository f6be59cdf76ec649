//! Onboarding: one transaction, nothing half-made, one Stripe customer per signup.

use std::time::Duration;

use billing_fakes::Fault;
use billing_service::onboarding::CREATE_CUSTOMER_ATTEMPTS;
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

    let rows = every_row_as_text(&stack).await;
    assert!(rows.iter().any(|(table, _)| table == "api_keys"));
    for (table, row) in rows {
        assert!(!row.contains(secret_part), "the API key is stored in {table}: {row}");
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
    let message = duplicate.body["error"]["message"].as_str().unwrap().to_lowercase();
    assert!(!message.contains("ada@example.com"), "the answer does not repeat the address: {message}");
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

/// Stripe failing every attempt a signup makes at creating its customer.
fn every_attempt(fault: Fault) -> Fault {
    fault.times(CREATE_CUSTOMER_ATTEMPTS)
}

#[tokio::test]
async fn when_stripe_fails_mid_onboarding_nothing_is_left_behind() {
    let stack = Stack::start().await.unwrap();
    stack.stripe.inject_fault(every_attempt(Fault::on("POST", "/v1/customers").status(500)));

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
    stack.stripe.inject_fault(every_attempt(Fault::on("POST", "/v1/customers").drop_connection()));

    let failure = stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap_err();

    assert_eq!(failure.status, StatusCode::BAD_GATEWAY);
    assert_nothing_left_behind(&stack).await;
}

/// The POSTs of Stripe customers that reached the fake.
fn customer_creations(stack: &Stack) -> Vec<billing_fakes::RecordedRequest> {
    stack.stripe.requests().into_iter().filter(|r| r.method == "POST" && r.path == "/v1/customers").collect()
}

/// The Stripe customers with this e-mail address.
async fn stripe_customers_with(stack: &Stack, email: &str) -> Vec<String> {
    let listed = stack.stripe_get(&format!("/v1/customers?email={email}")).await.unwrap();
    listed["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn when_stripe_answers_after_the_timeout_the_signup_asks_again_and_finishes_with_its_one_customer() {
    let stack = billing_stack::Stack::start_with(billing_stack::StackOptions {
        configure: Box::new(|config| config.stripe.timeout_ms = 200),
        ..Default::default()
    })
    .await
    .unwrap();
    // Stripe makes the customer, but answers after the service stopped waiting.
    stack.stripe.inject_fault(Fault::on("POST", "/v1/customers").latency(Duration::from_millis(1_000)));

    let signup = stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap();

    // Sent again with the same key and parameters: Stripe replays the customer, never a second.
    let creates =
        billing_stack::wait_until("both customer creations to reach Stripe", Duration::from_secs(5), || async {
            let creates = customer_creations(&stack);
            Ok((creates.len() >= 2).then_some(creates))
        })
        .await
        .unwrap();
    assert!(creates[0].idempotency_key.is_some());
    assert!(creates.iter().all(|c| c.idempotency_key == creates[0].idempotency_key && c.params == creates[0].params));
    // The delayed first call is carried out too (a second later): still one customer.
    billing_stack::wait_until("the delayed creation to be carried out", Duration::from_secs(5), || async {
        Ok(stack.stripe.armed_faults().is_empty().then_some(()))
    })
    .await
    .unwrap();
    stack.stripe.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    assert_eq!(stripe_customers_with(&stack, "ada@example.com").await, [signup.stripe_customer_id]);
}

#[tokio::test]
async fn a_signup_whose_answer_timed_out_and_is_retried_under_another_name_leaves_no_orphan_in_stripe() {
    let stack = billing_stack::Stack::start_with(billing_stack::StackOptions {
        configure: Box::new(|config| config.server.request_timeout_ms = 300),
        ..Default::default()
    })
    .await
    .unwrap();
    // Stripe takes a second: the client is answered 503 (request timeout) long before.
    stack.stripe.inject_fault(Fault::on("POST", "/v1/customers").latency(Duration::from_millis(1_000)));
    let timed_out = stack.api().signup("orphan@example.com", "First Name", None).await.unwrap().unwrap_err();
    assert_eq!(timed_out.status, StatusCode::SERVICE_UNAVAILABLE, "{timed_out}");

    // The signup finishes anyway (nothing can stop it between its Stripe customer and its rows)…
    billing_stack::wait_until("the first signup to finish", Duration::from_secs(10), || async {
        Ok((stack.count_rows("customers").await? == 1).then_some(()))
    })
    .await
    .unwrap();
    // …so the retry under another name finds the address taken, and makes no second one.
    let retried = stack.api().signup("orphan@example.com", "Another Name", None).await.unwrap().unwrap_err();

    assert_eq!(retried.code(), "email_taken");
    let stored: String =
        sqlx::query_scalar("SELECT stripe_customer_id FROM customers").fetch_one(&stack.pool).await.unwrap();
    assert_eq!(
        stripe_customers_with(&stack, "orphan@example.com").await,
        [stored],
        "no Stripe customer without its row"
    );
}

#[tokio::test]
async fn a_retried_signup_sends_stripe_the_same_idempotency_key_and_parameters() {
    let stack = Stack::start().await.unwrap();
    stack.stripe.inject_fault(every_attempt(Fault::on("POST", "/v1/customers").status(500)));
    stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap_err();

    stack.api().signup("ada@example.com", "Ada", None).await.unwrap().unwrap();

    let creates = customer_creations(&stack);
    assert_eq!(creates.len(), CREATE_CUSTOMER_ATTEMPTS as usize + 1);
    let first_key = creates[0].idempotency_key.clone().expect("the call carries an Idempotency-Key");
    for create in &creates[1..] {
        assert_eq!(create.idempotency_key.as_deref(), Some(first_key.as_str()));
        assert_eq!(create.params, creates[0].params, "Stripe refuses a reused key with other parameters");
    }
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
    // The POST: the orphan sweep's GET of the same path may come first.
    let create = stack.stripe.requests().into_iter().find(|r| r.method == "POST" && r.path == "/v1/customers");
    let key = create.expect("the signup created its Stripe customer").idempotency_key.unwrap();
    assert!(key.starts_with("onboarding-"));
    assert!(!key.contains("client-key-1"), "the client's key is hashed, not passed through");
}

#[tokio::test]
async fn an_email_within_254_characters_but_beyond_stripes_bytes_is_422_and_nothing_reaches_stripe() {
    let stack = Stack::start().await.unwrap();
    let emoji = format!("{}@example.com", "\u{1f600}".repeat(200));

    let refused = stack.api().signup(&emoji, "Emoji", None).await.unwrap().unwrap_err();

    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused.body["error"]["fields"]["email"].as_str().unwrap().contains("ASCII"), "{refused}");
    assert!(customer_creations(&stack).is_empty());
}

/// A keyed signup: the status and the body.
pub async fn keyed_signup(stack: &Stack, key: &str, email: &str, name: &str) -> (StatusCode, serde_json::Value) {
    stack
        .api()
        .send_with_headers(
            reqwest::Method::POST,
            "/api/v1/customers",
            Some(json!({"email": email, "name": name})),
            &[("Idempotency-Key", key)],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_keyed_signup_retried_after_its_answer_was_lost_gets_the_first_answer_and_its_api_key() {
    let stack = Stack::start().await.unwrap();
    let key = "5d0c7e8a-4b0e-4f4e-9a59-7f3f6c1d2e10";
    let (status, first) = keyed_signup(&stack, key, "lost@example.com", "Lost Answer").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");

    // The client never read that answer; it retries, as it should, with the same key and body.
    let (status, again) = keyed_signup(&stack, key, "lost@example.com", "Lost Answer").await;

    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again, first, "the first answer, API key and all");
    let usage = stack.api().with_key(again["api_key"].as_str().unwrap()).usage().await.unwrap();
    assert!(usage.is_ok(), "the replayed key works: {usage:?}");
    assert_eq!(stack.count_rows("customers").await.unwrap(), 1);
    assert_eq!(customer_creations(&stack).len(), 1, "nothing was sent to Stripe again");
    // The same key with another body is refused, not answered with the first outcome.
    let (status, reused) = keyed_signup(&stack, key, "lost@example.com", "Another Name").await;
    assert_eq!(
        (status, reused["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused"))
    );
    // Without the key it is another signup of a taken address.
    let (status, _) = keyed_signup(&stack, "another-key", "lost@example.com", "Lost Answer").await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_signup_answer_is_kept_sealed_not_as_a_usable_key() {
    let stack = Stack::start().await.unwrap();
    let key = "7a1d0b52-0f5c-4a53-bb0e-36c1f1f0c0de";
    let (_, first) = keyed_signup(&stack, key, "sealed@example.com", "Sealed").await;
    let secret = &first["api_key"].as_str().unwrap()["bk_".len()..];

    let rows = every_row_as_text(&stack).await;
    assert!(rows.iter().any(|(table, _)| table == "signup_replays"));
    for (table, row) in rows {
        assert!(!row.contains(secret), "the API key is readable in {table}");
        assert!(!row.contains(key), "the Idempotency-Key that opens the answer is stored in {table}");
    }
}

#[tokio::test]
async fn concurrent_retries_of_one_keyed_signup_all_get_its_one_answer() {
    let stack = Stack::start().await.unwrap();
    let key = "c0ffee00-1111-4222-8333-444455556666";
    let attempts = (0..6).map(|_| keyed_signup(&stack, key, "together@example.com", "Together"));

    let answers = futures_util::future::join_all(attempts).await;

    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["api_key"], answers[0].1["api_key"], "one customer, one key");
    }
    assert_eq!(stack.count_rows("customers").await.unwrap(), 1);
    assert_eq!(stack.count_rows("api_keys").await.unwrap(), 1);
}

#[tokio::test]
async fn a_signup_answer_is_replayed_for_a_day_then_forgotten() {
    use billing_service::clock::Clock;
    let clock = billing_service::clock::ManualClock::starting_at(chrono::Utc::now());
    let stack = Stack::start_with(billing_stack::StackOptions {
        clock: std::sync::Arc::new(clock.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let key = "0b5e55ed-2222-4333-8444-555566667777";
    let (status, _) = keyed_signup(&stack, key, "day@example.com", "A Day").await;
    assert_eq!(status, StatusCode::CREATED);
    clock.advance(chrono::Duration::hours(23));
    assert_eq!(keyed_signup(&stack, key, "day@example.com", "A Day").await.0, StatusCode::CREATED);

    clock.advance(chrono::Duration::hours(2));

    let (status, answer) = keyed_signup(&stack, key, "day@example.com", "A Day").await;
    assert_eq!(status, StatusCode::CONFLICT, "past SIGNUP_REPLAY_HOURS the answer is gone: {answer}");
    let swept = billing_service::onboarding::replay::sweep(&stack.pool, clock.now()).await.unwrap();
    assert_eq!(swept, 1);
    assert_eq!(stack.count_rows("signup_replays").await.unwrap(), 0);
}

/// Every row of every table of the service's schema, as text, with its table's name: what a
/// secret must not be found in.
async fn every_row_as_text(stack: &Stack) -> Vec<(String, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&stack.pool)
    .await
    .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let texts: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT t::text FROM {table} t")))
            .fetch_all(&stack.pool)
            .await
            .unwrap();
        rows.extend(texts.into_iter().map(|row| (table.clone(), row)));
    }
    rows
}
