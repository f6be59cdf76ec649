//! Bounding what a long run keeps: events, requests, idempotency results and delivery attempts
//! as rings whose drops are counted (Rust API, control API, flag); objects are never dropped.

use std::time::Duration;

use billing_fakes::StripeFake;

use crate::helpers::{KEY, TestStripe, WebhookReceiver};

#[tokio::test]
async fn a_bounded_fake_keeps_the_newest_entries_counts_the_dropped_and_keeps_every_object() {
    let fake = StripeFake::builder().retain(3).start().await.unwrap();
    let receiver = WebhookReceiver::start().await;
    fake.add_webhook_endpoint(&receiver.url);
    let http = billing_fakes::tls::client();
    let mut first_event = None;
    for n in 0..10 {
        let url = format!("{}/v1/customers", fake.base_url());
        let answer = http
            .post(url)
            .bearer_auth(KEY)
            .header("Idempotency-Key", format!("k{n}"))
            .form(&[("email", format!("c{n}@x.co"))])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        if n == 0 {
            first_event = fake.events().first().and_then(|e| e["id"].as_str().map(str::to_string));
        }
    }
    fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    let stats = fake.stats();
    assert_eq!(stats.retain, Some(3));
    assert_eq!((stats.events.retained, stats.events.dropped), (3, 7));
    assert_eq!((stats.requests.retained, stats.requests.dropped), (3, 7));
    assert_eq!((stats.idempotency_keys.retained, stats.idempotency_keys.dropped), (3, 7));
    assert_eq!((stats.deliveries.retained, stats.deliveries.dropped), (3, 7));
    assert_eq!(stats.objects["customer"], 10, "objects are never dropped");
    assert_eq!(fake.events().len(), 3);
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(receiver.received().len(), 10, "every event was still delivered");

    let old = http
        .get(format!("{}/v1/events/{}", fake.base_url(), first_event.unwrap()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 404, "a dropped event is gone");
    let listed: serde_json::Value = http
        .get(format!("{}/v1/customers?limit=100", fake.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn the_limit_can_be_set_and_read_over_the_control_api() {
    let stripe = TestStripe::start().await;
    for n in 0..5 {
        stripe.customer(&format!("c{n}@example.com")).await;
    }
    let settings: serde_json::Value = stripe
        .http
        .post(stripe.url("/_fake/settings"))
        .json(&serde_json::json!({"retain": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["retain"], 2);
    let stats: serde_json::Value =
        stripe.http.get(stripe.url("/_fake/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["events"], serde_json::json!({"retained": 2, "dropped": 3}));
    assert_eq!(stats["requests"]["retained"], 2);
    assert_eq!(stats["objects"]["customer"], 5);
    assert_eq!(stats["retain"], 2);
    stripe.http.post(stripe.url("/_fake/settings")).json(&serde_json::json!({"retain": 0})).send().await.unwrap();
    assert_eq!(stripe.fake.stats().retain, None, "0 keeps everything again");
}
