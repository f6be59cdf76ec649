//! The Pro subscription across Stripe's clock: grants, renewals, cancellation at period end,
//! failed renewals (past_due, then unpaid once Stripe's retries run out, then paid), and
//! webhooks that come twice or out of order.
//!
//! Time moves on the Stripe test clock the service put the customer on; events are found in
//! Stripe's `/v1/events` and delivered by the journey, signed as Stripe signs them.

use std::time::Duration;

use anyhow::Context;
use rand::seq::SliceRandom;

use super::world::World;
use crate::check;

const ONE_PERIOD: Duration = Duration::from_secs(31 * 24 * 3600);

pub async fn pro_credits_arrive_when_the_invoice_is_paid(w: &World) -> anyhow::Result<()> {
    let (signup, customer) = w.signup("pro", None).await?;
    customer.add_payment_method("pm_card_visa", true).await??;
    let subscribed = customer.subscribe_to_pro().await??;
    check!(subscribed["plan"] == "pro", "{subscribed}");
    let before = customer.usage().await??["credit_balance"].clone();
    if w.stripe_delivers_events {
        // A deployed target's Stripe delivers invoice.paid too, maybe already.
        check!(before == 5 || before == 65, "5 credits, or 65 once Stripe's invoice.paid arrived: {before}");
    } else {
        check!(before == 5, "no credits before the invoice is paid: {before}");
    }

    let paid = w.wait_for_event(&signup.stripe_customer_id, "invoice.paid", |_| true).await?;
    let (status, body) = w.deliver(&paid).await?;
    check!(status.is_success(), "invoice.paid → {status} {body}");
    if !w.stripe_delivers_events {
        check!(body["outcome"] == "applied", "the journey's invoice.paid is the one that grants: {body}");
    }
    customer.balance_becomes(65).await?;
    Ok(())
}

pub async fn pro_renewal_grants_once_even_when_delivered_twice(w: &World) -> anyhow::Result<()> {
    let (signup, customer) = w.signup("renewal", None).await?;
    let clock = w.test_clock_of(&signup).await?;
    customer.become_pro().await?;

    w.advance_stripe_clock(&clock, ONE_PERIOD).await?;
    customer.balance_becomes(125).await?;

    // Stripe has delivered each invoice event once; the journey delivers each again, twice at
    // the same moment. Nothing more may be granted.
    let invoice_events: Vec<_> = w
        .customer_events(&signup.stripe_customer_id)
        .await?
        .into_iter()
        .filter(|event| event["type"] == "invoice.paid" || event["type"] == "invoice.payment_succeeded")
        .collect();
    let paid = invoice_events.iter().filter(|event| event["type"] == "invoice.paid").count();
    check!(paid == 2, "Stripe has an invoice.paid for the first period and the renewal, found {paid}");
    for event in &invoice_events {
        let (first, second) = tokio::join!(w.deliver(event), w.deliver(event));
        for (status, body) in [first?, second?] {
            check!(status.is_success(), "{} delivered again → {status} {body}", event["type"]);
        }
    }
    let usage = customer.usage().await??;
    check!(usage["credit_balance"] == 125, "nothing granted twice: {usage}");
    let grants = usage["transactions"]
        .as_array()
        .map_or(0, |transactions| transactions.iter().filter(|t| t["source"] == "pro_invoice").count());
    check!(grants == 2, "one grant per paid invoice, got {grants}: {usage}");
    Ok(())
}

pub async fn cancelling_at_period_end_keeps_pro_until_it_ends(w: &World) -> anyhow::Result<()> {
    let (signup, customer) = w.signup("periodend", None).await?;
    let clock = w.test_clock_of(&signup).await?;
    customer.become_pro().await?;
    let cancelled = customer.cancel_subscription(true).await??;
    check!(cancelled["plan"] == "pro" && cancelled["cancel_at_period_end"] == true, "{cancelled}");
    // Stripe's customer.subscription.updated (cancel_at_period_end) must not end Pro early:
    // the journey delivers it too, so it has surely arrived before the next fixes.
    let updated = w
        .wait_for_event(&signup.stripe_customer_id, "customer.subscription.updated", |event| {
            event["data"]["object"]["cancel_at_period_end"] == true
        })
        .await?;
    let (status, body) = w.deliver(&updated).await?;
    check!(status.is_success(), "customer.subscription.updated → {status} {body}");
    customer.use_all_credits().await?;
    let fix = customer.record_fix("still Pro").await??;
    check!(fix["charged_cents"] == 1500, "Pro rate until the period ends: {fix}");

    w.advance_stripe_clock(&clock, ONE_PERIOD).await?;

    let usage =
        w.usage_becomes(&customer, "pay-as-you-go once the period ended", |usage| usage["plan"] == "payg").await?;
    check!(usage["per_fix_rate_cents"] == 2900, "{usage}");
    let fix = customer.record_fix("after the period").await??;
    check!(fix["charged_cents"] == 2900, "pay-as-you-go after the period: {fix}");
    Ok(())
}

pub async fn failed_renewal_is_past_due_with_a_warning(w: &World) -> anyhow::Result<()> {
    let (signup, customer) = w.signup("pastdue", None).await?;
    let clock = w.test_clock_of(&signup).await?;
    customer.become_pro().await?;
    customer.add_payment_method("pm_card_chargeDeclinedInsufficientFunds", true).await??;

    w.advance_stripe_clock(&clock, ONE_PERIOD).await?;

    let usage = w
        .usage_becomes(&customer, "the subscription to be past_due", |usage| {
            usage["subscription"]["status"] == "past_due"
        })
        .await?;
    check!(usage["credit_balance"] == 65, "no credits for an unpaid invoice: {usage}");
    let warned = usage["warnings"].as_array().is_some_and(|ws| ws.iter().any(|w| w["code"] == "payment_failed"));
    check!(warned, "a payment_failed warning: {usage}");
    Ok(())
}

/// How far past the failed renewal Stripe's retries run out: the fake's default schedule (3, 5
/// and 7 days apart) ends 15 days after it; a deployed account's retry settings must end within
/// it too, and in "mark the subscription as unpaid".
const RETRIES_RUN_OUT: Duration = Duration::from_secs(16 * 24 * 3600);

pub async fn unpaid_after_the_last_retry_loses_pro_until_a_fixed_card_pays(w: &World) -> anyhow::Result<()> {
    let (signup, customer) = w.signup("unpaid", None).await?;
    let clock = w.test_clock_of(&signup).await?;
    customer.become_pro().await?;
    customer.add_payment_method("pm_card_chargeDeclinedInsufficientFunds", true).await??;

    // Each wait is for the state the events settle on: while Stripe's events are being applied, an
    // older one (its subscription fetched before the clock moved on) may commit after a newer one
    // and be put right at once, and a usage summary read meanwhile can show a status and a plan of
    // two moments.
    w.advance_stripe_clock(&clock, ONE_PERIOD).await?;
    let usage = w
        .usage_becomes(&customer, "past_due, and still Pro, after the renewal failed", |usage| {
            usage["subscription"]["status"] == "past_due" && usage["plan"] == "pro"
        })
        .await?;
    check!(usage["per_fix_rate_cents"] == 1500, "past_due keeps Pro pricing: {usage}");
    let subscription = usage["subscription"]["stripe_subscription_id"].as_str().unwrap_or_default().to_string();

    w.advance_stripe_clock(&clock, RETRIES_RUN_OUT).await?;
    let usage = w
        .usage_becomes(
            &customer,
            "unpaid and pay-as-you-go once Stripe's retries ran out (the account's retry settings must end in unpaid)",
            |usage| usage["subscription"]["status"] == "unpaid" && usage["plan"] == "payg",
        )
        .await?;
    check!(usage["per_fix_rate_cents"] == 2900, "unpaid ends Pro pricing: {usage}");
    check!(usage["credit_balance"] == 65, "nothing granted for the unpaid invoice: {usage}");
    let open = w.stripe()?.list("/v1/invoices", &[("subscription", &subscription), ("status", "open")]).await?;
    let invoice = open.first().with_context(|| format!("no open invoice of {subscription} in Stripe"))?;
    let attempts = invoice["attempt_count"].as_i64().unwrap_or_default();
    check!(attempts > 1 && invoice["next_payment_attempt"].is_null(), "retried, then no try left: {invoice}");

    customer.add_payment_method("pm_card_visa", true).await??;
    customer.use_all_credits().await?;
    let fix = customer.record_fix("while unpaid").await??;
    check!(fix["charged_cents"] == 2900, "while unpaid a fix costs the pay-as-you-go price: {fix}");

    // The customer pays the open invoice with the fixed card (what Stripe's hosted invoice page
    // does): a retry of its payment, which makes the subscription active again.
    let invoice_id = invoice["id"].as_str().unwrap_or_default();
    let paid = w.stripe()?.post(&format!("/v1/invoices/{invoice_id}/pay"), &[]).await?;
    check!(paid["status"] == "paid", "the retry with the fixed card pays the invoice: {paid}");
    let usage = w
        .usage_becomes(&customer, "active and Pro again, with the paid invoice's credits", |usage| {
            usage["subscription"]["status"] == "active" && usage["plan"] == "pro" && usage["credit_balance"] == 60
        })
        .await?;
    check!(usage["per_fix_rate_cents"] == 1500, "Pro pricing again: {usage}");
    Ok(())
}

pub async fn duplicate_and_out_of_order_webhooks_grant_once(w: &World) -> anyhow::Result<()> {
    let (signup, customer) = w.signup("shuffle", None).await?;
    customer.add_payment_method("pm_card_visa", true).await??;
    customer.subscribe_to_pro().await??;
    w.wait_for_event(&signup.stripe_customer_id, "invoice.paid", |_| true).await?;

    let mut deliveries: Vec<serde_json::Value> = w
        .customer_events(&signup.stripe_customer_id)
        .await?
        .into_iter()
        .flat_map(|event| [event.clone(), event.clone(), event])
        .collect();
    deliveries.shuffle(&mut rand::rng());
    for event in &deliveries {
        let (status, body) = w.deliver(event).await?;
        check!(status.is_success(), "{} → {body}", event["type"]);
    }

    let usage = customer.usage().await??;
    check!(usage["credit_balance"] == 65 && usage["plan"] == "pro", "{usage}");
    Ok(())
}
