//! Customers: create, retrieve, update with `previous_attributes`, delete, list and paginate.

use serde_json::json;

use crate::helpers::TestStripe;

#[tokio::test]
async fn a_created_customer_can_be_retrieved_with_its_fields() {
    let stripe = TestStripe::start().await;
    let created = stripe
        .post(
            "/v1/customers",
            &[
                ("email", "ada@example.com"),
                ("name", "Ada Lovelace"),
                ("description", "first"),
                ("metadata[plan]", "pro"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.raw);
    let id = created.id();
    assert!(id.starts_with("cus_"));
    assert_eq!(created.body["object"], "customer");
    assert_eq!(created.body["livemode"], false);
    assert!(created.body["created"].as_i64().unwrap() > 1_700_000_000);

    let fetched = stripe.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body["email"], "ada@example.com");
    assert_eq!(fetched.body["name"], "Ada Lovelace");
    assert_eq!(fetched.body["metadata"], json!({"plan": "pro"}));
    assert_eq!(stripe.fake.object(&id).unwrap()["description"], "first");
    assert_eq!(stripe.event_types(), ["customer.created"]);
}

#[tokio::test]
async fn an_update_changes_fields_and_emits_customer_updated_with_previous_attributes() {
    let stripe = TestStripe::start().await;
    let id = stripe.customer("old@example.com").await;
    let updated =
        stripe.post(&format!("/v1/customers/{id}"), &[("email", "new@example.com"), ("metadata[tier]", "gold")]).await;
    assert_eq!(updated.status, 200, "{}", updated.raw);
    assert_eq!(updated.body["email"], "new@example.com");
    let event = stripe.fake.events().pop().unwrap();
    assert_eq!(event["type"], "customer.updated");
    assert_eq!(event["data"]["previous_attributes"]["email"], "old@example.com");
}

#[tokio::test]
async fn an_unknown_customer_is_a_404_resource_missing_naming_id() {
    let stripe = TestStripe::start().await;
    let answer = stripe.get("/v1/customers/cus_nope").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["error"]["code"], "resource_missing");
    assert_eq!(answer.body["error"]["type"], "invalid_request_error");
    assert_eq!(answer.error_param(), "id");
    assert_eq!(answer.body["error"]["message"], "No such customer: 'cus_nope'");
}

#[tokio::test]
async fn a_deleted_customer_answers_deleted_true() {
    let stripe = TestStripe::start().await;
    let id = stripe.customer("gone@example.com").await;
    let deleted = stripe.delete(&format!("/v1/customers/{id}")).await;
    assert_eq!(deleted.body, json!({"id": id, "object": "customer", "deleted": true}));
    let fetched = stripe.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(fetched.body["deleted"], true);
    assert!(stripe.event_types().contains(&"customer.deleted".to_string()));
    let update = stripe.post(&format!("/v1/customers/{id}"), &[("name", "x")]).await;
    assert_eq!(update.status, 404);
}

#[tokio::test]
async fn the_list_pages_newest_first_with_cursors() {
    let stripe = TestStripe::start().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(stripe.customer(&format!("c{n}@example.com")).await);
    }
    let first = stripe.get("/v1/customers?limit=2").await;
    assert_eq!(first.body["object"], "list");
    assert_eq!(first.body["url"], "/v1/customers");
    assert_eq!(first.body["has_more"], true);
    let page: Vec<&str> = first.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(page, [ids[4].as_str(), ids[3].as_str()]);

    let second = stripe.get(&format!("/v1/customers?limit=2&starting_after={}", ids[3])).await;
    let page: Vec<&str> = second.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(page, [ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(second.body["has_more"], true);

    let last = stripe.get(&format!("/v1/customers?limit=2&starting_after={}", ids[1])).await;
    assert_eq!(last.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(last.body["has_more"], false);

    let back = stripe.get(&format!("/v1/customers?limit=2&ending_before={}", ids[1])).await;
    let page: Vec<&str> = back.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(page, [ids[3].as_str(), ids[2].as_str()]);
    assert_eq!(back.body["has_more"], true);
}

#[tokio::test]
async fn the_list_filters_by_email() {
    let stripe = TestStripe::start().await;
    stripe.customer("a@example.com").await;
    let wanted = stripe.customer("b@example.com").await;
    let list = stripe.get("/v1/customers?email=b%40example.com").await;
    let data = list.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], wanted.as_str());
}

#[tokio::test]
async fn a_customer_created_with_a_card_has_it_attached_and_as_default() {
    let stripe = TestStripe::start().await;
    let created = stripe
        .post(
            "/v1/customers",
            &[("payment_method", "pm_card_visa"), ("invoice_settings[default_payment_method]", "pm_card_visa")],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.raw);
    let pm = created.body["invoice_settings"]["default_payment_method"].as_str().unwrap().to_string();
    assert!(pm.starts_with("pm_") && pm != "pm_card_visa");
    assert_eq!(stripe.fake.object(&pm).unwrap()["customer"], created.id().as_str());
}

#[tokio::test]
async fn reset_forgets_everything() {
    let stripe = TestStripe::start().await;
    let id = stripe.customer("a@example.com").await;
    stripe.fake.reset();
    assert!(stripe.fake.object(&id).is_none());
    assert!(stripe.fake.events().is_empty());
    assert!(stripe.fake.requests().is_empty());
}

#[tokio::test]
async fn the_list_filters_by_created_range_and_pages_within_it() {
    let stripe = TestStripe::start().await;
    const T: i64 = 1_767_225_600;
    // One customer per day on a test clock: created T, T+1d, …, T+5d.
    let clock = stripe.post("/v1/test_helpers/test_clocks", &[("frozen_time", &T.to_string())]).await.id();
    let mut ids = Vec::new();
    for day in 0..6 {
        if day > 0 {
            stripe.fake.advance_clock(&clock, T + day * 86_400).await.unwrap();
        }
        let customer = stripe.post("/v1/customers", &[("email", "d@example.com"), ("test_clock", &clock)]).await;
        assert_eq!(customer.body["created"], T + day * 86_400);
        ids.push(customer.id());
    }
    let ids_of = |answer: &crate::helpers::Answer| -> Vec<String> {
        answer.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    let (from, to) = ((T + 86_400).to_string(), (T + 4 * 86_400).to_string());
    let window = format!("/v1/customers?created[gte]={from}&created[lt]={to}&limit=2");
    let first = stripe.get(&window).await;
    assert_eq!(ids_of(&first), [ids[3].clone(), ids[2].clone()], "newest first, T+4d left out");
    assert_eq!(first.body["has_more"], true);
    let second = stripe.get(&format!("{window}&starting_after={}", ids[2])).await;
    assert_eq!(ids_of(&second), [ids[1].clone()], "T+1d in, T left out");
    assert_eq!(second.body["has_more"], false);

    let open = stripe.get(&format!("/v1/customers?created[gt]={from}&created[lte]={to}")).await;
    assert_eq!(ids_of(&open), [ids[4].clone(), ids[3].clone(), ids[2].clone()]);
    let exact = stripe.get(&format!("/v1/customers?created={to}")).await;
    assert_eq!(ids_of(&exact), [ids[4].clone()]);

    let bad = stripe.get("/v1/customers?created[gte]=soon").await;
    assert_eq!((bad.status, bad.error_param()), (400, "created[gte]"));
    let unknown = stripe.get("/v1/customers?created[after]=1").await;
    assert_eq!(unknown.status, 400, "{}", unknown.raw);
    assert!(unknown.raw.contains("created[after]"), "{}", unknown.raw);
}
