//! The customer helpers against the real service: a signup refused by the service's signup limit
//! is tried again when its `Retry-After` says, not sooner and not never; becoming Pro ends with the
//! first invoice's credits.

use std::time::Duration;

use billing_stack::{Stack, StackOptions};
use reqwest::StatusCode;

/// Signups a minute per client address in these tests: a burst of as many, then one every 3 s.
const SIGNUPS_PER_MINUTE: u32 = 20;

#[tokio::test]
async fn a_rate_limited_signup_is_tried_again_after_retry_after_and_succeeds() {
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(|config| config.signup.rate_per_minute = SIGNUPS_PER_MINUTE),
        ..Default::default()
    })
    .await
    .unwrap();
    let api = stack.api();
    for n in 0..SIGNUPS_PER_MINUTE {
        api.signup(&format!("burst{n}@example.com"), "Burst", None).await.unwrap().unwrap();
    }
    // Without patience, the limit's answer comes back as it is.
    let refused = api
        .signup_waiting_out_the_limit("patient@example.com", "Patient", None, Duration::ZERO)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", refused.body);

    let started = tokio::time::Instant::now();
    let signup = api
        .signup_waiting_out_the_limit("patient@example.com", "Patient", None, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    let waited = started.elapsed();

    assert_eq!(signup.email, "patient@example.com");
    // The service asks for a whole number of seconds, at least 1: an answer sooner was not waited for.
    assert!(waited >= Duration::from_secs(1), "signed up after {waited:?}: Retry-After was not waited out");
    assert!(waited < Duration::from_secs(10), "signed up after {waited:?}");
    assert_eq!(stack.count_rows("customers").await.unwrap(), i64::from(SIGNUPS_PER_MINUTE) + 1);
}

#[tokio::test]
async fn a_signup_waits_no_longer_than_its_patience() {
    let stack = Stack::start_with(StackOptions {
        // One signup a minute: the second's Retry-After is about 60 s, beyond a 2 s patience.
        configure: Box::new(|config| config.signup.rate_per_minute = 1),
        ..Default::default()
    })
    .await
    .unwrap();
    let api = stack.api();
    api.signup("first@example.com", "First", None).await.unwrap().unwrap();

    let started = tokio::time::Instant::now();
    let refused = api
        .signup_waiting_out_the_limit("second@example.com", "Second", None, Duration::from_secs(2))
        .await
        .unwrap()
        .unwrap_err();

    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(started.elapsed() < Duration::from_secs(2), "waited {:?} for a retry it could not make", started.elapsed());
}

#[tokio::test]
async fn becoming_pro_ends_with_the_first_invoices_credits() {
    let stack = Stack::start().await.unwrap();
    let customer = stack.pro_customer("pro@example.com").await.unwrap();

    let usage = customer.usage().await.unwrap().unwrap();

    assert_eq!(usage["plan"], "pro", "{usage}");
    assert_eq!(usage["credit_balance"], 65, "5 signup credits and 60 from the first Pro invoice: {usage}");
}
