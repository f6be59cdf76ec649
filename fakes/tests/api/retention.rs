//! Bounding what a long run keeps: events, requests, idempotency results and delivery attempts
//! as rings whose drops are counted (Rust API, control API, flag); objects are never dropped.

use std::time::Duration;

use billing_fakes::StripeFake;

use crate::helpers::{TestStripe, WebhookReceiver};

#[tokio::test]
async fn a_bounded_fake_keeps_the_newest_entries_counts_the_dropped_and_keeps_every_object() {
    let stripe = TestStripe::on(StripeFake::builder().retain(3).start().await.unwrap());
    let fake = &stripe.fake;
    let receiver = WebhookReceiver::start().await;
    fake.add_webhook_endpoint(&receiver.url);
    let mut first_event = None;
    for n in 0..10 {
        let answer =
            stripe.post_idempotent("/v1/customers", &format!("k{n}"), &[("email", &format!("c{n}@x.co"))]).await;
        assert_eq!(answer.status, 200);
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

    let old = stripe.get(&format!("/v1/events/{}", first_event.unwrap())).await;
    assert_eq!(old.status, 404, "a dropped event is gone");
    let listed = stripe.get("/v1/customers?limit=100").await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn the_limit_can_be_set_and_read_over_the_control_api() {
    let stripe = TestStripe::start().await;
    for n in 0..5 {
        stripe.customer(&format!("c{n}@example.com")).await;
    }
    let settings = stripe.control_post("/_fake/settings", &serde_json::json!({"retain": 2})).await;
    assert_eq!(settings["retain"], 2);
    let stats = stripe.control_get("/_fake/stats").await;
    assert_eq!(stats["events"], serde_json::json!({"retained": 2, "dropped": 3}));
    assert_eq!(stats["requests"]["retained"], 2);
    assert_eq!(stats["objects"]["customer"], 5);
    assert_eq!(stats["retain"], 2);
    stripe.control_post("/_fake/settings", &serde_json::json!({"retain": 0})).await;
    assert_eq!(stripe.fake.stats().retain, None, "0 keeps everything again");
}
