//! The e-mail fake through real HTTP: sending, idempotency, validation, auth and injected failures.

use std::time::Duration;

use billing_fakes::EmailFake;
use reqwest::Method;
use serde_json::{Value, json};

/// Status and JSON body (null when there is none) of a request to the fake.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn send(fake: &EmailFake, body: Value) -> (u16, Value) {
    answer(messages_request(fake, Method::POST).bearer_auth("email-key").json(&body)).await
}

/// A request to the fake's `/v1/messages`, before its key and body.
fn messages_request(fake: &EmailFake, method: Method) -> reqwest::RequestBuilder {
    billing_fakes::tls::client().request(method, format!("{}/v1/messages", fake.base_url()))
}

fn welcome(to: &str) -> Value {
    json!({"to": to, "template": "welcome", "subject": "Welcome", "body": "Hello"})
}

#[tokio::test]
async fn a_sent_message_is_accepted_stored_and_listed() {
    let fake = EmailFake::start().await.unwrap();
    let (status, body) = send(&fake, welcome("ada@example.com")).await;
    assert_eq!(status, 202);
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    let messages = fake.wait_for_messages(1, Duration::from_secs(2)).await.unwrap();
    assert_eq!(messages[0].to, "ada@example.com");
    assert_eq!(messages[0].template, "welcome");
    assert_eq!(messages[0].subject, "Welcome");
    let (_, listed) = answer(messages_request(&fake, Method::GET).bearer_auth("k")).await;
    assert_eq!(listed["data"][0]["id"], body["id"]);
}

#[tokio::test]
async fn the_same_idempotency_key_is_one_message() {
    let fake = EmailFake::start().await.unwrap();
    let mut message = welcome("ada@example.com");
    message["idempotency_key"] = json!("welcome-1");
    let (_, first) = send(&fake, message.clone()).await;
    let (status, second) = send(&fake, message).await;
    assert_eq!(status, 202);
    assert_eq!(first["id"], second["id"]);
    assert_eq!(fake.messages().len(), 1);
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_no_auth_is_a_401() {
    let fake = EmailFake::start().await.unwrap();
    let (status, body) = send(&fake, json!({"to": "nobody", "template": "welcome"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "to");
    let (status, body) = send(&fake, json!({"to": "a@b.co"})).await;
    assert_eq!((status, body["error"]["field"].clone()), (400, json!("template")));
    let (unauthenticated, _) = answer(messages_request(&fake, Method::POST).json(&welcome("a@b.co"))).await;
    assert_eq!(unauthenticated, 401);
    let not_json =
        messages_request(&fake, Method::POST).bearer_auth("k").header("content-type", "application/json").body("{");
    assert_eq!(answer(not_json).await.0, 400);
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn injected_failures_answer_503_then_sends_succeed() {
    let fake = EmailFake::start().await.unwrap();
    fake.inject_failures(2);
    assert_eq!(send(&fake, welcome("a@b.co")).await.0, 503);
    assert_eq!(send(&fake, welcome("a@b.co")).await.0, 503);
    assert_eq!(send(&fake, welcome("a@b.co")).await.0, 202);
    assert_eq!(fake.messages().len(), 1);
    fake.reset();
    assert!(fake.messages().is_empty());
}

#[tokio::test]
async fn waiting_for_more_messages_than_arrive_times_out_with_what_came() {
    let fake = EmailFake::start().await.unwrap();
    send(&fake, welcome("a@b.co")).await;
    let error = fake.wait_for_messages(2, Duration::from_millis(100)).await.unwrap_err();
    assert!(error.to_string().contains("expected 2"), "{error}");
}
