//! API versions: `Stripe-Version` honoured and echoed, the shape changes of 2025-03-31.basil,
//! a clear 400 for a version the fake does not speak, the account's default version, and webhook
//! events rendered in each endpoint's version.

use std::time::Duration;

use billing_fakes::StripeFake;
use serde_json::Value;

use crate::helpers::{KEY, TestStripe, WebhookReceiver};

const BEFORE_BASIL: &str = "2025-02-24.acacia";
const BASIL: &str = "2025-03-31.basil";

#[tokio::test]
async fn the_requested_version_is_echoed_and_the_default_is_the_newest() {
    let stripe = TestStripe::start().await;
    let default = stripe.get("/v1/customers").await;
    assert_eq!(default.headers["stripe-version"], billing_fakes::stripe::API_VERSION);
    let pinned = stripe.get_versioned("/v1/customers", BASIL).await;
    assert_eq!(pinned.status, 200);
    assert_eq!(pinned.headers["stripe-version"], BASIL);
    for version in billing_fakes::stripe::supported_api_versions() {
        assert_eq!(stripe.get_versioned("/v1/customers", version).await.status, 200, "{version}");
    }
}

#[tokio::test]
async fn an_unsupported_version_is_a_400_that_lists_the_supported_ones() {
    let stripe = TestStripe::start().await;
    let refused = stripe.get_versioned("/v1/customers", "2019-01-01").await;
    assert_eq!(refused.status, 400, "{}", refused.raw);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Invalid Stripe API version: 2019-01-01."), "{message}");
    assert!(message.contains(BEFORE_BASIL) && message.contains(BASIL), "{message}");
}

#[tokio::test]
async fn before_basil_the_period_is_on_the_subscription_and_the_invoice_names_its_subscription() {
    let stripe = TestStripe::start().await;
    let (customer, _) = stripe.customer_with_card("v@example.com", "pm_card_visa").await;
    let price = stripe.pro_price().await;
    let old = stripe
        .post_versioned(
            "/v1/subscriptions",
            BEFORE_BASIL,
            &[("customer", customer.as_str()), ("items[0][price]", price.as_str()), ("expand[]", "latest_invoice")],
        )
        .await;
    assert_eq!(old.status, 200, "{}", old.raw);
    assert_eq!(old.headers["stripe-version"], BEFORE_BASIL);
    assert!(old.body["current_period_end"].is_i64(), "{}", old.raw);
    assert!(old.body["items"]["data"][0].get("current_period_end").is_none());
    let invoice = &old.body["latest_invoice"];
    assert_eq!(invoice["subscription"], old.id().as_str());
    assert_eq!(invoice["paid"], true);
    assert!(invoice.get("parent").is_none());
    assert_eq!(invoice["lines"]["data"][0]["type"], "subscription");
    assert_eq!(invoice["lines"]["data"][0]["price"]["id"], price.as_str());

    let new = stripe.get_versioned(&format!("/v1/subscriptions/{}?expand[]=latest_invoice", old.id()), BASIL).await;
    assert!(new.body.get("current_period_end").is_none());
    assert_eq!(new.body["items"]["data"][0]["current_period_end"], old.body["current_period_end"]);
    assert!(new.body["latest_invoice"].get("subscription").is_none());
    assert_eq!(new.body["latest_invoice"]["parent"]["subscription_details"]["subscription"], old.id().as_str());
}

#[tokio::test]
async fn each_endpoint_gets_events_in_its_own_version() {
    let stripe = TestStripe::start().await;
    let old_receiver = WebhookReceiver::start().await;
    let new_receiver = WebhookReceiver::start().await;
    let pinned = stripe
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", old_receiver.url.as_str()),
                ("enabled_events[]", "customer.subscription.created"),
                ("api_version", BEFORE_BASIL),
            ],
        )
        .await;
    assert_eq!(pinned.body["api_version"], BEFORE_BASIL, "{}", pinned.raw);
    stripe
        .post(
            "/v1/webhook_endpoints",
            &[("url", new_receiver.url.as_str()), ("enabled_events[]", "customer.subscription.created")],
        )
        .await;
    let bad = stripe
        .post("/v1/webhook_endpoints", &[("url", "http://x"), ("enabled_events[]", "*"), ("api_version", "1999-01-01")])
        .await;
    assert_eq!((bad.status, bad.error_param()), (400, "api_version"));

    let (customer, _) = stripe.customer_with_card("v@example.com", "pm_card_visa").await;
    let price = stripe.pro_price().await;
    stripe.post("/v1/subscriptions", &[("customer", customer.as_str()), ("items[0][price]", price.as_str())]).await;
    stripe.fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    let old: Value = serde_json::from_str(&old_receiver.received()[0].1).unwrap();
    let new: Value = serde_json::from_str(&new_receiver.received()[0].1).unwrap();
    assert_eq!(old["api_version"], BEFORE_BASIL);
    assert!(old["data"]["object"]["current_period_end"].is_i64());
    assert_eq!(new["api_version"], billing_fakes::stripe::API_VERSION);
    assert!(new["data"]["object"].get("current_period_end").is_none());
    assert_eq!(old["id"], new["id"], "the same event");
}

#[tokio::test]
async fn a_fake_started_with_an_older_account_version_answers_and_emits_in_it() {
    let fake = StripeFake::builder().api_version(BEFORE_BASIL).unwrap().start().await.unwrap();
    let http = billing_fakes::tls::client();
    let answer = http.get(format!("{}/v1/customers", fake.base_url())).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(answer.headers()["stripe-version"], BEFORE_BASIL);
    http.post(format!("{}/v1/customers", fake.base_url()))
        .bearer_auth(KEY)
        .form(&[("email", "a@b.co")])
        .send()
        .await
        .unwrap();
    assert_eq!(fake.events()[0]["api_version"], BEFORE_BASIL);
    assert!(StripeFake::builder().api_version("2099-12-31").is_err());
}
