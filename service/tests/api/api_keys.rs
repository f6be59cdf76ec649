//! API key management: more keys, a list without secrets, revocation that takes effect at
//! once, and no way to lock oneself out.

use billing_stack::Stack;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_second_key_is_shown_once_and_works_like_the_first() {
    let stack = Stack::start().await.unwrap();
    let (signup, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();

    let created = customer.create_api_key().await.unwrap().unwrap();

    assert!(created.api_key.starts_with("bk_") && created.api_key.starts_with(&created.prefix));
    assert_ne!(created.api_key, signup.api_key);
    assert_eq!(created.name, None);
    let second = stack.api().with_key(&created.api_key);
    second.exchange_credentials(&["github"], None).await.unwrap().unwrap();
    assert_eq!(second.usage().await.unwrap().unwrap()["customer_id"], signup.customer_id.as_str());
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_and_the_others_still_work() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let doomed = customer.create_api_key().await.unwrap().unwrap();
    let doomed_client = stack.api().with_key(&doomed.api_key);
    // Used just before: the key is in the auth cache.
    doomed_client.exchange_credentials(&["npm"], None).await.unwrap().unwrap();

    customer.revoke_api_key(&doomed.id).await.unwrap().unwrap();

    let refused = doomed_client.exchange_credentials(&["npm"], None).await.unwrap().unwrap_err();
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(doomed_client.usage().await.unwrap().unwrap_err().status, StatusCode::UNAUTHORIZED);
    customer.exchange_credentials(&["npm"], None).await.unwrap().unwrap();
    // Revoking again changes nothing and is not an error.
    customer.revoke_api_key(&doomed.id).await.unwrap().unwrap();
}

#[tokio::test]
async fn another_customers_key_an_unknown_id_and_a_malformed_id_are_all_404() {
    let stack = Stack::start().await.unwrap();
    let (_, ada) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let (_, bob) = stack.signed_up_customer("bob@example.com").await.unwrap();
    let bobs_key = bob.create_api_key().await.unwrap().unwrap();

    for id in [bobs_key.id.as_str(), "00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
        let refused = ada.revoke_api_key(id).await.unwrap().unwrap_err();
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{id}");
        assert!(refused.body["error"]["message"].as_str().unwrap().contains("GET /api/v1/api-keys"));
    }
    stack.api().with_key(&bobs_key.api_key).exchange_credentials(&["npm"], None).await.unwrap().unwrap();
}

#[tokio::test]
async fn the_last_active_key_cannot_be_revoked_until_another_exists() {
    let stack = Stack::start().await.unwrap();
    let (signup, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();

    let refused = customer.revoke_api_key(&signup.api_key_id).await.unwrap().unwrap_err();
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.code(), "last_active_key");
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("create another"));

    let replacement = customer.create_api_key().await.unwrap().unwrap();
    customer.revoke_api_key(&signup.api_key_id).await.unwrap().unwrap();
    let new_client = stack.api().with_key(&replacement.api_key);
    let refused = new_client.revoke_api_key(&replacement.id).await.unwrap().unwrap_err();
    assert_eq!(refused.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_list_shows_every_key_with_its_prefix_name_and_dates_and_never_a_secret() {
    let stack = Stack::start().await.unwrap();
    let (signup, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let (status, named) =
        customer.send(Method::POST, "/api/v1/api-keys", Some(json!({"name": "  CI  "}))).await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{named}");
    assert_eq!(named["name"], "CI");
    let spare = customer.create_api_key().await.unwrap().unwrap();
    customer.revoke_api_key(&spare.id).await.unwrap().unwrap();

    let list = customer.list_api_keys().await.unwrap().unwrap();

    let keys = list["api_keys"].as_array().unwrap();
    let ids: Vec<&str> = keys.iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [signup.api_key_id.as_str(), named["id"].as_str().unwrap(), spare.id.as_str()]);
    for key in keys {
        let mut fields: Vec<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(fields, ["created_at", "id", "name", "prefix", "revoked_at"]);
    }
    assert_eq!(keys[1]["name"], "CI");
    assert!(keys[0]["revoked_at"].is_null() && keys[2]["revoked_at"].is_string());
    assert_eq!(keys[2]["prefix"], spare.prefix.as_str());
    let text = list.to_string();
    for secret in [&signup.api_key, named["api_key"].as_str().unwrap(), &spare.api_key] {
        let hash = hex::encode(billing_service::api_keys::hash_key(secret));
        assert!(!text.contains(&secret[12..]) && !text.contains(&hash), "the list leaks a key: {text}");
    }
}

#[tokio::test]
async fn a_key_name_must_be_a_short_non_empty_string() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    for body in [json!({"name": ""}), json!({"name": 7}), json!({"name": "x".repeat(101)}), json!({"label": "CI"})] {
        let (status, answer) = customer.send(Method::POST, "/api/v1/api-keys", Some(body.clone())).await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    assert_eq!(customer.list_api_keys().await.unwrap().unwrap()["api_keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn managing_keys_needs_a_valid_api_key() {
    let stack = Stack::start().await.unwrap();
    assert_eq!(stack.api().list_api_keys().await.unwrap().unwrap_err().status, StatusCode::UNAUTHORIZED);
    assert_eq!(stack.api().create_api_key().await.unwrap().unwrap_err().status, StatusCode::UNAUTHORIZED);
}
