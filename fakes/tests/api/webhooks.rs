//! Webhook delivery: signatures checked by an independent HMAC, retries, duplicates, shuffling.

use std::time::Duration;

use billing_fakes::RetryPolicy;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::helpers::{TestStripe, WebhookReceiver, eventually};

/// Verifies a Stripe-Signature header the way Stripe's libraries do, independently of the fake.
fn verify(secret: &str, header: &str, payload: &str) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = Some(t.to_string()),
            Some(("v1", v)) => signatures.push(v.to_string()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    signatures.contains(&expected)
}

#[tokio::test]
async fn every_event_is_delivered_signed_to_the_endpoint() {
    let stripe = TestStripe::start().await;
    let receiver = WebhookReceiver::start().await;
    let endpoint = stripe.fake.add_webhook_endpoint(&receiver.url);
    assert!(endpoint.secret.starts_with("whsec_"));
    stripe.customer("a@example.com").await;
    stripe.fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let (signature, payload) = &received[0];
    assert!(verify(&endpoint.secret, signature, payload), "bad signature {signature}");
    assert!(!verify("whsec_wrong", signature, payload));
    let event: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(event, stripe.fake.events()[0]);
    assert_eq!(event["type"], "customer.created");
    assert_eq!(event["pending_webhooks"], 1);
    let deliveries = stripe.fake.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, Some(200));
    assert_eq!(deliveries[0].attempt, 1);
    assert_eq!(deliveries[0].endpoint_id, endpoint.id);
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_with_backoff_until_it_accepts() {
    let stripe = TestStripe::start().await;
    stripe.fake.set_retry_policy(RetryPolicy {
        first_backoff: Duration::from_millis(20),
        max_attempts: 5,
        timeout: Duration::from_secs(2),
    });
    let receiver = WebhookReceiver::failing_first(2).await;
    stripe.fake.add_webhook_endpoint(&receiver.url);
    stripe.customer("a@example.com").await;
    stripe.fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    let attempts: Vec<(u32, Option<u16>)> = stripe.fake.deliveries().iter().map(|d| (d.attempt, d.status)).collect();
    assert_eq!(attempts, [(1, Some(500)), (2, Some(500)), (3, Some(200))]);
    assert_eq!(receiver.failures_left(), 0);
}

#[tokio::test]
async fn delivery_gives_up_after_the_last_attempt() {
    let stripe = TestStripe::start().await;
    stripe.fake.set_retry_policy(RetryPolicy {
        first_backoff: Duration::from_millis(5),
        max_attempts: 3,
        timeout: Duration::from_secs(1),
    });
    stripe.fake.add_webhook_endpoint("http://127.0.0.1:9/unreachable");
    stripe.customer("a@example.com").await;
    stripe.fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    let deliveries = stripe.fake.deliveries();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|d| d.status.is_none() && d.error.is_some()));
}

#[tokio::test]
async fn duplicate_deliveries_send_each_event_twice() {
    let stripe = TestStripe::start().await;
    let receiver = WebhookReceiver::start().await;
    stripe.fake.add_webhook_endpoint(&receiver.url);
    stripe.fake.set_duplicate_deliveries(true);
    stripe.customer("a@example.com").await;
    stripe.fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].1, received[1].1);
}

#[tokio::test]
async fn shuffled_deliveries_still_deliver_every_event_once() {
    let stripe = TestStripe::start().await;
    let receiver = WebhookReceiver::start().await;
    stripe.fake.add_webhook_endpoint(&receiver.url);
    stripe.fake.set_shuffle_deliveries(true);
    let (customer, _) = stripe.customer_with_card("a@example.com", "pm_card_visa").await;
    let price = stripe.pro_price().await;
    stripe.post("/v1/subscriptions", &[("customer", customer.as_str()), ("items[0][price]", price.as_str())]).await;
    stripe.fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    let mut delivered: Vec<String> = receiver
        .received()
        .iter()
        .map(|(_, body)| serde_json::from_str::<Value>(body).unwrap()["id"].as_str().unwrap().to_string())
        .collect();
    let mut emitted: Vec<String> = stripe.fake.events().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    delivered.sort();
    emitted.sort();
    assert_eq!(delivered, emitted);
}

#[tokio::test]
async fn an_endpoint_created_over_the_api_gets_only_its_enabled_events_and_shows_the_secret_once() {
    let stripe = TestStripe::start().await;
    let receiver = WebhookReceiver::start().await;
    let created = stripe
        .post("/v1/webhook_endpoints", &[("url", receiver.url.as_str()), ("enabled_events[]", "customer.updated")])
        .await;
    assert_eq!(created.status, 200, "{}", created.raw);
    assert!(created.id().starts_with("we_"));
    let secret = created.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let fetched = stripe.get(&format!("/v1/webhook_endpoints/{}", created.id())).await;
    assert!(fetched.body.get("secret").is_none());
    assert_eq!(stripe.get("/v1/webhook_endpoints").await.body["data"].as_array().unwrap().len(), 1);

    let customer = stripe.customer("a@example.com").await;
    stripe.post(&format!("/v1/customers/{customer}"), &[("name", "Ada")]).await;
    assert!(eventually(Duration::from_secs(5), || receiver.received().len() == 1).await);
    stripe.fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    let (signature, payload) = &receiver.received()[0];
    assert!(verify(&secret, signature, payload));
    assert!(payload.contains("customer.updated"));

    let deleted = stripe.delete(&format!("/v1/webhook_endpoints/{}", created.id())).await;
    assert_eq!(deleted.body["deleted"], true);
}

#[tokio::test]
async fn a_disabled_endpoint_receives_nothing_until_enabled_again() {
    let stripe = TestStripe::start().await;
    let receiver = WebhookReceiver::start().await;
    let endpoint = stripe.fake.add_webhook_endpoint(&receiver.url);
    let disabled = stripe.post(&format!("/v1/webhook_endpoints/{}", endpoint.id), &[("disabled", "true")]).await;
    assert_eq!(disabled.body["status"], "disabled", "{}", disabled.raw);
    stripe.customer("a@example.com").await;
    stripe.fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    assert!(receiver.received().is_empty());

    stripe.post(&format!("/v1/webhook_endpoints/{}", endpoint.id), &[("disabled", "false")]).await;
    stripe.customer("b@example.com").await;
    stripe.fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_bad_endpoint_url_is_a_400() {
    let stripe = TestStripe::start().await;
    let answer = stripe.post("/v1/webhook_endpoints", &[("url", "ftp://x"), ("enabled_events[]", "*")]).await;
    assert_eq!((answer.status, answer.error_param()), (400, "url"));
}

#[tokio::test]
async fn an_endpoint_that_hangs_does_not_delay_deliveries_to_another() {
    let stripe = TestStripe::start().await;
    stripe.fake.set_retry_policy(RetryPolicy {
        first_backoff: Duration::from_millis(20),
        max_attempts: 2,
        timeout: Duration::from_secs(30),
    });
    let hanging = WebhookReceiver::hanging().await;
    let prompt = WebhookReceiver::start().await;
    stripe.fake.add_webhook_endpoint(&hanging.url);
    stripe.fake.add_webhook_endpoint(&prompt.url);
    for n in 0..5 {
        stripe.customer(&format!("c{n}@example.com")).await;
    }
    // Well inside the hanging endpoint's 30 s timeout: delivery to it cannot have finished.
    assert!(
        eventually(Duration::from_secs(3), || prompt.received().len() == 5).await,
        "the prompt endpoint got {} of 5 while the other hangs",
        prompt.received().len()
    );
    assert!(
        eventually(Duration::from_secs(3), || hanging.received().len() == 5).await,
        "all five reach the hanging one"
    );
    assert!(stripe.fake.deliveries().iter().all(|d| d.url == prompt.url), "no attempt to the hanging one has finished");
    assert!(stripe.fake.wait_for_deliveries_idle(Duration::from_millis(50)).await.is_err(), "those five are in flight");
}
