//! Fixes paid with credits: the balance goes down by one, never below zero.

use billing_stack::Stack;
use reqwest::StatusCode;

#[tokio::test]
async fn a_trial_customers_first_fix_takes_one_credit() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();

    let fix = customer.record_fix("bump openssl").await.unwrap().unwrap();

    assert_eq!(fix["paid_with"], "credit");
    assert_eq!(fix["credit_balance"], 4);
    assert_eq!(fix["charged_cents"], 0);
    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!(usage["credit_balance"], 4);
    assert_eq!(usage["transactions"][0]["source"], "fix");
    assert_eq!(usage["transactions"][0]["delta"], -1);
    assert_eq!(usage["transactions"][0]["reference"], fix["fix_id"]);
}

#[tokio::test]
async fn given_a_trial_customer_with_no_credits_and_no_payment_method_a_fix_is_refused_with_402() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    customer.use_all_credits().await.unwrap();

    let refused = customer.record_fix("one too many").await.unwrap().unwrap_err();

    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(refused.code(), "payment_required");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("/api/v1/billing/payment-method"), "the error names the way out: {message}");
    assert_eq!(customer.usage().await.unwrap().unwrap()["credit_balance"], 0);
    assert_eq!(stack.count_rows("fixes").await.unwrap(), 5);
}

#[tokio::test]
async fn twenty_concurrent_fixes_on_five_credits_give_five_fixes_and_fifteen_402s() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();

    let attempts = (0..20).map(|i| {
        let customer = customer.clone();
        tokio::spawn(async move { customer.record_fix(&format!("fix {i}")).await.unwrap() })
    });
    let results: Vec<_> = futures_util::future::join_all(attempts).await.into_iter().map(Result::unwrap).collect();

    let ok = results.iter().filter(|r| r.is_ok()).count();
    let refused = results.iter().filter(|r| matches!(r, Err(f) if f.status == StatusCode::PAYMENT_REQUIRED)).count();
    assert_eq!((ok, refused), (5, 15), "{results:?}");
    assert_eq!(customer.usage().await.unwrap().unwrap()["credit_balance"], 0);
    let balances: Vec<i32> = sqlx::query_scalar("SELECT balance_after FROM ledger_entries ORDER BY id")
        .fetch_all(&stack.pool)
        .await
        .unwrap();
    assert_eq!(balances, [5, 4, 3, 2, 1, 0]);
    assert_eq!(stack.count_rows("fixes").await.unwrap(), 5);
}

#[tokio::test]
async fn the_ledger_refuses_updates_and_deletes() {
    let stack = Stack::start().await.unwrap();
    stack.signed_up_customer("ada@example.com").await.unwrap();

    let update = sqlx::query("UPDATE ledger_entries SET delta = 500").execute(&stack.pool).await;
    let delete = sqlx::query("DELETE FROM ledger_entries").execute(&stack.pool).await;

    assert!(update.unwrap_err().to_string().contains("append-only"));
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

#[tokio::test]
async fn the_ledger_refuses_a_negative_balance_even_from_raw_sql() {
    let stack = Stack::start().await.unwrap();
    let (signup, _) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let insert = sqlx::query(
        "INSERT INTO ledger_entries (customer_id, delta, balance_after, source, created_at) VALUES ($1::uuid, -6, -1, 'fix', now())",
    )
    .bind(&signup.customer_id)
    .execute(&stack.pool)
    .await;
    assert!(insert.unwrap_err().to_string().contains("balance_after"));
}

#[tokio::test]
async fn a_fix_needs_a_valid_api_key_in_either_header() {
    let stack = Stack::start().await.unwrap();
    let (signup, _) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let api = stack.api();

    let missing = api.record_fix("x").await.unwrap().unwrap_err();
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert!(missing.body["error"]["message"].as_str().unwrap().contains("Authorization: Bearer"));

    let wrong = api.with_key("bk_not_a_real_key").record_fix("x").await.unwrap().unwrap_err();
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let (status, body) = api
        .send_with_headers(reqwest::Method::POST, "/api/v1/fixes", None, &[("x-api-key", &signup.api_key)])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_fix_with_a_wrong_typed_description_is_422_and_consumes_nothing() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let (status, body) = customer
        .send(reqwest::Method::POST, "/api/v1/fixes", Some(serde_json::json!({"description": 42})))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["fields"]["description"], "must be a string, not a number");
    assert_eq!(customer.usage().await.unwrap().unwrap()["credit_balance"], 5);
}
