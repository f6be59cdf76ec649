//! The Pro subscription across Stripe's clock: grants, renewals, cancellation at period end,
//! failed renewals, and webhooks that come twice or out of order.

use std::time::Duration;

use anyhow::Context;
use rand::seq::SliceRandom;

use super::World;
use crate::check;

const ONE_PERIOD: Duration = Duration::from_secs(31 * 24 * 3600);

pub async fn pro_credits_arrive_when_the_invoice_is_paid(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let (_, customer) = w.signup("pro", None).await?;
    customer.add_payment_method("pm_card_visa", true).await??;
    let subscribed = customer.subscribe_to_pro().await??;
    check!(subscribed["plan"] == "pro", "{subscribed}");
    let usage = customer.usage().await??;
    check!(usage["credit_balance"] == 5, "no credits before the invoice is paid: {usage}");

    let paid = stack.stripe_events("invoice.paid");
    let event = paid.first().context("Stripe emitted no invoice.paid")?;
    let (status, body) = stack.deliver_event(event).await?;
    check!(status.is_success(), "{body}");
    check!(customer.usage().await??["credit_balance"] == 65, "60 credits once the invoice is paid");
    Ok(())
}

pub async fn pro_renewal_grants_once_even_when_delivered_twice(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    stack.stripe.set_duplicate_deliveries(true);
    let customer = w.pro_customer("renewal").await?;

    stack.advance_stripe_clock(ONE_PERIOD).await?;

    let usage = customer.balance_becomes(125).await?;
    let grants = usage["transactions"]
        .as_array()
        .context("no transactions")?
        .iter()
        .filter(|t| t["source"] == "pro_invoice")
        .count();
    check!(grants == 2, "one grant per paid invoice, got {grants}: {usage}");
    let deliveries = stack.stripe.deliveries();
    for paid in stack.stripe_events("invoice.paid") {
        let id = paid["id"].as_str().unwrap_or_default();
        let count = deliveries.iter().filter(|d| d.event_id == id && d.status == Some(200)).count();
        check!(count >= 2, "invoice.paid {id} was delivered {count} time(s), expected twice");
    }
    Ok(())
}

pub async fn cancelling_at_period_end_keeps_pro_until_it_ends(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let customer = w.pro_customer("periodend").await?;
    let cancelled = customer.cancel_subscription(true).await??;
    check!(cancelled["plan"] == "pro" && cancelled["cancel_at_period_end"] == true, "{cancelled}");
    stack.wait_for_webhooks().await?;
    customer.use_all_credits().await?;
    let fix = customer.record_fix("still Pro").await??;
    check!(fix["charged_cents"] == 1500, "Pro rate until the period ends: {fix}");

    stack.advance_stripe_clock(ONE_PERIOD).await?;

    let usage = customer.usage().await??;
    check!(usage["plan"] == "payg" && usage["per_fix_rate_cents"] == 2900, "{usage}");
    let fix = customer.record_fix("after the period").await??;
    check!(fix["charged_cents"] == 2900, "pay-as-you-go after the period: {fix}");
    Ok(())
}

pub async fn failed_renewal_is_past_due_with_a_warning(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let customer = w.pro_customer("pastdue").await?;
    customer.add_payment_method("pm_card_chargeDeclinedInsufficientFunds", true).await??;

    stack.advance_stripe_clock(ONE_PERIOD).await?;

    let usage = customer.usage().await??;
    check!(usage["subscription"]["status"] == "past_due", "{usage}");
    check!(usage["credit_balance"] == 65, "no credits for an unpaid invoice: {usage}");
    let warned = usage["warnings"].as_array().is_some_and(|ws| ws.iter().any(|w| w["code"] == "payment_failed"));
    check!(warned, "a payment_failed warning: {usage}");
    Ok(())
}

pub async fn duplicate_and_out_of_order_webhooks_grant_once(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let (_, customer) = w.signup("shuffle", None).await?;
    customer.add_payment_method("pm_card_visa", true).await??;
    customer.subscribe_to_pro().await??;

    let mut deliveries: Vec<serde_json::Value> =
        stack.stripe.events().into_iter().flat_map(|e| [e.clone(), e.clone(), e]).collect();
    deliveries.shuffle(&mut rand::rng());
    for event in &deliveries {
        let (status, body) = stack.deliver_event(event).await?;
        check!(status.is_success(), "{} → {body}", event["type"]);
    }

    let usage = customer.usage().await??;
    check!(usage["credit_balance"] == 65 && usage["plan"] == "pro", "{usage}");
    Ok(())
}
