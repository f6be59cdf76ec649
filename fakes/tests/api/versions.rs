//! API versions: `Stripe-Version` honoured and echoed, the shape changes of 2025-03-31.basil,
//! versions the fake does not know answered in the shapes of the nearest older release it knows
//! (and named in `Stripe-Fake-Shapes`), refused when the fake is strict, a clear 400 for a
//! malformed one, the account's default version, and webhook events rendered in each endpoint's
//! version.

use std::time::Duration;

use billing_fakes::{Fault, StripeFake};
use serde_json::{Value, json};

use crate::helpers::{Answer, KEY, TestStripe, WebhookReceiver};

const BEFORE_BASIL: &str = "2025-02-24.acacia";
const BASIL: &str = "2025-03-31.basil";
/// The version stripe-node 23.2.0 pins, a month newer than the newest the fake knows.
const FUTURE: &str = "2026-11-18.endive";
/// Between 2025-02-24.acacia and 2025-03-31.basil: answered in acacia's (pre-basil) shapes.
const BETWEEN: &str = "2025-03-15.acacia";
/// Older than 2024-06-20, the oldest the fake knows.
const ANCIENT: &str = "2020-08-27";

/// Creates a Pro subscription with its first invoice expanded, in `version`.
async fn subscribe_in(stripe: &TestStripe, version: &str) -> Answer {
    let (customer, _) = stripe.customer_with_card("v@example.com", "pm_card_visa").await;
    let price = stripe.pro_price().await;
    let form = [("customer", customer.as_str()), ("items[0][price]", price.as_str()), ("expand[]", "latest_invoice")];
    let answer = stripe.post_versioned("/v1/subscriptions", version, &form).await;
    assert_eq!(answer.status, 200, "{}", answer.raw);
    answer
}

fn shapes(answer: &Answer) -> (&str, &str) {
    let header = |name: &str| answer.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("<absent>");
    (header("stripe-version"), header("stripe-fake-shapes"))
}

fn in_basil_shapes(subscription: &Value) -> bool {
    subscription["items"]["data"][0]["current_period_end"].is_i64()
        && subscription.get("current_period_end").is_none()
        && subscription["latest_invoice"]["parent"]["subscription_details"]["subscription"] == subscription["id"]
}

fn in_pre_basil_shapes(subscription: &Value) -> bool {
    subscription["current_period_end"].is_i64()
        && subscription["items"]["data"][0].get("current_period_end").is_none()
        && subscription["latest_invoice"]["subscription"] == subscription["id"]
        && subscription["latest_invoice"].get("parent").is_none()
}

#[tokio::test]
async fn the_requested_version_is_echoed_and_the_default_is_the_newest() {
    let stripe = TestStripe::start().await;
    let default = stripe.get("/v1/customers").await;
    assert_eq!(shapes(&default), (billing_fakes::stripe::API_VERSION, billing_fakes::stripe::API_VERSION));
    let pinned = stripe.get_versioned("/v1/customers", BASIL).await;
    assert_eq!(pinned.status, 200);
    assert_eq!(shapes(&pinned), (BASIL, BASIL));
    for version in billing_fakes::stripe::supported_api_versions() {
        let answer = stripe.get_versioned("/v1/customers", version).await;
        assert_eq!((answer.status, shapes(&answer)), (200, (*version, *version)));
    }
}

#[tokio::test]
async fn a_version_from_the_future_is_echoed_and_answered_in_the_newest_shapes() {
    let stripe = TestStripe::start().await;
    let subscription = subscribe_in(&stripe, FUTURE).await;
    assert_eq!(shapes(&subscription), (FUTURE, billing_fakes::stripe::API_VERSION));
    assert!(in_basil_shapes(&subscription.body), "{}", subscription.raw);
    let far = stripe.get_versioned("/v1/customers", "2099-01-01.zinnia").await;
    assert_eq!((far.status, shapes(&far)), (200, ("2099-01-01.zinnia", billing_fakes::stripe::API_VERSION)));
}

#[tokio::test]
async fn a_version_between_two_known_ones_is_answered_in_the_shapes_of_the_one_before_it() {
    let stripe = TestStripe::start().await;
    let subscription = subscribe_in(&stripe, BETWEEN).await;
    assert_eq!(shapes(&subscription), (BETWEEN, BEFORE_BASIL));
    assert!(in_pre_basil_shapes(&subscription.body), "{}", subscription.raw);
    let same_day = stripe.get_versioned("/v1/customers", "2025-03-31.preview").await;
    assert_eq!((same_day.status, shapes(&same_day)), (200, ("2025-03-31.preview", BASIL)));
}

#[tokio::test]
async fn a_version_older_than_the_oldest_is_answered_in_the_oldest_shapes() {
    let stripe = TestStripe::start().await;
    let subscription = subscribe_in(&stripe, ANCIENT).await;
    assert_eq!(shapes(&subscription), (ANCIENT, "2024-06-20"));
    assert!(in_pre_basil_shapes(&subscription.body), "{}", subscription.raw);
}

#[tokio::test]
async fn a_malformed_version_is_a_400_that_says_the_form() {
    let stripe = TestStripe::start().await;
    for malformed in ["2019-1-1", "latest", "2026-02-30", "2026-11-18.Endive", "2026-11-18; flag_beta=v1"] {
        let refused = stripe.get_versioned("/v1/customers", malformed).await;
        assert_eq!(refused.status, 400, "{malformed}: {}", refused.raw);
        assert_eq!(refused.body["error"]["type"], "invalid_request_error", "{}", refused.raw);
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("Invalid Stripe API version: {malformed}.")), "{message}");
        assert!(message.contains("YYYY-MM-DD"), "{message}");
        assert!(refused.headers.contains_key("request-id"));
    }
    let not_text = stripe
        .send(
            stripe
                .http
                .get(stripe.url("/v1/customers"))
                .bearer_auth(KEY)
                .header("Stripe-Version", &b"2026-11-18.\xe9"[..]),
        )
        .await;
    assert_eq!(not_text.status, 400, "a Stripe-Version that is not text is refused, not ignored: {}", not_text.raw);
    assert!(stripe.fake.stats().objects.values().all(|count| *count == 0), "nothing was created");
}

#[tokio::test]
async fn a_strict_fake_refuses_versions_it_does_not_know_and_lists_the_ones_it_does() {
    let fake = StripeFake::builder().strict_api_versions(true).start().await.unwrap();
    let stripe = TestStripe::on(fake);
    let refused = stripe.post_versioned("/v1/customers", FUTURE, &[("email", "a@b.co")]).await;
    assert_eq!(refused.status, 400, "{}", refused.raw);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("Invalid Stripe API version: {FUTURE}.")), "{message}");
    assert!(message.contains(BEFORE_BASIL) && message.contains(BASIL), "{message}");
    assert!(message.contains("--strict-api-versions"), "{message}");
    assert!(stripe.fake.events().is_empty(), "a refused request creates nothing");
    assert_eq!(stripe.get_versioned("/v1/customers", BASIL).await.status, 200);
    let endpoint = stripe
        .post("/v1/webhook_endpoints", &[("url", "http://x"), ("enabled_events[]", "*"), ("api_version", FUTURE)])
        .await;
    assert_eq!((endpoint.status, endpoint.error_param()), (400, "api_version"), "{}", endpoint.raw);

    let unknown_default = StripeFake::builder().api_version(FUTURE).unwrap().strict_api_versions(true).start().await;
    let refused = unknown_default.err().expect("a strict fake refuses an account version it does not know");
    assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    assert!(refused.to_string().contains(FUTURE), "{refused}");
}

#[tokio::test]
async fn strictness_is_a_setting_of_the_control_api_that_survives_a_reset() {
    let stripe = TestStripe::start().await;
    assert_eq!(stripe.get_versioned("/v1/customers", FUTURE).await.status, 200);
    let settings = stripe.control_post("/_fake/settings", &json!({ "strict_api_versions": true })).await;
    assert_eq!(settings["strict_api_versions"], true);
    assert_eq!(stripe.get_versioned("/v1/customers", FUTURE).await.status, 400);
    stripe.fake.reset();
    assert_eq!(stripe.get_versioned("/v1/customers", FUTURE).await.status, 400);
    stripe.control_post("/_fake/settings", &json!({ "strict_api_versions": false })).await;
    assert_eq!(stripe.get_versioned("/v1/customers", FUTURE).await.status, 200);
}

#[tokio::test]
async fn a_fault_after_success_keeps_the_version_headers_of_the_answer_it_replaces() {
    let stripe = TestStripe::start().await;
    stripe.fake.inject_fault(Fault::on("POST", "/v1/customers").after_success().status(500));
    let failed = stripe.post_versioned("/v1/customers", BETWEEN, &[("email", "a@b.co")]).await;
    assert_eq!((failed.status, shapes(&failed)), (500, (BETWEEN, BEFORE_BASIL)));
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
        .post("/v1/webhook_endpoints", &[("url", "http://x"), ("enabled_events[]", "*"), ("api_version", "1999-1-1")])
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
    assert!(StripeFake::builder().api_version("2099-12").is_err());
}

#[tokio::test]
async fn an_endpoint_pinned_to_an_unknown_version_gets_events_named_so_in_the_shapes_that_answer_it() {
    let stripe = TestStripe::start().await;
    let future_receiver = WebhookReceiver::start().await;
    let between_receiver = WebhookReceiver::start().await;
    for (receiver, version) in [(&future_receiver, FUTURE), (&between_receiver, BETWEEN)] {
        let endpoint = stripe
            .post(
                "/v1/webhook_endpoints",
                &[
                    ("url", receiver.url.as_str()),
                    ("enabled_events[]", "customer.subscription.created"),
                    ("api_version", version),
                ],
            )
            .await;
        assert_eq!(endpoint.body["api_version"], version, "{}", endpoint.raw);
    }
    subscribe_in(&stripe, BASIL).await;
    stripe.fake.wait_for_deliveries_idle(Duration::from_secs(5)).await.unwrap();
    let future: Value = serde_json::from_str(&future_receiver.received()[0].1).unwrap();
    let between: Value = serde_json::from_str(&between_receiver.received()[0].1).unwrap();
    assert_eq!(future["api_version"], FUTURE);
    assert!(future["data"]["object"]["items"]["data"][0]["current_period_end"].is_i64(), "{future}");
    assert_eq!(between["api_version"], BETWEEN);
    assert!(between["data"]["object"]["current_period_end"].is_i64(), "{between}");
}

#[tokio::test]
async fn a_fake_started_with_a_version_from_the_future_answers_and_emits_under_its_name() {
    let fake = StripeFake::builder().api_version(FUTURE).unwrap().start().await.unwrap();
    let stripe = TestStripe::on(fake);
    let subscription = subscribe_in(&stripe, FUTURE).await;
    assert!(in_basil_shapes(&subscription.body), "{}", subscription.raw);
    let listed = stripe.get("/v1/customers").await;
    assert_eq!(shapes(&listed), (FUTURE, billing_fakes::stripe::API_VERSION));
    let events = stripe.fake.events();
    assert!(!events.is_empty() && events.iter().all(|event| event["api_version"] == FUTURE), "{events:?}");
}
