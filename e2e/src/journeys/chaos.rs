//! Chaos journeys (local only): the service is killed mid-charge, Stripe answers after the
//! service gave up, PostgreSQL restarts under load, and hostile clients send every kind of
//! bad input. Each ends, as every local journey does, with the reconciliation check: every
//! succeeded PaymentIntent has exactly one recorded charge and the reverse, and every ledger
//! adds up.
//!
//! They run on a stack with the service as a child process (so it can be killed with SIGKILL)
//! on a PostgreSQL server of its own (so it can be restarted), with a 3 s Stripe timeout and a
//! reconciler that looks at pending charges after a second ([`super::Need::Chaos`]).

use std::time::Duration;

use anyhow::Context;
use billing_fakes::Fault;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::world::{EFFECT_DEADLINE, World};
use crate::{ApiClient, check, wait_until};

/// A pay-as-you-go customer whose credits are used up: every fix is a $29 charge.
async fn charged_customer(w: &World, who: &str) -> anyhow::Result<ApiClient> {
    let (_, customer) = w.signup(who, None).await?;
    customer.add_payment_method("pm_card_visa", true).await??;
    customer.use_all_credits().await?;
    Ok(customer)
}

/// Retries a keyed fix until the service answers it as paid (it may still be settling).
async fn paid_after_retries(customer: &ApiClient, description: &str, key: &str) -> anyhow::Result<Value> {
    wait_until(&format!("fix {key} to be paid"), EFFECT_DEADLINE, || async {
        match customer.record_fix_with_key(description, key).await {
            Ok(Ok(fix)) if fix["status"] == "paid" => Ok(Some(fix)),
            // Still settling, the service still starting, or the database still away: try again.
            _ => Ok(None),
        }
    })
    .await
}

fn succeeded_charges_in_stripe(w: &World) -> anyhow::Result<usize> {
    Ok(w.stack()?.stripe_events("payment_intent.succeeded").len())
}

pub async fn killed_mid_charge_nothing_is_lost_or_doubled(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let customer = charged_customer(w, "killed").await?;
    const ROUNDS: usize = 3;
    const FIXES: usize = 10;
    for round in 0..ROUNDS {
        // Stripe takes its time; the service is killed while all ten charges are inside Stripe.
        stack.stripe.inject_fault(
            Fault::on("POST", "/v1/payment_intents").times(FIXES as u32).latency(Duration::from_millis(2_500)),
        );
        let fixes: Vec<_> = (0..FIXES)
            .map(|n| {
                let customer = customer.clone();
                tokio::spawn(async move { customer.record_fix_with_key("charged", &format!("kill-{round}-{n}")).await })
            })
            .collect();
        wait_until("every charge to be inside Stripe", EFFECT_DEADLINE, || async {
            Ok(stack.stripe.armed_faults().is_empty().then_some(()))
        })
        .await?;
        stack.kill_service()?;
        let mut cut_off = 0;
        for fix in fixes {
            cut_off += usize::from(!matches!(fix.await?, Ok(Ok(_))));
        }
        check!(cut_off > 0, "round {round}: every charge was answered before the kill, so the kill tested nothing");
        stack.start_service().await?;
        for n in 0..FIXES {
            let fix = paid_after_retries(&customer, "charged", &format!("kill-{round}-{n}")).await?;
            check!(fix["charged_cents"] == 2900 && fix["paid_with"] == "charge", "{fix}");
        }
    }
    let report = stack.reconcile().await?;
    check!(report.payment_intents == ROUNDS * FIXES && report.charges == ROUNDS * FIXES, "{report}");
    Ok(())
}

pub async fn stripe_slower_than_the_service_is_an_honest_unknown(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let customer = charged_customer(w, "slowstripe").await?;
    // Slower than the service's Stripe timeout: the service gives up, Stripe still charges.
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_secs(5)));

    let unknown = customer.record_fix_with_key("slow", "slow-1").await?.err().context("answered as if it knew")?;

    check!(unknown.status == StatusCode::BAD_GATEWAY && unknown.code() == "payment_outcome_unknown", "{unknown}");
    let message = unknown.body["error"]["message"].as_str().unwrap_or_default();
    check!(!message.contains("nothing was changed") && message.contains("same Idempotency-Key"), "{message}");
    let fix = paid_after_retries(&customer, "slow", "slow-1").await?;
    check!(fix["charged_cents"] == 2900, "{fix}");
    check!(succeeded_charges_in_stripe(w)? == 1, "one charge in Stripe");
    Ok(())
}

pub async fn stripe_charged_but_its_answer_was_lost_is_recorded_once(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let customer = charged_customer(w, "lostanswer").await?;
    // Stripe carries the charge out, then the service sees a 500, then a connection closed
    // without an answer: two ways of not knowing that money moved.
    let faults = [
        ("lost-500", Fault::on("POST", "/v1/payment_intents").after_success().status(500)),
        ("lost-drop", Fault::on("POST", "/v1/payment_intents").after_success().drop_connection()),
    ];
    for (key, fault) in faults {
        stack.stripe.inject_fault(fault);
        let unknown =
            customer.record_fix_with_key("lost answer", key).await?.err().context("answered as if it knew")?;
        check!(
            unknown.status == StatusCode::BAD_GATEWAY && unknown.code() == "payment_outcome_unknown",
            "{key}: {unknown}"
        );
        let fix = paid_after_retries(&customer, "lost answer", key).await?;
        check!(fix["charged_cents"] == 2900 && fix["paid_with"] == "charge", "{key}: {fix}");
    }
    check!(succeeded_charges_in_stripe(w)? == 2, "one charge in Stripe per fix, however often it was re-sent");
    let report = stack.reconcile().await?;
    check!(report.payment_intents == 2 && report.charges == 2, "{report}");
    Ok(())
}

pub async fn postgres_restarted_under_load_loses_nothing(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let customer = charged_customer(w, "pgrestart").await?;
    stack
        .stripe
        .inject_fault(Fault::on("POST", "/v1/payment_intents").times(1_000).latency(Duration::from_millis(300)));
    const FIXES: usize = 12;
    let load: Vec<_> = (0..FIXES)
        .map(|n| {
            let customer = customer.clone();
            tokio::spawn(async move { customer.record_fix_with_key("under load", &format!("pg-{n}")).await })
        })
        .collect();
    // Some charges are inside Stripe when the database goes away: their settlement fails.
    wait_until("charges to be in flight", EFFECT_DEADLINE, || async {
        let in_flight = stack.stripe.armed_faults().first().map_or(0, |fault| 1_000 - fault.times);
        Ok((in_flight >= 3).then_some(()))
    })
    .await?;
    stack.stop_postgres()?;
    let (status, ready) = w.api.send(Method::GET, "/readyz", None).await?;
    check!(status == StatusCode::SERVICE_UNAVAILABLE, "readyz while the database is down: {status} {ready}");
    let (status, down) = customer.send(Method::GET, "/api/v1/usage", None).await?;
    check!(status == StatusCode::SERVICE_UNAVAILABLE && down["error"]["code"].is_string(), "{status}: {down}");
    for request in load {
        // Answered or not, each request ends; what it did is settled below.
        let _ = request.await?;
    }
    stack.start_postgres().await?;

    for n in 0..FIXES {
        let fix = paid_after_retries(&customer, "under load", &format!("pg-{n}")).await?;
        check!(fix["charged_cents"] == 2900, "{fix}");
    }
    let report = stack.reconcile().await?;
    check!(report.charges == FIXES && report.payment_intents == FIXES, "{report}");
    Ok(())
}

pub async fn duplicate_query_parameters_change_nothing(w: &World) -> anyhow::Result<()> {
    let (_, customer) = w.signup("dupquery", None).await?;
    customer.subscribe_to_pro_with_a_card().await?;
    for path in [
        "/api/v1/billing/subscription?at_period_end=true&at_period_end=true",
        "/api/v1/billing/subscription?at_period_end=false&at_period_end=false",
        "/api/v1/billing/subscription?at_period_end=true&at_period_end",
    ] {
        let (status, answer) = customer.send(Method::DELETE, path, None).await?;
        check!(status == StatusCode::UNPROCESSABLE_ENTITY, "{path}: {status} {answer}");
    }
    let (status, _) = customer.send(Method::GET, "/api/v1/usage?limit=1&limit=200", None).await?;
    check!(status == StatusCode::UNPROCESSABLE_ENTITY, "a repeated limit: {status}");
    let usage = customer.usage().await??;
    check!(usage["plan"] == "pro" && usage["subscription"]["status"] == "active", "Pro is untouched: {usage}");
    Ok(())
}

/// One hostile request: method, path, JSON body, headers.
type HostileRequest = (Method, String, Option<Value>, Vec<(&'static str, String)>);

/// Hostile inputs for every route: none may be answered with a 5xx or anything but JSON.
pub async fn hostile_inputs_on_every_endpoint_are_clear_json_errors(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let (signup, customer) = w.signup("hostile", None).await?;
    let key = customer.api_key().context("a key")?.to_string();
    let http = billing_service::tls::client();
    for (method, path, body, headers) in hostile_requests(&key, &signup.api_key_id)? {
        let mut request = http.request(method.clone(), format!("{}{path}", stack.service_url));
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = response.text().await?;
        let shown = || {
            format!(
                "{method} {} {}",
                &path[..path.len().min(80)],
                body.as_ref().map(|b| b.to_string().chars().take(80).collect::<String>()).unwrap_or_default()
            )
        };
        check!(!status.is_server_error(), "{}: {status} {text}", shown());
        if !status.is_success() {
            check!(content_type.starts_with("application/json"), "{}: {status} not JSON: {text}", shown());
            let error: Value = serde_json::from_str(&text).with_context(|| format!("{}: {text}", shown()))?;
            check!(error["error"]["code"].is_string() && error["error"]["message"].is_string(), "{}: {error}", shown());
        }
    }
    let (status, _) = w.api.send(Method::GET, "/healthz", None).await?;
    check!(status == StatusCode::OK, "still healthy");
    Ok(())
}

/// The hostile requests: odd values in every field of every body, odd paths and queries, odd
/// headers, forged webhook signatures and an unknown method, as a customer with `key` (whose
/// own key's id is `key_id`).
fn hostile_requests(key: &str, key_id: &str) -> anyhow::Result<Vec<HostileRequest>> {
    let long = "x".repeat(100_000);
    let nul = "a\u{0}b";
    let values = [
        json!(nul),
        json!(long),
        json!(""),
        json!(" "),
        json!("\u{202e}rtl"),
        json!(-1),
        json!(1e308),
        json!(null),
        json!([]),
        json!({}),
    ];
    let auth = vec![("authorization", format!("Bearer {key}"))];
    let mut requests: Vec<HostileRequest> = Vec::new();
    for value in &values {
        let bodies = [
            ("/api/v1/customers", json!({"email": value, "name": value, "source": value})),
            ("/api/v1/fixes", json!({"description": value})),
            ("/api/v1/billing/payment-method", json!({"payment_method_id": value, "billing_consent": value})),
            ("/api/v1/billing/subscription", json!({"plan": value})),
            ("/api/v1/credentials/exchange", json!({"providers": value, "ttl_seconds": value})),
            ("/api/v1/api-keys", json!({"name": value})),
        ];
        for (path, body) in bodies {
            // Signup is the one route without a key.
            let headers = if path == "/api/v1/customers" { vec![] } else { auth.clone() };
            requests.push((Method::POST, path.into(), Some(body), headers));
        }
    }
    for path in [
        "/api/v1/usage?limit=-1",
        "/api/v1/usage?before=abc",
        "/api/v1/usage?limit=99999999999999999999",
        "/api/v1/fixes/..%2F..%2Fetc",
        "/api/v1/fixes/%00",
        "/api/v1/api-keys/%ZZ",
        "/%2e%2e/%2e%2e/",
    ] {
        requests.push((Method::GET, path.into(), None, auth.clone()));
        requests.push((Method::DELETE, path.into(), None, auth.clone()));
    }
    for header in [
        ("authorization", format!("Bearer {long}")),
        ("authorization", "Bearer".into()),
        ("x-api-key", nul.replace('\0', "%00")),
        ("idempotency-key", long.clone()),
    ] {
        requests.push((Method::POST, "/api/v1/fixes".into(), Some(json!({})), vec![header]));
    }
    let forged = [
        (json!({"id": nul}), "t=1,v1=zz".to_string()),
        (json!({}), format!("t={},{}", i64::MIN, "v1=00,".repeat(500))),
    ];
    for (body, signature) in forged {
        requests.push((Method::POST, "/api/webhooks/stripe".into(), Some(body), vec![("stripe-signature", signature)]));
    }
    requests.push((Method::from_bytes(b"PROPFIND")?, "/api/v1/usage".into(), None, auth.clone()));
    requests.push((Method::DELETE, format!("/api/v1/api-keys/{key_id}"), None, auth));
    Ok(requests)
}

/// A signed event as whoever holds the endpoint's secret could send it, about `object`.
fn claimed_event(kind: &str, name: &str, object: Value) -> Value {
    json!({
        "id": format!("evt_claim_{name}_{}", uuid::Uuid::new_v4().simple()), "object": "event", "type": kind,
        "created": chrono::Utc::now().timestamp(), "data": {"object": object},
    })
}

/// The pending charge's row: (id, fix id, customer id, Stripe customer).
async fn pending_charge(w: &World) -> anyhow::Result<(String, String, String, String)> {
    let stack = w.stack()?;
    wait_until("a charge to be recorded as pending", EFFECT_DEADLINE, || async {
        Ok(sqlx::query_as(
            "SELECT id::text, fix_id::text, customer_id::text, stripe_customer_id FROM charges WHERE status = 'pending'",
        )
        .fetch_optional(&stack.pool)
        .await?)
    })
    .await
}

pub async fn signed_events_stripe_does_not_bear_out_move_no_money(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let customer = charged_customer(w, "claims").await?;

    // 1. While a charge is inside Stripe, a "succeeded" for a made-up PaymentIntent of 1 cent.
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").latency(Duration::from_millis(2_500)));
    let slow = tokio::spawn({
        let customer = customer.clone();
        async move { customer.record_fix_with_key("claimed", "claim-1").await }
    });
    let (charge, fix, customer_id, stripe_customer) = pending_charge(w).await?;
    let metadata = json!({"charge_id": charge, "fix_id": fix, "customer_id": customer_id});
    let made_up = claimed_event(
        "payment_intent.succeeded",
        "made_up",
        json!({"id": "pi_made_up", "object": "payment_intent", "status": "succeeded", "amount": 1,
               "currency": "usd", "customer": stripe_customer, "metadata": metadata}),
    );
    let (status, answer) = w.deliver(&made_up).await?;
    check!(status == StatusCode::OK && answer["outcome"] == "ignored", "a made-up PaymentIntent: {status} {answer}");
    let _ = slow.await?;
    let paid = paid_after_retries(&customer, "claimed", "claim-1").await?;
    check!(paid["charged_cents"] == 2900, "{paid}");
    let intent = paid["stripe_payment_intent_id"].as_str().context("a paid fix has its PaymentIntent")?.to_string();
    check!(intent != "pi_made_up", "settled with the made-up PaymentIntent: {paid}");

    // 2. Stripe charges and its answer is lost; a "failed" about that very PaymentIntent.
    stack.stripe.inject_fault(Fault::on("POST", "/v1/payment_intents").after_success().status(500));
    let unknown = customer.record_fix_with_key("claimed again", "claim-2").await?;
    check!(unknown.is_err(), "Stripe's answer was lost, yet the fix was answered: {unknown:?}");
    // Stripe's own event may have settled it already: then there is nothing left to claim.
    let pending: Option<(String, String, String, String)> = sqlx::query_as(
        "SELECT id::text, fix_id::text, customer_id::text, stripe_customer_id FROM charges WHERE status = 'pending'",
    )
    .fetch_optional(&stack.pool)
    .await?;
    if let Some((charge, fix, customer_id, stripe_customer)) = pending {
        let real = stack
            .stripe_events("payment_intent.succeeded")
            .into_iter()
            .find(|event| event["data"]["object"]["metadata"]["charge_id"] == charge.as_str())
            .context("Stripe made the PaymentIntent")?;
        let failed = claimed_event(
            "payment_intent.payment_failed",
            "not_failed",
            json!({"id": real["data"]["object"]["id"], "object": "payment_intent", "status": "requires_payment_method",
                   "amount": 2900, "currency": "usd", "customer": stripe_customer,
                   "metadata": {"charge_id": charge, "fix_id": fix, "customer_id": customer_id}}),
        );
        let (status, answer) = w.deliver(&failed).await?;
        check!(status == StatusCode::OK, "{answer}");
    }
    let paid = paid_after_retries(&customer, "claimed again", "claim-2").await?;
    check!(paid["charged_cents"] == 2900, "the fix Stripe charged is paid, not failed and charged again: {paid}");

    // 3. An invented invoice of a Pro customer's real subscription.
    let (pro, pro_customer) = w.pro_customer("claimspro").await?;
    let before = pro_customer.usage().await??["credit_balance"].clone();
    let subscription = pro_customer.usage().await??["subscription"]["stripe_subscription_id"].clone();
    let invented = claimed_event(
        "invoice.paid",
        "invented_invoice",
        json!({"id": "in_invented", "object": "invoice", "status": "paid", "amount_paid": 59900, "currency": "usd",
               "customer": pro.stripe_customer_id, "subscription": subscription}),
    );
    let (status, answer) = w.deliver(&invented).await?;
    check!(status == StatusCode::OK && answer["outcome"] == "ignored", "an invented invoice: {status} {answer}");
    let after = pro_customer.usage().await??["credit_balance"].clone();
    check!(after == before, "credits for an invented invoice: {before} → {after}");

    let report = stack.reconcile().await?;
    check!(report.payment_intents == 2 && report.charges == 2, "one PaymentIntent and one charge per fix: {report}");
    Ok(())
}

pub async fn a_signup_whose_answer_was_lost_is_finished_by_its_keyed_retry(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let email = w.email("lostsignup");
    let body = json!({"email": email, "name": "Lost Signup (e2e)"});
    let key = uuid::Uuid::new_v4().to_string();
    // Stripe is slow; the client gives up long before: the answer, and its API key, are lost.
    stack.stripe.inject_fault(Fault::on("POST", "/v1/customers").latency(Duration::from_millis(1_500)));
    let lost = w
        .api
        .request(Method::POST, "/api/v1/customers")
        .header("idempotency-key", &key)
        .timeout(Duration::from_millis(200))
        .json(&body)
        .send()
        .await;
    check!(lost.is_err(), "the client was meant to give up: {lost:?}");

    let retry = || async {
        w.api
            .send_with_headers(Method::POST, "/api/v1/customers", Some(body.clone()), &[("idempotency-key", &key)])
            .await
    };
    let (status, first) = retry().await?;
    check!(status == StatusCode::CREATED, "the keyed retry gets the signup: {status} {first}");
    let (status, again) = retry().await?;
    check!(status == StatusCode::CREATED && again == first, "every retry gets the first answer: {status} {again}");
    let key_works = w.api.with_key(first["api_key"].as_str().context("an API key")?).usage().await?;
    check!(key_works.is_ok(), "the replayed key works: {key_works:?}");
    let in_stripe = w.stripe()?.list("/v1/customers", &[("email", &email)]).await?;
    check!(in_stripe.len() == 1, "one Stripe customer for the address: {in_stripe:?}");
    Ok(())
}

pub async fn cancelling_what_stripe_already_ended_converges(w: &World) -> anyhow::Result<()> {
    let stripe = w.stripe()?;
    let (_, customer) = w.pro_customer("dashboardcancel").await?;
    let usage = customer.usage().await??;
    let subscription = usage["subscription"]["stripe_subscription_id"].as_str().context("a subscription")?.to_string();
    // Cancelled in Stripe itself (the Dashboard, another request): the service may not know yet.
    stripe.delete(&format!("/v1/subscriptions/{subscription}")).await?;

    let (status, answer) = customer.send(Method::DELETE, "/api/v1/billing/subscription", None).await?;
    check!(status == StatusCode::OK && answer["plan"] == "payg", "cancel converges on Stripe: {status} {answer}");
    let again = customer.subscribe_to_pro().await?;
    check!(again.is_ok(), "subscribing again is not refused: {again:?}");

    // Ten cancels at once: every one is answered with the cancellation, none with a 502.
    let cancels = (0..10).map(|_| customer.send(Method::DELETE, "/api/v1/billing/subscription", None));
    for answer in futures_util::future::join_all(cancels).await {
        let (status, answer) = answer?;
        check!(status == StatusCode::OK && answer["plan"] == "payg", "one of ten cancels: {status} {answer}");
    }
    let usage = customer.usage().await??;
    check!(usage["plan"] == "payg" && usage["per_fix_rate_cents"] == 2900, "{usage}");
    Ok(())
}
