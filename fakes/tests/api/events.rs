//! The event log over `/v1/events`, and the `/_fake/*` control API.

use crate::helpers::TestStripe;

#[tokio::test]
async fn events_are_listed_newest_first_filtered_by_type_and_retrievable() {
    let stripe = TestStripe::start().await;
    let customer = stripe.customer("a@example.com").await;
    stripe.post(&format!("/v1/customers/{customer}"), &[("name", "Ada")]).await;
    let all = stripe.get("/v1/events").await;
    assert_eq!(all.body["data"][0]["type"], "customer.updated");
    assert_eq!(all.body["data"][1]["type"], "customer.created");
    let created = stripe.get("/v1/events?type=customer.created").await;
    let data = created.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    let event = &data[0];
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(event["object"], "event");
    assert_eq!(event["livemode"], false);
    assert!(event["api_version"].is_string());
    assert_eq!(event["data"]["object"]["id"], customer.as_str());
    let id = event["id"].as_str().unwrap();
    assert_eq!(stripe.get(&format!("/v1/events/{id}")).await.body, *event);
    assert_eq!(stripe.get("/v1/events?type=customer.*").await.body["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_control_api_mirrors_the_rust_methods() {
    let stripe = TestStripe::start().await;
    stripe.customer("a@example.com").await;
    let requests = stripe.control_get("/_fake/requests").await;
    assert_eq!(requests[0]["path"], "/v1/customers");
    let events = stripe.control_get("/_fake/events").await;
    assert_eq!(events[0]["type"], "customer.created");
    let settings = stripe
        .control_post("/_fake/settings", &serde_json::json!({"duplicate_deliveries": true, "retry_backoff_ms": 10}))
        .await;
    assert_eq!(settings["duplicate_deliveries"], true);
    let deliveries = stripe.http.get(stripe.url("/_fake/deliveries")).send().await.unwrap();
    assert_eq!(deliveries.status(), 200);
    let idle = stripe.http.post(stripe.url("/_fake/wait_for_deliveries")).send().await.unwrap();
    assert_eq!(idle.status(), 200);
    let customer = events[0]["data"]["object"]["id"].as_str().unwrap();
    let object = stripe.control_get(&format!("/_fake/objects/{customer}")).await;
    assert_eq!(object["object"], "customer");
    let reset = stripe.http.post(stripe.url("/_fake/reset")).send().await.unwrap();
    assert_eq!(reset.status(), 200);
    assert!(stripe.fake.events().is_empty());
    let bad = stripe.http.post(stripe.url("/_fake/faults")).body("{not json").send().await.unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn events_page_newest_first_with_cursors_in_both_directions() {
    let stripe = TestStripe::start().await;
    for n in 0..3 {
        stripe.customer(&format!("c{n}@example.com")).await;
    }
    let ids = |answer: &crate::helpers::Answer| -> Vec<String> {
        answer.body["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
    };
    let all = ids(&stripe.get("/v1/events").await);
    assert_eq!(all.len(), 3);
    let older = stripe.get(&format!("/v1/events?limit=1&starting_after={}", all[0])).await;
    assert_eq!((ids(&older), older.body["has_more"].as_bool()), (vec![all[1].clone()], Some(true)));
    let newer = stripe.get(&format!("/v1/events?limit=2&ending_before={}", all[2])).await;
    assert_eq!((ids(&newer), newer.body["has_more"].as_bool()), (all[..2].to_vec(), Some(false)));
    let unknown = stripe.get("/v1/events?starting_after=evt_nope").await;
    assert_eq!((unknown.status, unknown.error_param()), (404, "starting_after"));
}
