//! The usage summary: plan, balance, rate, history and warnings.

use billing_stack::Stack;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn the_summary_shows_plan_balance_rate_and_history_newest_first() {
    let stack = Stack::start().await.unwrap();
    let (signup, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    customer.record_fix("one").await.unwrap().unwrap();

    let usage = customer.usage().await.unwrap().unwrap();

    assert_eq!(usage["customer_id"], signup.customer_id.as_str());
    assert_eq!(usage["plan"], "trial");
    assert_eq!(usage["credit_balance"], 4);
    assert_eq!(usage["per_fix_rate_cents"], 2900);
    assert_eq!(usage["has_payment_method"], false);
    let sources: Vec<&str> =
        usage["transactions"].as_array().unwrap().iter().map(|t| t["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["fix", "trial_signup"]);
    assert!(usage["next_before"].is_null());
    assert_eq!(usage["warnings"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_history_pages_with_limit_and_before() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    for i in 0..3 {
        customer.record_fix(&format!("fix {i}")).await.unwrap().unwrap();
    }

    let (_, first) = customer.send(Method::GET, "/api/v1/usage?limit=2", None).await.unwrap();
    let before = first["next_before"].as_i64().expect("a next page");
    let (_, second) =
        customer.send(Method::GET, &format!("/api/v1/usage?limit=2&before={before}"), None).await.unwrap();

    let balances = |page: &serde_json::Value| {
        page["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["balance_after"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(balances(&first), [2, 3]);
    assert_eq!(balances(&second), [4, 5]);
    assert!(second["next_before"].is_null());
}

#[tokio::test]
async fn a_bad_page_size_is_422() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    for query in ["limit=0", "limit=1000", "limit=abc"] {
        let (status, body) = customer.send(Method::GET, &format!("/api/v1/usage?{query}"), None).await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed");
    }
}

#[tokio::test]
async fn low_credits_warn_at_the_threshold_and_no_credits_without_a_card_is_critical() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let codes = |usage: serde_json::Value| {
        usage["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["code"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    for _ in 0..2 {
        customer.record_fix("fix").await.unwrap().unwrap();
    }
    assert!(codes(customer.usage().await.unwrap().unwrap()).is_empty(), "3 credits is above the threshold of 2");
    customer.record_fix("fix").await.unwrap().unwrap();
    assert_eq!(codes(customer.usage().await.unwrap().unwrap()), ["low_credits"]);
    for _ in 0..2 {
        customer.record_fix("fix").await.unwrap().unwrap();
    }
    assert_eq!(codes(customer.usage().await.unwrap().unwrap()), ["critical"]);
}

#[tokio::test]
async fn the_summary_reads_plan_and_subscription_of_one_moment() {
    // A subscription event changes the plan and the subscription's status in one transaction; a summary must never
    // show one of them before it and the other after (the unpaid journey once saw `unpaid` with plan `pro`).
    let stack = Stack::start().await.unwrap();
    let customer = stack.pro_customer("moment@example.com").await.unwrap();
    let id = customer.usage().await.unwrap().unwrap()["customer_id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (pool, stop) = (stack.pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut flips = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query(
                    "UPDATE customers SET plan = CASE plan WHEN 'pro' THEN 'payg' ELSE 'pro' END WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await
                .unwrap();
                sqlx::query(
                    "UPDATE subscriptions SET status = CASE status WHEN 'active' THEN 'unpaid' ELSE 'active' END
                     WHERE customer_id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                flips += 1;
            }
            flips
        })
    };
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..300 {
        let usage = customer.usage().await.unwrap().unwrap();
        let pair = (
            usage["plan"].as_str().unwrap().to_string(),
            usage["subscription"]["status"].as_str().unwrap().to_string(),
        );
        *seen.entry(pair).or_insert(0) += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flips = flipper.await.unwrap();
    assert!(flips > 30, "the plan changed only {flips} times while the summaries were read");
    let consistent = |(plan, status): &(String, String)| {
        matches!((plan.as_str(), status.as_str()), ("pro", "active") | ("payg", "unpaid"))
    };
    assert!(seen.keys().all(consistent), "summaries of two moments: {seen:?}");
}
