//! Bad input gets a clear JSON error with the right status, and changes nothing.

use billing_stack::Stack;
use billing_stack::client::status_and_body;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn raw_signup(stack: &Stack, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let request = stack.api().request(Method::POST, "/api/v1/customers").header("content-type", content_type);
    status_and_body(request.body(body).send().await.unwrap()).await.unwrap()
}

#[tokio::test]
async fn invalid_or_missing_fields_are_422_with_every_field_named() {
    let stack = Stack::start().await.unwrap();
    let cases = [
        (json!({"email": "not-an-email", "name": "Ada"}), vec!["email"]),
        (json!({"email": "ada@example.com"}), vec!["name"]),
        (json!({"email": 42, "name": ["Ada"]}), vec!["email", "name"]),
        (json!({"email": "ada@example.com", "name": "Ada", "source": "GitHub!"}), vec!["source"]),
        (json!({"email": "ada@example.com", "name": "Ada", "plan": "pro"}), vec!["plan"]),
        (json!({}), vec!["email", "name"]),
    ];
    for (body, fields) in cases {
        let (status, answer) = stack.api().send(Method::POST, "/api/v1/customers", Some(body.clone())).await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed");
        let named: Vec<&str> = answer["error"]["fields"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(named, fields, "{body}");
    }
    assert_eq!(stack.count_rows("customers").await.unwrap(), 0);
    // (The orphan sweep lists customers, a GET, whenever it runs: that is not a signup reaching Stripe.)
    let created = stack.stripe.requests().into_iter().any(|r| r.method == "POST" && r.path == "/v1/customers");
    assert!(!created, "nothing was sent to Stripe");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let stack = Stack::start().await.unwrap();
    for body in [&b"{\"email\": "[..], b"not json", b"[1, 2]", b"\"text\""] {
        let (status, answer) = raw_signup(&stack, "application/json", body.to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(body));
        assert_eq!(answer["error"]["code"], "malformed_json");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let stack = Stack::start().await.unwrap();
    let (status, answer) = raw_signup(&stack, "text/plain", b"email=ada@example.com".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(answer["error"]["message"].as_str().unwrap().contains("application/json"));
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let stack = Stack::start().await.unwrap();
    let huge = format!("{{\"email\": \"ada@example.com\", \"name\": \"{}\"}}", "a".repeat(100 * 1024));
    let (status, answer) = raw_signup(&stack, "application/json", huge.into_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["error"]["code"], "payload_too_large");
    assert_eq!(stack.count_rows("customers").await.unwrap(), 0);
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404_and_a_wrong_method_a_json_405() {
    let stack = Stack::start().await.unwrap();
    let (status, body) = stack.api().send(Method::GET, "/api/v1/nothing-here", None).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");

    let (status, body) = stack.api().send(Method::DELETE, "/api/v1/customers", None).await.unwrap();
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}
