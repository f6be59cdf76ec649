//! Stripe webhooks: signed, applied at most once, in any order.

use std::time::Duration;

use billing_fakes::Fault;
use billing_fakes::stripe::stripe_signature;
use billing_stack::{ApiClient, Stack, StackOptions, wait_until};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// A Pro customer whose first invoice was paid in Stripe, with no event delivered yet.
async fn pro_customer_with_undelivered_events(stack: &Stack) -> ApiClient {
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    customer.subscribe_to_pro_with_a_card().await.unwrap();
    customer
}

async fn manual_stack() -> Stack {
    Stack::start_with(StackOptions { deliver_webhooks: false, ..Default::default() }).await.unwrap()
}

async fn balance(customer: &ApiClient) -> i64 {
    customer.usage().await.unwrap().unwrap()["credit_balance"].as_i64().unwrap()
}

#[tokio::test]
async fn an_invoice_paid_event_delivered_five_times_at_once_grants_60_credits_once() {
    let stack = manual_stack().await;
    let customer = pro_customer_with_undelivered_events(&stack).await;
    let paid = stack.stripe_events("invoice.paid").remove(0);

    let deliveries = (0..5).map(|_| stack.deliver_event(&paid));
    let results = futures_util::future::join_all(deliveries).await;

    assert!(results.iter().all(|r| r.as_ref().unwrap().0 == StatusCode::OK), "{results:?}");
    let outcomes: Vec<&str> = results.iter().map(|r| r.as_ref().unwrap().1["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "applied").count(), 1, "{outcomes:?}");
    assert_eq!(balance(&customer).await, 65);
}

#[tokio::test]
async fn invoice_paid_and_invoice_payment_succeeded_for_one_invoice_grant_once() {
    let stack = manual_stack().await;
    let customer = pro_customer_with_undelivered_events(&stack).await;

    for kind in ["invoice.payment_succeeded", "invoice.paid"] {
        let event = stack.stripe_events(kind).remove(0);
        assert_eq!(stack.deliver_event(&event).await.unwrap().0, StatusCode::OK);
    }

    assert_eq!(balance(&customer).await, 65);
}

#[tokio::test]
async fn events_in_reverse_order_end_in_the_same_state() {
    let stack = manual_stack().await;
    let customer = pro_customer_with_undelivered_events(&stack).await;
    customer.send(Method::DELETE, "/api/v1/billing/subscription?at_period_end=true", None).await.unwrap();

    let mut events = stack.stripe.events();
    events.reverse();
    for event in &events {
        let (status, body) = stack.deliver_event(event).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{} → {body}", event["type"]);
    }

    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!(usage["credit_balance"], 65);
    assert_eq!(usage["plan"], "pro");
    assert_eq!(usage["subscription"]["cancel_at_period_end"], true, "an older update must not undo the newer one");
}

#[tokio::test]
async fn a_deleted_subscription_is_not_revived_by_a_late_update() {
    let stack = manual_stack().await;
    let customer = pro_customer_with_undelivered_events(&stack).await;
    let created = stack.stripe_events("customer.subscription.created").remove(0);
    customer.send(Method::DELETE, "/api/v1/billing/subscription", None).await.unwrap();
    let deleted = stack.stripe_events("customer.subscription.deleted").remove(0);

    stack.deliver_event(&deleted).await.unwrap();
    let (status, body) = stack.deliver_event(&created).await.unwrap();

    assert_eq!(status, StatusCode::OK, "{body}");
    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!(usage["plan"], "payg");
    assert!(usage["subscription"].is_null(), "{usage}");
}

#[tokio::test]
async fn a_bad_stale_or_missing_signature_is_400_and_writes_nothing() {
    let stack = manual_stack().await;
    let customer = pro_customer_with_undelivered_events(&stack).await;
    let paid = serde_json::to_vec(&stack.stripe_events("invoice.paid").remove(0)).unwrap();
    let now = chrono::Utc::now().timestamp();

    let cases = [
        None,
        Some(stripe_signature(&paid, "whsec_someone_else", now)),
        Some(stripe_signature(&paid, &stack.webhook_secret, now - 301)),
        Some("t=notatime,v1=abc".to_string()),
    ];
    for signature in cases {
        let (status, body) = stack.deliver_raw(paid.clone(), signature.as_deref()).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{signature:?}");
        assert_eq!(body["error"]["code"], "invalid_signature");
    }
    // A payload changed after signing.
    let signature = stripe_signature(&paid, &stack.webhook_secret, now);
    let mut tampered = paid.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(stack.deliver_raw(tampered, Some(&signature)).await.unwrap().0, StatusCode::BAD_REQUEST);

    assert_eq!(stack.count_rows("stripe_events").await.unwrap(), 0);
    assert_eq!(balance(&customer).await, 5);
}

#[tokio::test]
async fn during_a_secret_rotation_both_the_old_and_the_new_secret_are_accepted() {
    let stack = Stack::start_with(StackOptions {
        deliver_webhooks: false,
        configure: Box::new(|config| config.webhooks.secrets = vec!["whsec_old".into()]),
        ..Default::default()
    })
    .await
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let event = |id: &str| {
        serde_json::to_vec(&json!({"id": id, "type": "something.else", "created": 1, "data": {"object": {}}})).unwrap()
    };

    let old = event("evt_old");
    assert_eq!(
        stack.deliver_raw(old.clone(), Some(&stripe_signature(&old, "whsec_old", now))).await.unwrap().0,
        StatusCode::OK
    );
    let new = event("evt_new");
    let signed_new = stripe_signature(&new, &stack.webhook_secret, now);
    assert_eq!(stack.deliver_raw(new, Some(&signed_new)).await.unwrap().0, StatusCode::OK);
    let other = event("evt_other");
    let signed_other = stripe_signature(&other, "whsec_retired", now);
    assert_eq!(stack.deliver_raw(other, Some(&signed_other)).await.unwrap().0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_event_types_and_unknown_customers_are_accepted_and_ignored() {
    let stack = manual_stack().await;
    let unknown_type = json!({"id": "evt_unknown_type", "type": "charge.dispute.created", "created": 1, "data": {"object": {"id": "dp_1"}}});
    let unknown_customer = json!({"id": "evt_unknown_customer", "type": "invoice.paid", "created": 1,
        "data": {"object": {"id": "in_1", "object": "invoice", "customer": "cus_nobody", "subscription": "sub_1", "status": "paid"}}});

    for event in [unknown_type, unknown_customer] {
        let (status, body) = stack.deliver_event(&event).await.unwrap();
        assert_eq!((status, body["outcome"].as_str()), (StatusCode::OK, Some("ignored")), "{event}");
    }
    let text = stack.metrics().await.unwrap();
    assert!(text.contains(r#"billing_webhooks_total{outcome="ignored"} 2"#), "{text}");
}

#[tokio::test]
async fn an_event_nothing_handles_is_recorded_once_and_its_redelivery_is_a_duplicate() {
    let stack = manual_stack().await;
    let event = json!({"id": "evt_customer_created", "type": "customer.created", "created": 1,
        "data": {"object": {"id": "cus_1", "object": "customer"}}});

    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let (status, body) = stack.deliver_event(&event).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        outcomes.push(body["outcome"].as_str().unwrap().to_string());
    }

    assert_eq!(outcomes, ["ignored", "duplicate"]);
    let stored: Vec<(String, String)> = sqlx::query_as("SELECT type, outcome FROM stripe_events WHERE event_id = $1")
        .bind("evt_customer_created")
        .fetch_all(&stack.pool)
        .await
        .unwrap();
    assert_eq!(stored, [("customer.created".to_string(), "ignored".to_string())]);
}

#[tokio::test]
async fn a_signed_body_that_is_not_an_event_is_400() {
    let stack = manual_stack().await;
    for body in [json!({"hello": "world"}), json!({"id": "evt_1", "type": "x"})] {
        let (status, answer) = stack.deliver_event(&body).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"]["code"], "malformed_json");
    }
}

#[tokio::test]
async fn an_invoice_whose_subscription_stripe_cannot_return_now_grants_nothing_until_redelivered() {
    let stack = manual_stack().await;
    let customer = pro_customer_with_undelivered_events(&stack).await;
    let paid = stack.stripe_events("invoice.paid").remove(0);
    let created = stack.stripe_events("customer.subscription.created").remove(0);
    let subscription = created["data"]["object"]["id"].as_str().unwrap().to_string();
    stack.stripe.inject_fault(Fault::on("GET", &format!("/v1/subscriptions/{subscription}")).status(500));

    let (status, answer) = stack.deliver_event(&paid).await.unwrap();

    assert!(status.is_server_error(), "Stripe must deliver it again: {status} {answer}");
    assert!(answer["error"]["message"].is_string(), "{answer}");
    assert_eq!(balance(&customer).await, 5, "no credits without the subscription");
    let (status, answer) = stack.deliver_event(&paid).await.unwrap();
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("applied")), "{answer}");
    assert_eq!(balance(&customer).await, 65);
}

#[tokio::test]
async fn an_event_that_fetched_an_older_state_does_not_have_the_last_word() {
    let stack = manual_stack().await;
    let customer = pro_customer_with_undelivered_events(&stack).await;
    let created = stack.stripe_events("customer.subscription.created").remove(0);
    let subscription = created["data"]["object"]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/subscriptions/{subscription}");
    // The first event's fetch reads the subscription as it is now, and its answer arrives late.
    stack.stripe.inject_fault(Fault::on("GET", &path).after_success().latency(Duration::from_secs(2)));
    let first = stack.deliver_event(&created);
    let meanwhile = async {
        wait_until("the first event's fetch to reach Stripe", Duration::from_secs(10), || async {
            Ok(stack.stripe.armed_faults().is_empty().then_some(()))
        })
        .await
        .unwrap();
        // Meanwhile the subscription changes, and that change's event is applied in full.
        stack.stripe_api().post(&path, &[("cancel_at_period_end", "true")]).await.unwrap();
        let updated = stack.stripe_events("customer.subscription.updated").pop().unwrap();
        assert_eq!(stack.deliver_event(&updated).await.unwrap().0, StatusCode::OK);
        assert_eq!(customer.usage().await.unwrap().unwrap()["subscription"]["cancel_at_period_end"], true);
    };
    // The first event commits its older state last, then looks again.
    let (first, ()) = tokio::join!(first, meanwhile);

    assert_eq!(first.unwrap().0, StatusCode::OK);
    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!(usage["subscription"]["cancel_at_period_end"], true, "the older fetch was stored last: {usage}");
}

#[tokio::test]
async fn an_event_nobody_races_fetches_its_subscription_once() {
    let stack = manual_stack().await;
    pro_customer_with_undelivered_events(&stack).await;
    let created = stack.stripe_events("customer.subscription.created").remove(0);
    let path = format!("/v1/subscriptions/{}", created["data"]["object"]["id"].as_str().unwrap());
    let fetches = || stack.stripe.requests().iter().filter(|r| r.method == "GET" && r.path == path).count();
    let before = fetches();

    let (status, answer) = stack.deliver_event(&created).await.unwrap();

    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(fetches() - before, 1, "a second fetch is only for an event that raced another store");
}
