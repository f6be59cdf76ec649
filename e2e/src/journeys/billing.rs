//! Payment methods, consent, and fixes charged beyond the credits.

use anyhow::Context;
use reqwest::StatusCode;

use super::World;
use crate::check;

pub async fn payg_after_payment_method(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let (_, customer) = w.signup("payg", None).await?;
    let added = customer.add_payment_method("pm_card_visa", true).await??;
    check!(added["plan"] == "payg", "{added}");
    customer.use_all_credits().await?;

    for n in 1..=2 {
        let fix = customer.record_fix(&format!("charged fix {n}")).await??;
        check!(fix["paid_with"] == "charge" && fix["charged_cents"] == 2900, "{fix}");
        let intent_id = fix["stripe_payment_intent_id"].as_str().context("no PaymentIntent id")?;
        let intent = stack.stripe.object(intent_id).context("the PaymentIntent is not in Stripe")?;
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
    let stack = w.stack()?;
    let (_, customer) = w.signup("noconsent", None).await?;
    let refused =
        customer.add_payment_method("pm_card_visa", false).await?.err().context("accepted without consent")?;
    check!(refused.status == StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    check!(refused.body["error"]["fields"]["billing_consent"].is_string(), "{refused}");
    let stripe_calls = stack.stripe.requests().iter().filter(|r| r.path.starts_with("/v1/payment_methods")).count();
    check!(stripe_calls == 0, "{stripe_calls} payment-method calls reached Stripe");
    let usage = customer.usage().await??;
    check!(usage["plan"] == "trial" && usage["has_payment_method"] == false, "{usage}");
    Ok(())
}

pub async fn pro_beyond_credits_costs_15_dollars(w: &World) -> anyhow::Result<()> {
    let stack = w.stack()?;
    let customer = w.pro_customer("probeyond").await?;
    customer.use_all_credits().await?;
    let fix = customer.record_fix("beyond Pro credits").await??;
    check!(fix["paid_with"] == "charge" && fix["charged_cents"] == 1500, "{fix}");
    let intent =
        stack.stripe.object(fix["stripe_payment_intent_id"].as_str().unwrap_or_default()).context("no intent")?;
    check!(intent["amount"] == 1500, "{intent}");
    Ok(())
}

pub async fn cancelling_pro_now_is_pay_as_you_go_at_once(w: &World) -> anyhow::Result<()> {
    let customer = w.pro_customer("cancelnow").await?;
    check!(customer.usage().await??["per_fix_rate_cents"] == 1500, "Pro rate before cancelling");
    let cancelled = customer.cancel_subscription(false).await??;
    check!(cancelled["plan"] == "payg" && cancelled["status"] == "canceled", "{cancelled}");
    let usage = customer.usage().await??;
    check!(usage["plan"] == "payg" && usage["per_fix_rate_cents"] == 2900, "{usage}");
    w.stack()?.wait_for_webhooks().await?;
    check!(customer.usage().await??["plan"] == "payg", "the later subscription.deleted event changes nothing");
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
