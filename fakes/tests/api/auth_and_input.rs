//! API keys and bad input: Stripe's 401, and 400s that name the offending parameter.

use base64::Engine;

use crate::helpers::{KEY, TestStripe};

#[tokio::test]
async fn a_request_without_a_key_is_a_stripe_shaped_401() {
    let stripe = TestStripe::start().await;
    let answer = stripe.send(stripe.http.get(stripe.url("/v1/customers"))).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["error"]["type"], "invalid_request_error");
    assert!(answer.body["error"]["message"].as_str().unwrap().starts_with("You did not provide an API key"));
    assert_eq!(stripe.fake.requests()[0].status, 401);
}

#[tokio::test]
async fn basic_auth_with_the_key_as_user_is_accepted() {
    let stripe = TestStripe::start().await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    let answer = stripe
        .send(stripe.http.get(stripe.url("/v1/customers")).header("authorization", format!("Basic {basic}")))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.raw);
}

#[tokio::test]
async fn a_live_key_is_refused() {
    let stripe = TestStripe::start().await;
    let answer =
        stripe.send(stripe.http.get(stripe.url("/v1/customers")).bearer_auth("sk_live_0123456789abcdef")).await;
    assert_eq!(answer.status, 401);
    assert!(answer.body["error"]["message"].as_str().unwrap().starts_with("Invalid API Key provided"));
}

#[tokio::test]
async fn an_unknown_parameter_is_a_400_naming_it() {
    let stripe = TestStripe::start().await;
    let answer = stripe.post("/v1/customers", &[("emial", "a@b.co")]).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_param(), "emial");
    assert_eq!(answer.body["error"]["message"], "Received unknown parameter: emial");
}

#[tokio::test]
async fn an_unknown_nested_parameter_is_named_with_brackets() {
    let stripe = TestStripe::start().await;
    let answer = stripe.post("/v1/customers", &[("invoice_settings[colour]", "red")]).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_param(), "invoice_settings[colour]");
}

#[tokio::test]
async fn a_non_integer_limit_is_a_400_naming_limit() {
    let stripe = TestStripe::start().await;
    let answer = stripe.get("/v1/customers?limit=abc").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_param(), "limit");
    assert_eq!(answer.body["error"]["message"], "Invalid integer: abc");
}

#[tokio::test]
async fn a_malformed_form_body_is_a_400_naming_the_param() {
    let stripe = TestStripe::start().await;
    let unbalanced = stripe.post_raw("/v1/customers", "a[=1").await;
    assert_eq!(unbalanced.status, 400);
    assert_eq!(unbalanced.error_param(), "a[");
    let mixed = stripe.post_raw("/v1/customers", "metadata=1&metadata[b]=2").await;
    assert_eq!(mixed.status, 400);
    assert_eq!(mixed.error_param(), "metadata");
}

#[tokio::test]
async fn a_bad_email_is_a_400_naming_email() {
    let stripe = TestStripe::start().await;
    let answer = stripe.post("/v1/customers", &[("email", "not-an-email")]).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_param(), "email");
}

#[tokio::test]
async fn an_unknown_route_is_a_404() {
    let stripe = TestStripe::start().await;
    let answer = stripe.get("/v1/nothing_here").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn every_request_is_logged_with_parsed_params() {
    let stripe = TestStripe::start().await;
    stripe.post("/v1/customers", &[("metadata[plan]", "pro"), ("expand[]", "test_clock")]).await;
    stripe.get("/v1/customers?limit=3").await;
    let log = stripe.fake.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/v1/customers");
    assert_eq!(log[0].params, serde_json::json!({"metadata": {"plan": "pro"}, "expand": ["test_clock"]}));
    assert_eq!(log[0].status, 200);
    assert_eq!(log[1].params["limit"], "3");
}
