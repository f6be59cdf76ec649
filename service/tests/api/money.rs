//! Money is never lost or doubled, whatever fails: each test reproduces one way the service
//! once lost or doubled a charge (issue 9), and ends with the reconciliation check.

use std::time::Duration;

use billing_fakes::Fault;
use billing_service::billing::reconciler;
use billing_service::clock::ManualClock;
use billing_stack::{ApiClient, Stack, StackOptions, wait_until};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A pay-as-you-go customer (a card on file) with no credits left: the next fix is charged.
async fn payg_customer_without_credits(stack: &Stack, email: &str) -> ApiClient {
    let (_, customer) = stack.signed_up_customer(email).await.unwrap();
    customer.add_payment_method("pm_card_visa", true).await.unwrap().unwrap();
    for n in 0..5 {
        let fix = customer.record_fix(&format!("credit {n}")).await.unwrap().unwrap();
        assert_eq!(fix["paid_with"], "credit");
    }
    customer
}

async fn fix_with_key(customer: &ApiClient, key: &str, description: &str) -> (StatusCode, Value) {
    customer
        .send_with_headers(
            Method::POST,
            "/api/v1/fixes",
            Some(json!({ "description": description })),
            &[("idempotency-key", key)],
        )
        .await
        .unwrap()
}

fn payment_intent_requests(stack: &Stack) -> usize {
    stack.stripe.requests().iter().filter(|r| r.method == "POST" && r.path == "/v1/payment_intents").count()
}

fn succeeded_intents(stack: &Stack) -> Vec<Value> {
    stack.stripe_events("payment_intent.succeeded").into_iter().map(|event| event["data"]["object"].clone()).collect()
}

async fn charge_statuses(stack: &Stack) -> Vec<String> {
    sqlx::query_scalar("SELECT status FROM charges ORDER BY created_at").fetch_all(&stack.pool).await.unwrap()
}

/// A stack whose Stripe calls time out after 300 ms and whose reconciler looks at pending
/// charges after 500 ms.
async fn impatient_stack() -> Stack {
    Stack::start_with(StackOptions {
        configure: Box::new(|config| {
            config.stripe.timeout_ms = 300;
            config.reconciler.after_ms = 500;
            config.reconciler.interval_ms = 100;
        }),
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_description_with_a_nul_is_422_and_nothing_reaches_stripe() {
    let stack = Stack::start().await.unwrap();
    let customer = payg_customer_without_credits(&stack, "nul@example.com").await;

    for _ in 0..3 {
        let refused = customer.record_fix("evil\u{0}fix").await.unwrap().unwrap_err();
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(refused.body["error"]["fields"]["description"].as_str().unwrap().contains("control characters"));
    }

    assert_eq!(payment_intent_requests(&stack), 0, "a refused fix is never charged");
    assert!(charge_statuses(&stack).await.is_empty());
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn the_fix_and_its_pending_charge_exist_before_stripe_is_called() {
    let stack = Stack::start().await.unwrap();
    let customer = payg_customer_without_credits(&stack, "order@example.com").await;
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_millis(500)));

    let fix = tokio::spawn({
        let customer = customer.clone();
        async move { customer.record_fix("charged").await.unwrap().unwrap() }
    });
    // The charge is recorded before Stripe has charged anything (the fake is still waiting).
    let (fix_status, charge_status): (String, String) =
        wait_until("the charge to be recorded", Duration::from_secs(5), || async {
            Ok(sqlx::query_as("SELECT f.status, c.status FROM fixes f JOIN charges c ON c.id = f.charge_id")
                .fetch_optional(&stack.pool)
                .await?)
        })
        .await
        .unwrap();
    assert_eq!((fix_status.as_str(), charge_status.as_str()), ("pending", "pending"));
    assert!(succeeded_intents(&stack).is_empty(), "Stripe has not charged yet");

    let fix = fix.await.unwrap();
    assert_eq!((fix["status"].as_str(), fix["charged_cents"].as_i64()), (Some("paid"), Some(2900)), "{fix}");
    assert_eq!(charge_statuses(&stack).await, ["succeeded"]);
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn stripe_slower_than_the_timeout_is_an_honest_unknown_and_the_charge_is_recorded_once() {
    let stack = impatient_stack().await;
    let customer = payg_customer_without_credits(&stack, "slow@example.com").await;
    // Stripe takes a second; the service gives up after 300 ms. Stripe still charges.
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_secs(1)));

    let (status, answer) = fix_with_key(&customer, "slow-fix-1", "slow").await;

    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
    assert_eq!(answer["error"]["code"], "payment_outcome_unknown");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("same Idempotency-Key") && !message.contains("nothing was changed"), "{message}");

    // The reconciler settles it from Stripe's record of the original request.
    wait_until("the pending charge to settle", Duration::from_secs(10), || async {
        Ok((charge_statuses(&stack).await == ["succeeded"]).then_some(()))
    })
    .await
    .unwrap();
    // The keyed retry gets the paid fix: the same PaymentIntent, no second charge.
    let (status, fix) = fix_with_key(&customer, "slow-fix-1", "slow").await;
    assert_eq!(status, StatusCode::OK, "{fix}");
    assert_eq!(fix["status"], "paid");
    let intents = succeeded_intents(&stack);
    assert_eq!(intents.len(), 1, "exactly one charge in Stripe");
    assert_eq!(fix["stripe_payment_intent_id"], intents[0]["id"]);
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn without_a_key_the_unknown_outcome_points_to_the_fix_and_settles_by_itself() {
    let stack = impatient_stack().await;
    let customer = payg_customer_without_credits(&stack, "nokey@example.com").await;
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_secs(1)));

    let unknown = customer.record_fix("no key").await.unwrap().unwrap_err();

    assert_eq!(unknown.code(), "payment_outcome_unknown");
    let message = unknown.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("do not simply send it again"), "{message}");
    let fix_id: String =
        sqlx::query_scalar("SELECT id::text FROM fixes WHERE status <> 'paid' OR charge_id IS NOT NULL")
            .fetch_one(&stack.pool)
            .await
            .unwrap();
    assert!(message.contains(&format!("GET /api/v1/fixes/{fix_id}")), "{message}");
    let fix = wait_until("the fix to be paid", Duration::from_secs(10), || async {
        let (_, fix) = customer.send(Method::GET, &format!("/api/v1/fixes/{fix_id}"), None).await?;
        Ok((fix["status"] == "paid").then_some(fix))
    })
    .await
    .unwrap();
    assert_eq!(fix["charged_cents"], 2900);
    assert_eq!(succeeded_intents(&stack).len(), 1);
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn credits_arriving_before_a_keyed_retry_never_pay_for_a_fix_already_being_charged() {
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(|config| {
            config.stripe.timeout_ms = 300;
            // The reconciler stays out of it: the retry itself must settle the charge.
            config.reconciler.interval_ms = 0;
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let customer = payg_customer_without_credits(&stack, "credits@example.com").await;
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_secs(1)));
    let (status, _) = fix_with_key(&customer, "fix-before-credits", "charged").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);

    // Credits arrive (a Pro invoice paid, say) before the client retries.
    sqlx::query(
        "INSERT INTO ledger_entries (customer_id, delta, balance_after, source, reference, created_at)
         SELECT id, 60, 60, 'pro_invoice', 'in_test', now() FROM customers",
    )
    .execute(&stack.pool)
    .await
    .unwrap();
    let (status, fix) = fix_with_key(&customer, "fix-before-credits", "charged").await;

    assert_eq!(status, StatusCode::OK, "{fix}");
    assert_eq!((fix["paid_with"].as_str(), fix["status"].as_str()), (Some("charge"), Some("paid")), "{fix}");
    assert_eq!(customer.usage().await.unwrap().unwrap()["credit_balance"], 60, "no credit was taken");
    assert_eq!(succeeded_intents(&stack).len(), 1);
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn a_stripe_500_leaves_the_charge_pending_until_the_reconciler_settles_it() {
    let stack = impatient_stack().await;
    let customer = payg_customer_without_credits(&stack, "fivehundred@example.com").await;
    // Stripe answers 500 to the first attempt and charges nothing; the reconciler's re-send with
    // the same key then charges (a 500 proves nothing either way).
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").status(500));

    let unknown = customer.record_fix("flaky").await.unwrap().unwrap_err();
    assert_eq!(unknown.code(), "payment_outcome_unknown", "{unknown}");

    wait_until("the pending charge to settle", Duration::from_secs(10), || async {
        Ok((charge_statuses(&stack).await == ["succeeded"]).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(succeeded_intents(&stack).len(), 1);
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn a_keyed_retry_after_a_decline_and_a_new_card_charges_the_new_card_once() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("declined@example.com").await.unwrap();
    customer.add_payment_method("pm_card_chargeDeclined", true).await.unwrap().unwrap();
    for _ in 0..5 {
        customer.record_fix("credit").await.unwrap().unwrap();
    }
    let (status, declined) = fix_with_key(&customer, "retry-after-decline", "charged").await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{declined}");
    assert_eq!(declined["error"]["code"], "card_declined");

    customer.add_payment_method("pm_card_visa", true).await.unwrap().unwrap();
    let (status, fix) = fix_with_key(&customer, "retry-after-decline", "charged").await;

    assert_eq!(status, StatusCode::CREATED, "{fix}");
    assert_eq!(fix["status"], "paid");
    assert_eq!(charge_statuses(&stack).await, ["failed", "succeeded"]);
    let (again_status, again) = fix_with_key(&customer, "retry-after-decline", "charged").await;
    assert_eq!((again_status, &again["stripe_payment_intent_id"]), (StatusCode::OK, &fix["stripe_payment_intent_id"]));
    assert_eq!(succeeded_intents(&stack).len(), 1);
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn switching_back_to_an_earlier_card_reaches_stripe() {
    let stack = Stack::start().await.unwrap();
    let (signup, customer) = stack.signed_up_customer("cards@example.com").await.unwrap();
    let a = customer.add_payment_method("pm_card_visa", true).await.unwrap().unwrap()["payment_method_id"].clone();
    let b =
        customer.add_payment_method("pm_card_mastercard", true).await.unwrap().unwrap()["payment_method_id"].clone();
    assert_ne!(a, b);

    let again = customer.add_payment_method(a.as_str().unwrap(), true).await.unwrap().unwrap();

    assert_eq!(again["payment_method_id"], a);
    let in_stripe = stack.stripe.object(&signup.stripe_customer_id).unwrap();
    assert_eq!(
        in_stripe["invoice_settings"]["default_payment_method"], a,
        "Stripe charges the card the service recorded"
    );
    let recorded: String =
        sqlx::query_scalar("SELECT default_payment_method FROM customers").fetch_one(&stack.pool).await.unwrap();
    assert_eq!(Some(recorded.as_str()), a.as_str());
}

#[tokio::test]
async fn a_repeated_at_period_end_is_422_and_pro_stays() {
    let stack = Stack::start().await.unwrap();
    let (_, customer) = stack.signed_up_customer("pro@example.com").await.unwrap();
    let subscription = customer.subscribe_to_pro_with_a_card().await.unwrap();

    for query in [
        "at_period_end=true&at_period_end=true",
        "at_period_end=false&at_period_end=true",
        "at_period_end=1",
        "at_period_end=true&now=1",
        "at_period_end=%ZZ",
    ] {
        let (status, answer) =
            customer.send(Method::DELETE, &format!("/api/v1/billing/subscription?{query}"), None).await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{query}");
    }

    let usage = customer.usage().await.unwrap().unwrap();
    assert_eq!((usage["plan"].as_str(), usage["subscription"]["status"].as_str()), (Some("pro"), Some("active")));
    let in_stripe = stack.stripe.object(&subscription).unwrap();
    assert_eq!(
        (in_stripe["status"].as_str(), in_stripe["cancel_at_period_end"].as_bool()),
        (Some("active"), Some(false))
    );
}

#[tokio::test]
async fn an_invalid_idempotency_key_is_400_and_nothing_is_charged() {
    let stack = Stack::start().await.unwrap();
    let customer = payg_customer_without_credits(&stack, "keys@example.com").await;

    for key in ["caf\u{e9}".to_string(), "k".repeat(256), "two words".to_string()] {
        let request = billing_service::tls::client()
            .post(format!("{}/api/v1/fixes", stack.service_url))
            .bearer_auth(customer.api_key().unwrap())
            .header("idempotency-key", reqwest::header::HeaderValue::from_bytes(key.as_bytes()).unwrap())
            .json(&json!({"description": "x"}));
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{key:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_idempotency_key", "{key:?}");
    }
    assert_eq!(payment_intent_requests(&stack), 0);
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_refused_not_answered_with_the_first_result() {
    let stack = Stack::start().await.unwrap();
    let customer = payg_customer_without_credits(&stack, "reuse@example.com").await;
    let (status, first) = fix_with_key(&customer, "reused-key", "the first fix").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");

    let (status, answer) = fix_with_key(&customer, "reused-key", "a different fix").await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "idempotency_key_reused");
    assert_eq!(succeeded_intents(&stack).len(), 1);
    let fixes: i64 = sqlx::query_scalar("SELECT count(*) FROM fixes").fetch_one(&stack.pool).await.unwrap();
    assert_eq!(fixes, 6);
}

/// A stack whose Stripe calls time out after 300 ms, with no reconciler and no webhook endpoint:
/// a pending charge stays pending until a test delivers Stripe's event.
async fn stack_settled_by_webhooks_only() -> Stack {
    Stack::start_with(StackOptions {
        configure: Box::new(|config| {
            config.stripe.timeout_ms = 300;
            config.reconciler.interval_ms = 0;
        }),
        deliver_webhooks: false,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Waits for Stripe to have emitted an event of `kind`, and delivers it to the service.
async fn deliver_stripe_event(stack: &Stack, kind: &str) -> Value {
    let event = wait_until(&format!("Stripe to emit {kind}"), Duration::from_secs(10), || async {
        Ok(stack.stripe_events(kind).into_iter().next())
    })
    .await
    .unwrap();
    let (status, answer) = stack.deliver_event(&event).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn the_payment_intent_succeeded_webhook_settles_a_pending_charge() {
    let stack = stack_settled_by_webhooks_only().await;
    let customer = payg_customer_without_credits(&stack, "hooked@example.com").await;
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_secs(1)));
    let (status, _) = fix_with_key(&customer, "hooked", "charged").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(charge_statuses(&stack).await, ["pending"]);

    let answer = deliver_stripe_event(&stack, "payment_intent.succeeded").await;

    assert_eq!(answer["outcome"], "applied");
    assert_eq!(charge_statuses(&stack).await, ["succeeded"]);
    let fix = customer.fix(&fix_id_of(&stack).await).await.unwrap().unwrap();
    assert_eq!((fix["status"].as_str(), fix["charged_cents"].as_i64()), (Some("paid"), Some(2900)));
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn the_payment_intent_failed_webhook_settles_a_pending_charge_and_the_retry_says_how_to_fix_it() {
    let stack = stack_settled_by_webhooks_only().await;
    let (_, customer) = stack.signed_up_customer("hookdecline@example.com").await.unwrap();
    customer.add_payment_method("pm_card_chargeDeclinedInsufficientFunds", true).await.unwrap().unwrap();
    for _ in 0..5 {
        customer.record_fix("credit").await.unwrap().unwrap();
    }
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_secs(1)));
    let (status, _) = fix_with_key(&customer, "hook-decline", "charged").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);

    deliver_stripe_event(&stack, "payment_intent.payment_failed").await;

    assert_eq!(charge_statuses(&stack).await, ["failed"]);
    let (status, answer) = fix_with_key(&customer, "hook-decline", "charged").await;
    // The fix failed: the retry pays again, and the card is declined again.
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{answer}");
    assert_eq!(answer["error"]["decline_code"], "insufficient_funds");
    assert!(answer["error"]["message"].as_str().unwrap().contains("POST /api/v1/billing/payment-method"), "{answer}");
    stack.reconcile().await.unwrap();
}

async fn fix_id_of(stack: &Stack) -> String {
    sqlx::query_scalar("SELECT id::text FROM fixes WHERE charge_id IS NOT NULL").fetch_one(&stack.pool).await.unwrap()
}

/// A stack on a manual clock whose reconciler only runs when a test calls it and to which
/// Stripe delivers no events (they would settle the charge), with a charge left pending by
/// `fault` on the PaymentIntent request.
async fn charge_left_pending_by(fault: Fault) -> (Stack, ManualClock, ApiClient) {
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let stack = Stack::start_with(StackOptions {
        configure: Box::new(|config| config.reconciler.interval_ms = 0),
        clock: std::sync::Arc::new(clock.clone()),
        deliver_webhooks: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let customer = payg_customer_without_credits(&stack, "old@example.com").await;
    stack.stripe.inject_fault(fault);
    let unknown = customer.record_fix_with_key("old", "old-1").await.unwrap().unwrap_err();
    assert_eq!(unknown.code(), "payment_outcome_unknown", "{unknown}");
    assert_eq!(charge_statuses(&stack).await, ["pending"]);
    (stack, clock, customer)
}

#[tokio::test]
async fn past_stripes_key_retention_a_charge_that_never_reached_stripe_is_settled_failed_without_a_resend() {
    let (stack, clock, _) = charge_left_pending_by(Fault::on("POST", "/v1/payment_intents").status(500)).await;
    let sent = payment_intent_requests(&stack);
    // Past Stripe's 24 hours a re-send could charge a second time: the reconciler looks instead.
    clock.advance(chrono::Duration::hours(25));

    let report = reconciler::reconcile_due(stack.state()).await.unwrap();

    assert_eq!((report.claimed, report.failed), (1, 1), "{report:?}");
    assert_eq!(payment_intent_requests(&stack), sent, "nothing re-sent past the key's retention");
    let failure: String = sqlx::query_scalar("SELECT failure_code FROM charges").fetch_one(&stack.pool).await.unwrap();
    assert_eq!(failure, "never_reached_stripe");
    assert!(succeeded_intents(&stack).is_empty());
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn past_stripes_key_retention_a_charge_made_in_stripe_is_found_by_its_metadata() {
    let (stack, clock, _) =
        charge_left_pending_by(Fault::on("POST", "/v1/payment_intents").after_success().status(500)).await;
    let sent = payment_intent_requests(&stack);
    clock.advance(chrono::Duration::hours(25));

    let report = reconciler::reconcile_due(stack.state()).await.unwrap();

    assert_eq!((report.claimed, report.succeeded), (1, 1), "{report:?}");
    assert_eq!(payment_intent_requests(&stack), sent, "found, not re-sent");
    assert_eq!(charge_statuses(&stack).await, ["succeeded"]);
    let recorded: String =
        sqlx::query_scalar("SELECT stripe_payment_intent_id FROM charges").fetch_one(&stack.pool).await.unwrap();
    assert_eq!(succeeded_intents(&stack)[0]["id"], recorded.as_str());
    stack.reconcile().await.unwrap();
}

/// A `payment_intent.*` event as whoever holds the endpoint's secret could sign it: about
/// `object`, whatever Stripe says.
fn signed_claim(kind: &str, name: &str, object: Value) -> Value {
    json!({
        "id": format!("evt_claim_{name}"), "object": "event", "type": kind,
        "created": chrono::Utc::now().timestamp(), "data": {"object": object},
    })
}

/// The pending charge's row: (id, fix id, customer id, Stripe customer).
async fn pending_charge(stack: &Stack) -> (String, String, String, String) {
    sqlx::query_as(
        "SELECT id::text, fix_id::text, customer_id::text, stripe_customer_id FROM charges WHERE status = 'pending'",
    )
    .fetch_one(&stack.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_succeeded_event_about_a_made_up_one_cent_payment_intent_settles_nothing() {
    let stack = stack_settled_by_webhooks_only().await;
    let customer = payg_customer_without_credits(&stack, "madeup@example.com").await;
    // The charge is pending: Stripe charges it, but only after the service gave up waiting.
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_secs(1)));
    let (status, _) = fix_with_key(&customer, "made-up", "charged").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let (charge, fix, customer_id, stripe_customer) = pending_charge(&stack).await;
    let claim = signed_claim(
        "payment_intent.succeeded",
        "made_up",
        json!({
            "id": "pi_made_up", "object": "payment_intent", "status": "succeeded", "amount": 1, "currency": "usd",
            "customer": stripe_customer,
            "metadata": {"charge_id": charge, "fix_id": fix, "customer_id": customer_id},
        }),
    );

    let (status, answer) = stack.deliver_event(&claim).await.unwrap();

    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("ignored")), "{answer}");
    assert_eq!(charge_statuses(&stack).await, ["pending"], "a PaymentIntent Stripe does not have settles nothing");
    // Stripe's own event settles it, with the PaymentIntent Stripe made.
    let answer = deliver_stripe_event(&stack, "payment_intent.succeeded").await;
    assert_eq!(answer["outcome"], "applied", "{answer}");
    let fix = customer.fix(&fix).await.unwrap().unwrap();
    assert_eq!(fix["stripe_payment_intent_id"], succeeded_intents(&stack)[0]["id"]);
    assert_eq!(fix["charged_cents"], 2900);
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn an_event_naming_another_charges_payment_intent_settles_nothing() {
    let stack = stack_settled_by_webhooks_only().await;
    // Someone else's fix was charged and paid: a real, succeeded PaymentIntent.
    let other = payg_customer_without_credits(&stack, "payer@example.com").await;
    let paid = other.record_fix("paid").await.unwrap().unwrap();
    let real_intent = paid["stripe_payment_intent_id"].as_str().unwrap().to_string();
    let customer = payg_customer_without_credits(&stack, "pending@example.com").await;
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_secs(1)));
    let (status, _) = fix_with_key(&customer, "not-yours", "charged").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let (charge, fix, customer_id, stripe_customer) = pending_charge(&stack).await;
    // The event names the pending charge, but the PaymentIntent is the other fix's.
    let claim = signed_claim(
        "payment_intent.succeeded",
        "other_charge",
        json!({
            "id": real_intent, "object": "payment_intent", "status": "succeeded", "amount": 2900, "currency": "usd",
            "customer": stripe_customer,
            "metadata": {"charge_id": charge, "fix_id": fix, "customer_id": customer_id},
        }),
    );

    let (_, answer) = stack.deliver_event(&claim).await.unwrap();

    assert_eq!(answer["outcome"], "ignored", "{answer}");
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM charges WHERE status = 'pending'")
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(pending, 1, "the pending charge is not settled by another charge's PaymentIntent");
    deliver_stripe_event_about(&stack, "payment_intent.succeeded", &charge).await;
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn a_failed_event_about_a_charge_stripe_made_settles_it_paid_and_the_keyed_retry_charges_once() {
    let stack = stack_settled_by_webhooks_only().await;
    let customer = payg_customer_without_credits(&stack, "notfailed@example.com").await;
    // Stripe charges the fix, and the service never hears its answer.
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").after_success().status(500));
    let (status, _) = fix_with_key(&customer, "really-paid", "charged").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let (charge, fix, customer_id, stripe_customer) = pending_charge(&stack).await;
    let intent = succeeded_intents(&stack)[0]["id"].as_str().unwrap().to_string();
    // A "failed" about that very PaymentIntent: were it believed, the retry would charge again.
    let claim = signed_claim(
        "payment_intent.payment_failed",
        "not_failed",
        json!({
            "id": intent, "object": "payment_intent", "status": "requires_payment_method", "amount": 2900,
            "currency": "usd", "customer": stripe_customer,
            "metadata": {"charge_id": charge, "fix_id": fix, "customer_id": customer_id},
            "last_payment_error": {"code": "card_declined", "decline_code": "generic_decline", "message": "declined"},
        }),
    );

    let (_, answer) = stack.deliver_event(&claim).await.unwrap();

    assert_eq!(answer["outcome"], "applied", "{answer}");
    assert_eq!(charge_statuses(&stack).await, ["succeeded"], "Stripe says it succeeded: it is settled so");
    let (status, paid) = fix_with_key(&customer, "really-paid", "charged").await;
    assert_eq!((status, paid["status"].as_str()), (StatusCode::OK, Some("paid")), "{paid}");
    assert_eq!(paid["stripe_payment_intent_id"], intent.as_str());
    assert_eq!(payment_intent_requests(&stack), 1, "no second PaymentIntent for the fix");
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn a_failed_event_about_a_made_up_payment_intent_leaves_the_charge_pending_and_the_retry_charges_once() {
    let stack = stack_settled_by_webhooks_only().await;
    let customer = payg_customer_without_credits(&stack, "stillpending@example.com").await;
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_secs(1)));
    let (status, _) = fix_with_key(&customer, "in-flight", "charged").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let (charge, fix, customer_id, stripe_customer) = pending_charge(&stack).await;
    let claim = signed_claim(
        "payment_intent.payment_failed",
        "made_up_failure",
        json!({
            "id": "pi_made_up_failure", "object": "payment_intent", "status": "requires_payment_method",
            "amount": 2900, "currency": "usd", "customer": stripe_customer,
            "metadata": {"charge_id": charge, "fix_id": fix, "customer_id": customer_id},
        }),
    );

    let (_, answer) = stack.deliver_event(&claim).await.unwrap();

    assert_eq!(answer["outcome"], "ignored", "{answer}");
    assert_eq!(charge_statuses(&stack).await, ["pending"]);
    // The retry settles the one charge (re-sent with its key: Stripe replays it).
    let (status, paid) = fix_with_key(&customer, "in-flight", "charged").await;
    assert_eq!((status, paid["status"].as_str()), (StatusCode::OK, Some("paid")), "{paid}");
    assert_eq!(succeeded_intents(&stack).len(), 1, "one PaymentIntent for the fix");
    stack.reconcile().await.unwrap();
}

/// Delivers Stripe's own event of `kind` about charge `charge` (by its metadata).
async fn deliver_stripe_event_about(stack: &Stack, kind: &str, charge: &str) {
    let event = wait_until(&format!("Stripe to emit {kind} for {charge}"), Duration::from_secs(10), || async {
        Ok(stack
            .stripe_events(kind)
            .into_iter()
            .find(|event| event["data"]["object"]["metadata"]["charge_id"] == charge))
    })
    .await
    .unwrap();
    let (status, answer) = stack.deliver_event(&event).await.unwrap();
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("applied")), "{answer}");
}

#[tokio::test]
async fn past_stripes_key_retention_a_keyed_retry_looks_the_charge_up_and_never_sends_it_again() {
    let (stack, clock, customer) =
        charge_left_pending_by(Fault::on("POST", "/v1/payment_intents").after_success().status(500)).await;
    let sent = payment_intent_requests(&stack);
    // A day and more later the client retries: re-sending now could make a second PaymentIntent.
    clock.advance(chrono::Duration::hours(25));

    let (status, fix) = fix_with_key(&customer, "old-1", "old").await;

    assert_eq!((status, fix["status"].as_str()), (StatusCode::OK, Some("paid")), "{fix}");
    assert_eq!(payment_intent_requests(&stack), sent, "found by its metadata, not sent again");
    assert_eq!(fix["stripe_payment_intent_id"], succeeded_intents(&stack)[0]["id"]);
    stack.reconcile().await.unwrap();
}

#[tokio::test]
async fn a_charge_settled_by_the_reconciler_is_counted_once() {
    let stack = impatient_stack().await;
    let customer = payg_customer_without_credits(&stack, "counted@example.com").await;
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").status(500));
    let unknown = customer.record_fix("counted").await.unwrap().unwrap_err();
    assert_eq!(unknown.code(), "payment_outcome_unknown", "{unknown}");

    wait_until("the pending charge to settle", Duration::from_secs(10), || async {
        Ok((charge_statuses(&stack).await == ["succeeded"]).then_some(()))
    })
    .await
    .unwrap();
    stack.wait_for_webhooks().await.unwrap();

    let metrics = stack.metrics().await.unwrap();
    let counted: Vec<&str> =
        metrics.lines().filter(|line| line.starts_with(r#"billing_charges_total{outcome="succeeded""#)).collect();
    let total: u64 = counted.iter().filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok()).sum();
    assert_eq!(total, 1, "one charge, counted once: {counted:?}");
}

#[tokio::test]
async fn reading_a_pending_fix_asks_stripe_nothing() {
    let (stack, _clock, customer) = charge_left_pending_by(Fault::on("POST", "/v1/payment_intents").status(500)).await;
    let before = stack.stripe.requests().len();

    let fix = customer.fix(&fix_id_of(&stack).await).await.unwrap().unwrap();

    assert_eq!(fix["status"], "pending", "GET only reads: the reconciler, webhooks and keyed retries settle");
    assert_eq!(stack.stripe.requests().len(), before);
}
