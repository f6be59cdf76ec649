//! Idempotency keys: byte-for-byte replays, mismatches, and retries after server errors.

use crate::helpers::TestStripe;

#[tokio::test]
async fn a_retry_with_the_same_key_replays_the_first_response_byte_for_byte() {
    let stripe = TestStripe::start().await;
    let first = stripe.post_idempotent("/v1/customers", "key-1", &[("email", "a@example.com")]).await;
    let again = stripe.post_idempotent("/v1/customers", "key-1", &[("email", "a@example.com")]).await;
    assert_eq!(first.raw, again.raw);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert!(first.headers.get("idempotent-replayed").is_none());
    assert_eq!(stripe.get("/v1/customers").await.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(stripe.fake.requests()[1].idempotency_key.as_deref(), Some("key-1"));
}

#[tokio::test]
async fn the_same_key_with_different_params_is_an_idempotency_error() {
    let stripe = TestStripe::start().await;
    stripe.post_idempotent("/v1/customers", "key-2", &[("email", "a@example.com")]).await;
    let other = stripe.post_idempotent("/v1/customers", "key-2", &[("email", "b@example.com")]).await;
    assert_eq!(other.status, 400);
    assert_eq!(other.body["error"]["type"], "idempotency_error");
}

#[tokio::test]
async fn an_injected_server_error_is_not_remembered_so_the_retry_succeeds() {
    let stripe = TestStripe::start().await;
    stripe.fake.inject_fault(billing_fakes::Fault::on("POST", "/v1/customers").status(500));
    let failed = stripe.post_idempotent("/v1/customers", "key-3", &[("email", "a@example.com")]).await;
    assert_eq!(failed.status, 500);
    let retried = stripe.post_idempotent("/v1/customers", "key-3", &[("email", "a@example.com")]).await;
    assert_eq!(retried.status, 200);
}

#[tokio::test]
async fn a_validation_error_is_not_remembered_so_the_key_can_be_used_with_fixed_params() {
    let stripe = TestStripe::start().await;
    let invalid = stripe.post_idempotent("/v1/customers", "key-5", &[("email", "not-an-email")]).await;
    assert_eq!(invalid.status, 400);
    let fixed = stripe.post_idempotent("/v1/customers", "key-5", &[("email", "a@example.com")]).await;
    assert_eq!(fixed.status, 200, "{}", fixed.raw);
}

#[tokio::test]
async fn a_card_decline_is_remembered_and_replayed() {
    let stripe = TestStripe::start().await;
    let (customer, _) = stripe.customer_with_card("a@example.com", "pm_card_chargeDeclined").await;
    let form = [
        ("amount", "2900"),
        ("currency", "usd"),
        ("customer", customer.as_str()),
        ("confirm", "true"),
        ("off_session", "true"),
    ];
    let first = stripe.post_idempotent("/v1/payment_intents", "charge-1", &form).await;
    let again = stripe.post_idempotent("/v1/payment_intents", "charge-1", &form).await;
    assert_eq!((first.status, again.status), (402, 402));
    assert_eq!(first.raw, again.raw);
    assert_eq!(stripe.get("/v1/payment_intents").await.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_idempotency_key_is_copied_into_the_events_it_caused() {
    let stripe = TestStripe::start().await;
    stripe.post_idempotent("/v1/customers", "key-4", &[("email", "a@example.com")]).await;
    let event = &stripe.fake.events()[0];
    assert_eq!(event["request"]["idempotency_key"], "key-4");
    assert!(event["request"]["id"].as_str().unwrap().starts_with("req_"));
}
