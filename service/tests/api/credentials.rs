//! Credential vending: an API key buys short-lived signed credentials, for allow-listed
//! providers, within lifetime bounds, rate-limited per key, and only for a customer who can pay.

use std::sync::Arc;

use billing_service::clock::ManualClock;
use billing_service::credentials::token::{CredentialError, verify_credential};
use billing_stack::{Stack, StackOptions};
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn signing_key(stack: &Stack) -> Vec<u8> {
    stack.state().credentials.signing_key().as_bytes().to_vec()
}

#[tokio::test]
async fn vended_credentials_verify_and_carry_the_customer_key_provider_and_expiry() {
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let stack =
        Stack::start_with(StackOptions { clock: Arc::new(ManualClock::starting_at(now)), ..Default::default() })
            .await
            .unwrap();
    let (signup, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();

    let vended = customer.exchange_credentials(&["github", "npm"], Some(600)).await.unwrap().unwrap();

    let expires_at = now + Duration::seconds(600);
    assert_eq!(vended.expires_at.parse::<DateTime<Utc>>().unwrap(), expires_at);
    let providers: Vec<&str> = vended.credentials.iter().map(|c| c.provider.as_str()).collect();
    assert_eq!(providers, ["github", "npm"]);
    let mut ids = Vec::new();
    for credential in &vended.credentials {
        assert!(credential.token.starts_with("bkc_"));
        assert_eq!(credential.expires_at.parse::<DateTime<Utc>>().unwrap(), expires_at);
        let claims = verify_credential(&credential.token, &signing_key(&stack), now).unwrap();
        assert_eq!(claims.customer.to_string(), signup.customer_id);
        assert_eq!(claims.key_id.to_string(), signup.api_key_id);
        assert_eq!(claims.provider, credential.provider);
        assert_eq!((claims.iat, claims.exp), (now.timestamp(), expires_at.timestamp()));
        assert_eq!(
            verify_credential(&credential.token, &signing_key(&stack), expires_at),
            Err(CredentialError::Expired { expired_at: expires_at })
        );
        assert_eq!(
            verify_credential(&credential.token, b"another key, thirty-two bytes long", now),
            Err(CredentialError::BadSignature)
        );
        ids.push(claims.jti);
    }
    assert_ne!(ids[0], ids[1], "every credential has its own id");
}

#[tokio::test]
async fn without_a_lifetime_a_credential_lives_fifteen_minutes() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();

    let vended = customer.exchange_credentials(&["pypi"], None).await.unwrap().unwrap();

    let claims = verify_credential(&vended.credentials[0].token, &signing_key(&stack), Utc::now()).unwrap();
    assert_eq!(claims.exp - claims.iat, 900);
}

#[tokio::test]
async fn unknown_empty_or_repeated_providers_and_lifetimes_out_of_bounds_are_422_naming_the_field() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let cases = [
        (json!({"providers": ["dockerhub"]}), "providers"),
        (json!({"providers": []}), "providers"),
        (json!({"providers": ["npm", "npm"]}), "providers"),
        (json!({}), "providers"),
        (json!({"providers": ["npm"], "ttl_seconds": 59}), "ttl_seconds"),
        (json!({"providers": ["npm"], "ttl_seconds": 3601}), "ttl_seconds"),
        (json!({"providers": ["npm"], "ttl_seconds": "600"}), "ttl_seconds"),
        (json!({"providers": ["npm"], "scope": "admin"}), "scope"),
    ];
    for (body, field) in cases {
        let (status, answer) =
            customer.send(Method::POST, "/api/v1/credentials/exchange", Some(body.clone())).await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed");
        let named: Vec<&str> = answer["error"]["fields"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(named, [field], "{body}: {answer}");
    }
    let (_, answer) = customer
        .send(Method::POST, "/api/v1/credentials/exchange", Some(json!({"providers": ["dockerhub"]})))
        .await
        .unwrap();
    let problem = answer["error"]["fields"]["providers"].as_str().unwrap();
    assert!(problem.contains("github, gitlab, npm, pypi"), "the error names the allowed providers: {problem}");
}

#[tokio::test]
async fn the_lifetime_bounds_themselves_are_accepted() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    for ttl in [60, 900] {
        let vended = customer.exchange_credentials(&["gitlab"], Some(ttl)).await.unwrap().unwrap();
        let claims = verify_credential(&vended.credentials[0].token, &signing_key(&stack), Utc::now()).unwrap();
        assert_eq!(claims.exp - claims.iat, ttl as i64);
    }
}

#[tokio::test]
async fn given_a_customer_with_no_credits_and_no_payment_method_an_exchange_is_refused_with_402() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    customer.exchange_credentials(&["npm"], None).await.unwrap().unwrap();
    customer.use_all_credits().await.unwrap();

    let refused = customer.exchange_credentials(&["npm"], None).await.unwrap().unwrap_err();

    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(refused.code(), "payment_required");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("POST /api/v1/billing/payment-method"), "the error names the way out: {message}");
}

#[tokio::test]
async fn a_customer_without_credits_who_adds_a_payment_method_can_exchange_again_at_once() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    customer.use_all_credits().await.unwrap();
    assert_eq!(customer.exchange_credentials(&["npm"], None).await.unwrap().unwrap_err().status, 402);

    customer.add_payment_method("pm_card_visa", true).await.unwrap().unwrap();

    customer.exchange_credentials(&["npm"], None).await.unwrap().unwrap();
}

#[tokio::test]
async fn after_the_burst_an_exchange_is_429_with_retry_after_and_other_keys_are_unaffected() {
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(|config| {
            config.credentials.burst = 3;
            config.credentials.rate_per_minute = 1;
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let second_key = customer.create_api_key().await.unwrap().unwrap();
    for _ in 0..3 {
        customer.exchange_credentials(&["npm"], None).await.unwrap().unwrap();
    }

    let exchange = customer.request(Method::POST, "/api/v1/credentials/exchange");
    let response = exchange.json(&json!({"providers": ["npm"]})).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((59..=60).contains(&retry_after), "one token a minute: retry after about 60 s, not {retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");

    let other = stack.api().with_key(&second_key.api_key);
    other.exchange_credentials(&["npm"], None).await.unwrap().unwrap();
    let metrics = stack.metrics().await.unwrap();
    assert!(metrics.contains(r#"billing_rate_limited_total{limit="credentials_key"} 1"#), "{metrics}");
    assert!(metrics.contains("billing_credentials_vended_total{provider=\"npm\"} 4"), "{metrics}");
}

#[tokio::test]
async fn an_exchange_needs_a_valid_api_key() {
    let stack = Stack::start().await.unwrap();

    let missing = stack.api().exchange_credentials(&["npm"], None).await.unwrap().unwrap_err();
    let unknown = stack.api().with_key("bk_not_a_real_key").exchange_credentials(&["npm"], None).await.unwrap();

    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.unwrap_err().status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_credential_vended_before_its_key_was_revoked_lives_at_most_the_15_minute_ceiling() {
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let stack =
        Stack::start_with(StackOptions { clock: Arc::new(ManualClock::starting_at(now)), ..Default::default() })
            .await
            .unwrap();
    let (signup, customer) = stack.signed_up_customer("revoked@example.com").await.unwrap();
    // Decided: no revocation list; the default ceiling bounds a revoked key's credentials.
    let too_long = customer.exchange_credentials(&["npm"], Some(3600)).await.unwrap().unwrap_err();
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY, "{too_long}");
    let longest = customer.exchange_credentials(&["npm"], Some(900)).await.unwrap().unwrap();
    let token = &longest.credentials[0].token;
    let second = customer.create_api_key().await.unwrap().unwrap();
    let path = format!("/api/v1/api-keys/{}", signup.api_key_id);
    let (status, _) = stack.api().with_key(&second.api_key).send(Method::DELETE, &path, None).await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(customer.usage().await.unwrap().unwrap_err().status, StatusCode::UNAUTHORIZED);

    let key = signing_key(&stack);
    assert!(verify_credential(token, &key, now + Duration::seconds(899)).is_ok(), "still valid: verified offline");
    assert!(matches!(
        verify_credential(token, &key, now + Duration::seconds(900)),
        Err(CredentialError::Expired { .. })
    ));
}
