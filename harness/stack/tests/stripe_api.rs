//! `StripeApi` against the Stripe fake: what a journey reads and moves through Stripe's own API
//! (events after a marker, every page of a list, a test clock advanced until it is ready).

use std::time::Duration;

use billing_fakes::StripeFake;
use billing_stack::{StripeApi, TestModeKey};
use serde_json::Value;

fn client_of(stripe: &StripeFake) -> StripeApi {
    StripeApi::new(
        &stripe.base_url(),
        TestModeKey::parse("sk_test_stripe_api").unwrap(),
        billing_service::tls::client(),
    )
}

async fn customer(stripe: &StripeApi, email: &str, clock: Option<&str>) -> Value {
    let mut form = vec![("email", email)];
    if let Some(clock) = clock {
        form.push(("test_clock", clock));
    }
    stripe.post("/v1/customers", &form).await.unwrap()
}

#[tokio::test]
async fn the_events_after_a_marker_are_exactly_the_newer_ones_oldest_first() {
    let fake = StripeFake::start().await.unwrap();
    let stripe = client_of(&fake);
    assert_eq!(stripe.newest_event_id().await.unwrap(), None, "a new account has no events");
    customer(&stripe, "before@example.com", None).await;
    let marker = stripe.newest_event_id().await.unwrap().expect("customer.created");

    let first = customer(&stripe, "first@example.com", None).await;
    let second = customer(&stripe, "second@example.com", None).await;

    let after = stripe.events_after(Some(&marker)).await.unwrap();
    let about: Vec<&str> = after.iter().map(|event| event["data"]["object"]["id"].as_str().unwrap()).collect();
    assert_eq!(about, [first["id"].as_str().unwrap(), second["id"].as_str().unwrap()]);
    assert_eq!(stripe.events_after(None).await.unwrap().len(), 3, "without a marker: every event");
}

#[tokio::test]
async fn a_list_is_read_to_its_last_page() {
    let fake = StripeFake::start().await.unwrap();
    let stripe = client_of(&fake);
    for n in 0..130 {
        customer(&stripe, &format!("c{n}@example.com"), None).await;
    }

    let customers = stripe.list("/v1/customers", &[]).await.unwrap();

    assert_eq!(customers.len(), 130);
    assert_eq!(customers.first().unwrap()["email"], "c129@example.com", "newest first");
    assert_eq!(customers.last().unwrap()["email"], "c0@example.com");
}

#[tokio::test]
async fn advancing_a_test_clock_returns_once_it_is_ready_at_the_new_time() {
    let fake = StripeFake::start().await.unwrap();
    let stripe = client_of(&fake);
    let clock = stripe.post("/v1/test_helpers/test_clocks", &[("frozen_time", "1700000000")]).await.unwrap();
    let id = clock["id"].as_str().unwrap();
    customer(&stripe, "clocked@example.com", Some(id)).await;

    let ready = stripe.advance_test_clock(id, Duration::from_secs(86_400), Duration::from_secs(10)).await.unwrap();

    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["frozen_time"], 1_700_086_400);
    assert_eq!(stripe.test_clock(id).await.unwrap()["frozen_time"], 1_700_086_400);
}

#[tokio::test]
async fn stripe_errors_say_what_was_asked_and_what_stripe_answered() {
    let fake = StripeFake::start().await.unwrap();
    let stripe = client_of(&fake);

    let missing = stripe.customer("cus_missing").await.unwrap_err().to_string();

    assert!(missing.contains("404") && missing.contains("GET /v1/customers/cus_missing"), "{missing}");
    assert!(missing.contains("cus_missing"), "Stripe's own message is shown: {missing}");
}
