//! Payment methods, consent, and fixes charged beyond the credits.

use anyhow::Context;
use reqwest::StatusCode;

use super::world::World;
use crate::check;

pub async fn payg_after_payment_method(w: &World) -> anyhow::Result<()> {
    let stripe = w.stripe()?;
    let (_, customer) = w.signup("payg", None).await?;
    let added = customer.add_payment_method("pm_card_visa", true).await??;
    check!(added["plan"] == "payg", "{added}");
    customer.use_all_credits().await?;

    for n in 1..=2 {
        let fix = customer.record_fix(&format!("charged fix {n}")).await??;
        check!(fix["paid_with"] == "charge" && fix["charged_cents"] == 2900, "{fix}");
        let intent_id = fix["stripe_payment_intent_id"].as_str().context("no PaymentIntent id")?;
        let intent = stripe.payment_intent(intent_id).await.context("the PaymentIntent is not in Stripe")?;
        check!(intent["amount"] == 2900 && intent["status"] == "succeeded", "{intent}");
    }
    let usage = customer.usage().await??;
    check!(usage["credit_balance"] == 0 && usage["per_fix_rate_cents"] == 2900, "{usage}");
    Ok(())
}

pub async fn payment_method_with_consent_is_accepted(w: &World) -> anyhow::Result<()> {
    let (_, customer) = w.signup("consent", None).await?;
    let added = customer.add_payment_method("pm_card_mastercard", true).await??;
    check!(added["brand"] == "mastercard" && added["plan"] == "payg", "{added}");
    let usage = customer.usage().await??;
    check!(usage["has_payment_method"] == true && usage["plan"] == "payg", "{usage}");
    Ok(())
}

pub async fn payment_method_without_consent_is_rejected(w: &World) -> anyhow::Result<()> {
    let stripe = w.stripe()?;
    let (signup, customer) = w.signup("noconsent", None).await?;
    let refused =
        customer.add_payment_method("pm_card_visa", false).await?.err().context("accepted without consent")?;
    check!(refused.status == StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    check!(refused.body["error"]["fields"]["billing_consent"].is_string(), "{refused}");
    let in_stripe = stripe.list(&format!("/v1/customers/{}/payment_methods", signup.stripe_customer_id), &[]).await?;
    check!(in_stripe.is_empty(), "the card reached the customer in Stripe: {in_stripe:?}");
    let stripe_customer = stripe.customer(&signup.stripe_customer_id).await?;
    check!(stripe_customer["invoice_settings"]["default_payment_method"].is_null(), "{stripe_customer}");
    // The fake's request log (local only) shows more: not even an attempt reached Stripe.
    if let Some(stack) = &w.stack {
        let calls = stack.stripe.requests().iter().filter(|r| r.path.starts_with("/v1/payment_methods")).count();
        check!(calls == 0, "{calls} payment-method calls reached Stripe");
    }
    let usage = customer.usage().await??;
    check!(usage["plan"] == "trial" && usage["has_payment_method"] == false, "{usage}");
    Ok(())
}

pub async fn pro_beyond_credits_costs_15_dollars(w: &World) -> anyhow::Result<()> {
    let stripe = w.stripe()?;
    let (_, customer) = w.pro_customer("probeyond").await?;
    customer.use_all_credits().await?;
    let fix = customer.record_fix("beyond Pro credits").await??;
    check!(fix["paid_with"] == "charge" && fix["charged_cents"] == 1500, "{fix}");
    let intent =
        stripe.payment_intent(fix["stripe_payment_intent_id"].as_str().context("no PaymentIntent id")?).await?;
    check!(intent["amount"] == 1500 && intent["status"] == "succeeded", "{intent}");
    Ok(())
}

pub async fn cancelling_pro_now_is_pay_as_you_go_at_once(w: &World) -> anyhow::Result<()> {
    let (signup, customer) = w.pro_customer("cancelnow").await?;
    check!(customer.usage().await??["per_fix_rate_cents"] == 1500, "Pro rate before cancelling");
    let cancelled = customer.cancel_subscription(false).await??;
    check!(cancelled["plan"] == "payg" && cancelled["status"] == "canceled", "{cancelled}");
    let usage = customer.usage().await??;
    check!(usage["plan"] == "payg" && usage["per_fix_rate_cents"] == 2900, "{usage}");

    // Stripe's customer.subscription.deleted comes after the answer. The journey delivers it
    // too, so it has surely arrived (Stripe's copy may come before or after: either way once).
    let deleted = w.wait_for_event(&signup.stripe_customer_id, "customer.subscription.deleted", |_| true).await?;
    let (status, body) = w.deliver(&deleted).await?;
    check!(status.is_success(), "customer.subscription.deleted → {status} {body}");
    let usage = customer.usage().await??;
    check!(usage["plan"] == "payg" && usage["per_fix_rate_cents"] == 2900, "after subscription.deleted: {usage}");
    Ok(())
}

pub async fn declined_card_on_a_payg_fix_changes_nothing(w: &World) -> anyhow::Result<()> {
    let (_, customer) = w.signup("declined", None).await?;
    customer.add_payment_method("pm_card_chargeDeclined", true).await??;
    customer.use_all_credits().await?;
    let before = customer.usage().await??;

    let declined = customer.record_fix("declined").await?.err().context("a declined card was charged")?;

    check!(declined.status == StatusCode::PAYMENT_REQUIRED && declined.code() == "card_declined", "{declined}");
    check!(declined.body["error"]["decline_code"].is_string(), "the reason is given: {declined}");
    let after = customer.usage().await??;
    check!(after["credit_balance"] == before["credit_balance"], "{after}");
    check!(after["transactions"] == before["transactions"], "no ledger entry for a declined charge");
    Ok(())
}
