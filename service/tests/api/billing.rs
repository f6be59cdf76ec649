//! Payment methods, charged fixes, and the Pro subscription.

use std::time::Duration;

use billing_stack::{ApiClient, Stack, StackOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn add_card(customer: &ApiClient, token: &str) -> (StatusCode, Value) {
    customer
        .send(
            Method::POST,
            "/api/v1/billing/payment-method",
            Some(json!({"payment_method_id": token, "billing_consent": true})),
        )
        .await
        .unwrap()
}

fn stripe_calls(stack: &Stack, path_prefix: &str) -> usize {
    stack.stripe.requests().iter().filter(|r| r.path.starts_with(path_prefix)).count()
}

#[tokio::test]
async fn without_billing_consent_a_payment_method_is_refused_and_nothing_reaches_stripe() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();

    for body in [
        json!({"payment_method_id": "pm_card_visa"}),
        json!({"payment_method_id": "pm_card_visa", "billing_consent": false}),
        json!({"payment_method_id": "pm_card_visa", "billing_consent": "yes"}),
    ] {
        let (status, answer) =
            customer.send(Method::POST, "/api/v1/billing/payment-method", Some(body.clone())).await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(answer["error"]["fields"]["billing_consent"].is_string(), "{answer}");
    }

    assert_eq!(stripe_calls(&stack, "/v1/payment_methods"), 0);
    assert_eq!(stack.count_rows("billing_consents").await.unwrap(), 0);
    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!((usage["plan"].as_str(), usage["has_payment_method"].as_bool()), (Some("trial"), Some(false)));
}

#[tokio::test]
async fn with_consent_the_card_becomes_the_stripe_default_and_a_trial_becomes_pay_as_you_go() {
    let stack = Stack::start().await.unwrap();
    let (signup, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();

    let (status, added) = add_card(&customer, "pm_card_visa").await;

    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["plan"], "payg");
    assert_eq!((added["brand"].as_str(), added["last4"].as_str()), (Some("visa"), Some("4242")));
    let pm = added["payment_method_id"].as_str().unwrap();
    let stripe_customer = stack.stripe.object(&signup.stripe_customer_id).unwrap();
    assert_eq!(stripe_customer["invoice_settings"]["default_payment_method"], pm);
    let consent: (String, String) = sqlx::query_as("SELECT payment_method_id, consent_text FROM billing_consents")
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(consent.0, pm);
    assert!(consent.1.contains("$29"));
    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!((usage["plan"].as_str(), usage["has_payment_method"].as_bool()), (Some("payg"), Some(true)));
}

#[tokio::test]
async fn a_bad_payment_method_id_is_422_before_stripe_is_asked() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let (status, answer) = add_card(&customer, "../v1/customers").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer["error"]["fields"]["payment_method_id"].is_string());
    assert_eq!(stripe_calls(&stack, "/v1/payment_methods"), 0);
}

#[tokio::test]
async fn a_payment_method_stripe_does_not_know_is_422_naming_the_field_and_stores_nothing() {
    // Found by schemathesis: Stripe's "no such payment method" was answered 502, as if Stripe had failed.
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let (status, answer) = add_card(&customer, "pm_does_not_exist").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let problem = answer["error"]["fields"]["payment_method_id"].as_str().unwrap();
    assert!(problem.contains("no payment method `pm_does_not_exist`"), "{problem}");
    assert_eq!(stack.count_rows("billing_consents").await.unwrap(), 0);
    assert_eq!(customer.usage().await.unwrap().unwrap()["plan"], "trial");
}

#[tokio::test]
async fn another_customers_payment_method_is_422_naming_the_field_and_stays_theirs() {
    let stack = Stack::start().await.unwrap();
    let (_, ada) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let (_, eve) = stack.signed_up_customer("eve@example.com").await.unwrap();
    let (status, added) = add_card(&ada, "pm_card_visa").await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let adas_card = added["payment_method_id"].as_str().unwrap();

    let (status, answer) = add_card(&eve, adas_card).await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["error"]["fields"]["payment_method_id"].as_str().unwrap().contains("another customer"), "{answer}");
    assert_eq!(eve.usage().await.unwrap().unwrap()["has_payment_method"], false);
    assert_eq!(stack.count_rows("billing_consents").await.unwrap(), 1);
}

#[tokio::test]
async fn pay_as_you_go_fixes_beyond_the_credits_are_charged_29_dollars_in_stripe() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    add_card(&customer, "pm_card_visa").await;
    customer.use_all_credits().await.unwrap();

    let fix = customer.record_fix("beyond the credits").await.unwrap().unwrap();

    assert_eq!((fix["paid_with"].as_str(), fix["charged_cents"].as_i64()), (Some("charge"), Some(2900)));
    let intent = stack.stripe.object(fix["stripe_payment_intent_id"].as_str().unwrap()).unwrap();
    assert_eq!((intent["amount"].as_i64(), intent["status"].as_str()), (Some(2900), Some("succeeded")));
    assert_eq!(intent["metadata"]["fix_id"], fix["fix_id"]);
    let charged: i64 =
        sqlx::query_scalar("SELECT sum(amount_cents)::bigint FROM charges").fetch_one(&stack.pool).await.unwrap();
    assert_eq!(charged, 2900);
    assert_eq!(customer.usage().await.unwrap().unwrap()["credit_balance"], 0);
    // Settled once, by the request or by Stripe's event, whichever came first: counted once.
    stack.wait_for_webhooks().await.unwrap();
    assert_eq!(charges_counted(&stack, "succeeded").await, 1);
}

/// `billing_charges_total{outcome}` summed over who settled.
async fn charges_counted(stack: &Stack, outcome: &str) -> u64 {
    let metrics = stack.metrics().await.unwrap();
    let prefix = format!(r#"billing_charges_total{{outcome="{outcome}","#);
    metrics
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn a_declined_card_on_a_pay_as_you_go_fix_is_402_with_the_reason_and_changes_nothing() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    add_card(&customer, "pm_card_chargeDeclinedInsufficientFunds").await;
    customer.use_all_credits().await.unwrap();
    let ledger_before = stack.count_rows("ledger_entries").await.unwrap();

    let declined = customer.record_fix("declined").await.unwrap().unwrap_err();

    assert_eq!(declined.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(declined.code(), "card_declined");
    assert_eq!(declined.body["error"]["decline_code"], "insufficient_funds");
    assert!(declined.body["error"]["message"].as_str().unwrap().contains("payment-method"));
    assert_eq!(stack.count_rows("ledger_entries").await.unwrap(), ledger_before);
    // The attempt is on record, failed: no credit taken, nothing charged.
    let (charge_status, fix_status): (String, String) =
        sqlx::query_as("SELECT c.status, f.status FROM charges c JOIN fixes f ON f.charge_id = c.id")
            .fetch_one(&stack.pool)
            .await
            .unwrap();
    assert_eq!((charge_status.as_str(), fix_status.as_str()), ("failed", "failed"));
    let paid: i64 =
        sqlx::query_scalar("SELECT count(*) FROM fixes WHERE status = 'paid'").fetch_one(&stack.pool).await.unwrap();
    assert_eq!(paid, 5, "only the five fixes paid with credits");
    // Counted once, failed, by whoever settled it first: the request, or Stripe's `payment_intent.payment_failed`
    // event, which the fake may deliver before the request reads its answer (a busy machine does that).
    stack.wait_for_webhooks().await.unwrap();
    assert_eq!(charges_counted(&stack, "failed").await, 1);
    assert_eq!(charges_counted(&stack, "succeeded").await, 0);
}

#[tokio::test]
async fn a_retried_fix_with_the_same_idempotency_key_is_charged_once() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    add_card(&customer, "pm_card_visa").await;
    customer.use_all_credits().await.unwrap();
    let send = || customer.send_with_headers(Method::POST, "/api/v1/fixes", None, &[("Idempotency-Key", "deploy-42")]);

    let (first_status, first) = send().await.unwrap();
    let (second_status, second) = send().await.unwrap();

    assert_eq!((first_status, second_status), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(first["fix_id"], second["fix_id"]);
    assert_eq!(first["stripe_payment_intent_id"], second["stripe_payment_intent_id"]);
    assert_eq!(stack.count_rows("charges").await.unwrap(), 1);
    let intents = stack.stripe.requests().iter().filter(|r| r.path == "/v1/payment_intents" && r.status == 200).count();
    assert!(intents <= 1, "Stripe was asked to charge {intents} times");
}

#[tokio::test]
async fn pro_needs_a_payment_method_first() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let refused = customer.subscribe_to_pro().await.unwrap().unwrap_err();
    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(refused.code(), "payment_method_required");
    assert_eq!(stripe_calls(&stack, "/v1/subscriptions"), 0);
}

#[tokio::test]
async fn only_the_pro_plan_can_be_subscribed_to() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let (status, answer) =
        customer.send(Method::POST, "/api/v1/billing/subscription", Some(json!({"plan": "gold"}))).await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer["error"]["fields"]["plan"].is_string());
}

#[tokio::test]
async fn pro_credits_come_from_the_paid_invoice_webhook_not_from_subscribing() {
    let stack = Stack::start_with(StackOptions { deliver_webhooks: false, ..Default::default() }).await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    add_card(&customer, "pm_card_visa").await;

    let (status, subscribed) =
        customer.send(Method::POST, "/api/v1/billing/subscription", Some(json!({"plan": "pro"}))).await.unwrap();

    assert_eq!(status, StatusCode::CREATED, "{subscribed}");
    assert_eq!(subscribed["plan"], "pro");
    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!((usage["plan"].as_str(), usage["credit_balance"].as_i64()), (Some("pro"), Some(5)));
    assert_eq!(usage["per_fix_rate_cents"], 1500);

    let paid = stack.stripe_events("invoice.paid");
    assert_eq!(paid.len(), 1, "Stripe paid the first invoice");
    let (status, _) = stack.deliver_event(&paid[0]).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(customer.usage().await.unwrap().unwrap()["credit_balance"], 65);
}

#[tokio::test]
async fn a_second_subscription_is_409() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    add_card(&customer, "pm_card_visa").await;
    let subscribe = || customer.send(Method::POST, "/api/v1/billing/subscription", Some(json!({"plan": "pro"})));
    assert_eq!(subscribe().await.unwrap().0, StatusCode::CREATED);
    let (status, answer) = subscribe().await.unwrap();
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(answer["error"]["code"], "already_subscribed");
}

#[tokio::test]
async fn a_first_subscription_is_201_even_when_stripes_event_stored_it_before_the_answer() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    add_card(&customer, "pm_card_visa").await;
    // Stripe makes the subscription and sends customer.subscription.created at once, but its answer is late
    // (within the service's 5 s Stripe timeout): the event stores the row before the request does.
    stack.stripe.inject_fault(
        billing_fakes::Fault::on("POST", "/v1/subscriptions").after_success().latency(Duration::from_secs(3)),
    );
    let request = tokio::spawn({
        let customer = customer.clone();
        async move { customer.send(Method::POST, "/api/v1/billing/subscription", Some(json!({"plan": "pro"}))).await }
    });
    billing_stack::wait_until("the event to store the subscription", Duration::from_secs(10), || async {
        Ok((stack.count_rows("subscriptions").await? == 1).then_some(()))
    })
    .await
    .unwrap();

    let (status, answer) = request.await.unwrap().unwrap();
    assert_eq!(status, StatusCode::CREATED, "Stripe made it for this request: {answer}");
    assert_eq!(stack.count_rows("subscriptions").await.unwrap(), 1);
}

#[tokio::test]
async fn pro_fixes_beyond_the_credits_cost_15_dollars() {
    let stack = Stack::start().await.unwrap();
    let customer = stack.pro_customer("ada@example.com").await.unwrap();
    customer.use_all_credits().await.unwrap();

    let fix = customer.record_fix("beyond Pro credits").await.unwrap().unwrap();

    assert_eq!((fix["paid_with"].as_str(), fix["charged_cents"].as_i64()), (Some("charge"), Some(1500)));
}

#[tokio::test]
async fn cancelling_pro_now_downgrades_to_pay_as_you_go_at_once() {
    let stack = Stack::start().await.unwrap();
    let customer = stack.pro_customer("ada@example.com").await.unwrap();

    let (status, cancelled) =
        customer.send(Method::DELETE, "/api/v1/billing/subscription?at_period_end=false", None).await.unwrap();

    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!((cancelled["plan"].as_str(), cancelled["status"].as_str()), (Some("payg"), Some("canceled")));
    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!((usage["plan"].as_str(), usage["per_fix_rate_cents"].as_i64()), (Some("payg"), Some(2900)));
    assert!(usage["subscription"].is_null());
    // The deleted event arriving afterwards changes nothing.
    stack.wait_for_webhooks().await.unwrap();
    assert_eq!(customer.usage().await.unwrap().unwrap()["plan"], "payg");
}

#[tokio::test]
async fn cancelling_at_period_end_keeps_pro_until_the_clock_passes_it() {
    let stack = Stack::start().await.unwrap();
    let customer = stack.pro_customer("ada@example.com").await.unwrap();

    let (status, cancelled) =
        customer.send(Method::DELETE, "/api/v1/billing/subscription?at_period_end=true", None).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!((cancelled["plan"].as_str(), cancelled["cancel_at_period_end"].as_bool()), (Some("pro"), Some(true)));
    stack.wait_for_webhooks().await.unwrap();
    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!((usage["plan"].as_str(), usage["per_fix_rate_cents"].as_i64()), (Some("pro"), Some(1500)));
    assert_eq!(usage["subscription"]["cancel_at_period_end"], true);

    stack.advance_stripe_clock(Duration::from_secs(32 * 24 * 3600)).await.unwrap();

    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!((usage["plan"].as_str(), usage["per_fix_rate_cents"].as_i64()), (Some("payg"), Some(2900)));
    assert_eq!(usage["credit_balance"], 65, "no renewal, so no new credits");
}

#[tokio::test]
async fn the_at_period_end_flag_must_be_a_boolean_and_there_must_be_a_subscription() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("ada@example.com").await.unwrap();
    let (status, _) =
        customer.send(Method::DELETE, "/api/v1/billing/subscription?at_period_end=maybe", None).await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = customer.send(Method::DELETE, "/api/v1/billing/subscription", None).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_renewal_grants_another_60_credits_and_a_failed_renewal_is_past_due_with_a_warning() {
    let stack = Stack::start().await.unwrap();
    let customer = stack.pro_customer("ada@example.com").await.unwrap();

    stack.advance_stripe_clock(Duration::from_secs(31 * 24 * 3600)).await.unwrap();
    assert_eq!(customer.usage().await.unwrap().unwrap()["credit_balance"], 125);

    // The card starts declining before the next renewal.
    let (status, _) = add_card(&customer, "pm_card_chargeDeclined").await;
    assert_eq!(status, StatusCode::OK);
    stack.advance_stripe_clock(Duration::from_secs(31 * 24 * 3600)).await.unwrap();

    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!(usage["credit_balance"], 125, "no credits for an unpaid invoice");
    assert_eq!(usage["subscription"]["status"], "past_due");
    let codes: Vec<&str> = usage["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"payment_failed"), "{codes:?}");
    // Decided: Stripe is still collecting, so Pro pricing stays while past_due.
    assert_eq!((usage["plan"].as_str(), usage["per_fix_rate_cents"].as_i64()), (Some("pro"), Some(1500)), "{usage}");
}

/// A Pro customer, and its subscription's id, on a stack that delivers no events by itself.
async fn pro_customer_without_events(email: &str) -> (Stack, ApiClient, String) {
    let stack = Stack::start_with(StackOptions { deliver_webhooks: false, ..Default::default() }).await.unwrap();
    let (_, customer) = stack.signed_up_customer(email).await.unwrap();
    let id = customer.subscribe_to_pro_with_a_card().await.unwrap();
    (stack, customer, id)
}

/// Cancels the subscription in Stripe itself, as the Dashboard does (its event never arrives).
async fn cancel_in_stripe(stack: &Stack, subscription: &str) {
    let access = stack.stripe_access();
    let response = billing_service::tls::client()
        .delete(format!("{}/v1/subscriptions/{subscription}", access.api_base))
        .bearer_auth(&access.secret_key)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}

async fn cancel(customer: &ApiClient, query: &str) -> (StatusCode, Value) {
    customer.send(Method::DELETE, &format!("/api/v1/billing/subscription{query}"), None).await.unwrap()
}

#[tokio::test]
async fn cancelling_a_subscription_stripe_already_cancelled_converges_to_pay_as_you_go() {
    for query in ["", "?at_period_end=false", "?at_period_end=true"] {
        let (stack, customer, subscription) = pro_customer_without_events("dashboard@example.com").await;
        cancel_in_stripe(&stack, &subscription).await;

        let (status, answer) = cancel(&customer, query).await;

        assert_eq!(status, StatusCode::OK, "{query}: {answer}");
        assert_eq!((answer["status"].as_str(), answer["plan"].as_str()), (Some("canceled"), Some("payg")), "{query}");
        let usage = customer.usage().await.unwrap().unwrap();
        assert_eq!(usage["plan"], "payg", "{query}: {usage}");
        assert_eq!(usage["per_fix_rate_cents"], 2900, "{query}: {usage}");
        // And the customer can subscribe again.
        let again = customer.subscribe_to_pro().await.unwrap().unwrap();
        assert_ne!(again["stripe_subscription_id"], subscription.as_str(), "{query}");
        assert_eq!(customer.usage().await.unwrap().unwrap()["plan"], "pro", "{query}");
    }
}

#[tokio::test]
async fn subscribing_again_after_stripe_ended_the_subscription_is_not_refused() {
    let (stack, customer, subscription) = pro_customer_without_events("resubscribe@example.com").await;
    cancel_in_stripe(&stack, &subscription).await;

    let again = customer.subscribe_to_pro().await.unwrap();

    let again = again.expect("not 409: the stored subscription has ended in Stripe");
    assert_ne!(again["stripe_subscription_id"], subscription.as_str());
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT stripe_subscription_id, status FROM subscriptions ORDER BY created_at")
            .fetch_all(&stack.pool)
            .await
            .unwrap();
    assert_eq!(stored[0], (subscription, "canceled".to_string()));
    assert_eq!(stored[1].1, "active");
}

#[tokio::test]
async fn ten_concurrent_cancels_all_answer_200_and_end_in_pay_as_you_go() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("tencancels@example.com").await.unwrap();
    add_card(&customer, "pm_card_visa").await;
    let subscription = customer.subscribe_to_pro().await.unwrap().unwrap();

    let cancels = (0..10).map(|_| cancel(&customer, ""));
    let answers = futures_util::future::join_all(cancels).await;

    for (status, answer) in &answers {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!((answer["status"].as_str(), answer["plan"].as_str()), (Some("canceled"), Some("payg")), "{answer}");
    }
    let in_stripe = stack.stripe.object(subscription["stripe_subscription_id"].as_str().unwrap()).unwrap();
    assert_eq!(in_stripe["status"], "canceled");
    stack.wait_for_webhooks().await.unwrap();
    assert_eq!(customer.usage().await.unwrap().unwrap()["plan"], "payg");
}

#[tokio::test]
async fn a_cancel_that_stripe_refuses_for_a_live_subscription_is_still_an_error() {
    let (stack, customer, subscription) = pro_customer_without_events("refused@example.com").await;
    stack
        .stripe
        .inject_fault(billing_fakes::Fault::on("DELETE", &format!("/v1/subscriptions/{subscription}")).status(500));

    let (status, answer) = cancel(&customer, "").await;

    assert_eq!(status, StatusCode::BAD_GATEWAY, "the subscription is still live in Stripe: {answer}");
    assert_eq!(customer.usage().await.unwrap().unwrap()["plan"], "pro");
}
