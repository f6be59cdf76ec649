//! Injected faults: status and Stripe errors, path prefixes, latency, dropped connections.

use std::time::{Duration, Instant};

use billing_fakes::{Fault, RecordedRequest};

use crate::helpers::TestStripe;

#[tokio::test]
async fn a_status_fault_fails_the_next_matching_request_once_with_api_error() {
    let stripe = TestStripe::start().await;
    stripe.fake.inject_fault(Fault::on("POST", "/v1/customers").times(1).status(500));
    let failed = stripe.post("/v1/customers", &[]).await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.body["error"]["type"], "api_error");
    assert_eq!(stripe.post("/v1/customers", &[]).await.status, 200);
    assert!(stripe.fake.events().len() == 1, "the failed request created nothing");
}

#[tokio::test]
async fn a_stripe_error_fault_answers_with_that_type_and_code() {
    let stripe = TestStripe::start().await;
    stripe.fake.inject_fault(Fault::on("POST", "/v1/customers").stripe_error(402, "card_error", "card_declined"));
    let failed = stripe.post("/v1/customers", &[]).await;
    assert_eq!(failed.status, 402);
    assert_eq!(failed.body["error"]["type"], "card_error");
    assert_eq!(failed.body["error"]["code"], "card_declined");
}

#[tokio::test]
async fn a_prefix_fault_with_any_method_matches_below_the_prefix_only() {
    let stripe = TestStripe::start().await;
    let id = stripe.customer("a@example.com").await;
    stripe.fake.inject_fault(Fault::on("*", "/v1/customers/*").times(2).status(503));
    assert_eq!(stripe.get("/v1/customers").await.status, 200);
    assert_eq!(stripe.get(&format!("/v1/customers/{id}")).await.status, 503);
    assert_eq!(stripe.post(&format!("/v1/customers/{id}"), &[]).await.status, 503);
    assert_eq!(stripe.get(&format!("/v1/customers/{id}")).await.status, 200);
}

#[tokio::test]
async fn a_latency_fault_delays_then_answers_normally() {
    let stripe = TestStripe::start().await;
    stripe.fake.inject_fault(Fault::on("POST", "/v1/customers").latency(Duration::from_millis(300)));
    let started = Instant::now();
    let answer = stripe.post("/v1/customers", &[]).await;
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_request_whose_client_gave_up_during_latency_is_still_carried_out_as_stripe_would() {
    let stripe = TestStripe::start().await;
    stripe.fake.inject_fault(Fault::on("POST", "/v1/customers").latency(Duration::from_millis(300)));
    let impatient = billing_fakes::tls::client_builder().timeout(Duration::from_millis(50)).build().unwrap();
    let gave_up = impatient
        .post(stripe.url("/v1/customers"))
        .bearer_auth("sk_test_1")
        .form(&[("email", "late@example.com")])
        .send()
        .await;
    assert!(gave_up.is_err(), "the client should have timed out");

    let deadline = Instant::now() + Duration::from_secs(5);
    while stripe.fake.requests().is_empty() {
        assert!(Instant::now() < deadline, "the abandoned request was never carried out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stripe.fake.requests()[0].status, 200);
    let listed = stripe.get("/v1/customers?email=late@example.com").await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_dropped_connection_gives_the_client_a_transport_error() {
    let stripe = TestStripe::start().await;
    stripe.fake.inject_fault(Fault::on("POST", "/v1/customers").drop_connection());
    let result =
        stripe.http.post(stripe.url("/v1/customers")).bearer_auth("sk_test_1").form(&[("a", "b")]).send().await;
    assert!(result.is_err(), "expected a transport error, got {result:?}");
    assert_eq!(stripe.fake.requests()[0].status, 0);
    assert_eq!(stripe.post("/v1/customers", &[]).await.status, 200);
}

#[tokio::test]
async fn faults_can_be_injected_over_the_control_api() {
    let stripe = TestStripe::start().await;
    let injected = stripe
        .http
        .post(stripe.url("/_fake/faults"))
        .json(&serde_json::json!({"method": "POST", "path": "/v1/customers", "status": 502}))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), 200);
    assert_eq!(stripe.post("/v1/customers", &[]).await.status, 502);
}

/// A customer with a card and the form of a confirmed off-session charge on it.
async fn chargeable(stripe: &TestStripe) -> (String, Vec<(&'static str, String)>) {
    let (customer, _) = stripe.customer_with_card("chaos@example.com", "pm_card_visa").await;
    let form = vec![
        ("amount", "2900".to_string()),
        ("currency", "usd".to_string()),
        ("customer", customer.clone()),
        ("confirm", "true".to_string()),
        ("off_session", "true".to_string()),
    ];
    (customer, form)
}

fn as_pairs<'f>(form: &'f [(&'static str, String)]) -> Vec<(&'static str, &'f str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn intents_of(stripe: &TestStripe, customer: &str) -> Vec<serde_json::Value> {
    stripe.get(&format!("/v1/payment_intents?customer={customer}")).await.body["data"].as_array().unwrap().clone()
}

/// A keyed charge sent with `client`, for the faults that break the transport: what the
/// client saw, answer or error.
async fn send_charge(
    client: &reqwest::Client,
    stripe: &TestStripe,
    key: &str,
    form: &[(&'static str, String)],
) -> reqwest::Result<reqwest::Response> {
    client
        .post(stripe.url("/v1/payment_intents"))
        .bearer_auth("sk_test_1")
        .header("Idempotency-Key", key)
        .form(&as_pairs(form))
        .send()
        .await
}

/// The fake's log entry of the latest charge request.
fn last_charge_request(stripe: &TestStripe) -> RecordedRequest {
    let requests = stripe.fake.requests();
    requests
        .into_iter()
        .rev()
        .find(|r| r.method == "POST" && r.path == "/v1/payment_intents")
        .expect("a charge was logged")
}

#[tokio::test]
async fn a_500_after_success_hides_a_charge_that_was_made_and_a_keyed_retry_replays_it() {
    let stripe = TestStripe::start().await;
    let (customer, form) = chargeable(&stripe).await;
    stripe.fake.inject_fault(Fault::on("POST", "/v1/payment_intents").after_success().status(500));
    let failed = stripe.post_idempotent("/v1/payment_intents", "fix-1", &as_pairs(&form)).await;
    assert_eq!(failed.status, 500, "{}", failed.raw);
    assert_eq!(failed.body["error"]["type"], "api_error");

    let made = intents_of(&stripe, &customer).await;
    assert_eq!(made.len(), 1, "the charge was made");
    assert_eq!(made[0]["status"], "succeeded");
    assert!(stripe.event_types().contains(&"payment_intent.succeeded".to_string()));
    let logged = last_charge_request(&stripe);
    assert_eq!((logged.status, logged.handled_status), (500, Some(200)));
    assert_eq!(logged.fault.as_deref(), Some("after_success: status 500 api_error"));

    let retried = stripe.post_idempotent("/v1/payment_intents", "fix-1", &as_pairs(&form)).await;
    assert_eq!(retried.status, 200, "{}", retried.raw);
    assert_eq!(retried.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(retried.id(), made[0]["id"].as_str().unwrap());
    assert_eq!(intents_of(&stripe, &customer).await.len(), 1, "the retry charged nothing more");
}

#[tokio::test]
async fn a_dropped_connection_after_success_leaves_the_charge_made_and_replayable() {
    let stripe = TestStripe::start().await;
    let (customer, form) = chargeable(&stripe).await;
    stripe.fake.inject_fault(Fault::on("POST", "/v1/payment_intents").after_success().drop_connection());
    let dropped = send_charge(&stripe.http, &stripe, "fix-2", &form).await;
    assert!(dropped.is_err(), "expected a transport error, got {dropped:?}");
    let made = intents_of(&stripe, &customer).await;
    assert_eq!(made.len(), 1);
    let logged = last_charge_request(&stripe);
    assert_eq!((logged.status, logged.handled_status), (0, Some(200)));

    let retried = stripe.post_idempotent("/v1/payment_intents", "fix-2", &as_pairs(&form)).await;
    assert_eq!((retried.status, retried.id()), (200, made[0]["id"].as_str().unwrap().to_string()));
    assert_eq!(intents_of(&stripe, &customer).await.len(), 1);
}

#[tokio::test]
async fn an_answer_held_past_the_clients_timeout_after_success_still_charged_once() {
    let stripe = TestStripe::start().await;
    let (customer, form) = chargeable(&stripe).await;
    stripe
        .fake
        .inject_fault(Fault::on("POST", "/v1/payment_intents").after_success().latency(Duration::from_millis(500)));
    let impatient = billing_fakes::tls::client_builder().timeout(Duration::from_millis(100)).build().unwrap();
    let gave_up = send_charge(&impatient, &stripe, "fix-3", &form).await;
    assert!(gave_up.is_err(), "the client should have timed out");
    // The charge was made before the answer was held back: it is there at once, no waiting.
    assert_eq!(intents_of(&stripe, &customer).await.len(), 1);
    let retried = stripe.post_idempotent("/v1/payment_intents", "fix-3", &as_pairs(&form)).await;
    assert_eq!(retried.status, 200);
    assert_eq!(retried.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(intents_of(&stripe, &customer).await.len(), 1);
}

#[tokio::test]
async fn an_after_success_fault_can_be_injected_over_the_control_api() {
    let stripe = TestStripe::start().await;
    let injected = stripe
        .http
        .post(stripe.url("/_fake/faults"))
        .json(&serde_json::json!({"method": "POST", "path": "/v1/customers", "status": 503, "after_success": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), 200);
    let echo: serde_json::Value = injected.json().await.unwrap();
    assert_eq!(echo["after_success"], true);
    let failed = stripe.post("/v1/customers", &[("email", "kept@example.com")]).await;
    assert_eq!(failed.status, 503);
    let listed = stripe.get("/v1/customers?email=kept@example.com").await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1, "the customer was created");
}
