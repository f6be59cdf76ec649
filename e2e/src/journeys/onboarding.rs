//! Signup, trial credits, the usage summary and its warnings.

use anyhow::Context;
use reqwest::{Method, StatusCode};

use super::world::{EFFECT_DEADLINE, World};
use crate::check;

pub async fn trial_signup_first_fix(w: &World) -> anyhow::Result<()> {
    let (signup, customer) = w.signup("trial", None).await?;
    check!(signup.plan == "trial" && signup.credit_balance == 5, "signup: {signup:?}");
    check!(signup.api_key.starts_with("bk_"), "the API key is shown once at signup");
    let stripe_customer = w.stripe()?.customer(&signup.stripe_customer_id).await.context("no Stripe customer")?;
    check!(stripe_customer["email"] == signup.email.as_str(), "Stripe customer: {stripe_customer}");

    let fix = customer.record_fix("first fix").await??;
    check!(fix["credit_balance"] == 4, "the first fix takes one credit: {fix}");

    let stack = w.stack()?;
    let messages = stack.email.wait_for_messages(1, EFFECT_DEADLINE).await?;
    let welcome = messages.iter().find(|m| m.to == signup.email).context("no e-mail to the customer")?;
    check!(welcome.template == "welcome", "the first e-mail is the welcome: {welcome:?}");
    Ok(())
}

pub async fn trial_out_of_credits_is_refused(w: &World) -> anyhow::Result<()> {
    let (_, customer) = w.signup("broke", None).await?;
    customer.use_all_credits().await?;
    let refused = customer.record_fix("one too many").await?.err().context("the fix was accepted")?;
    check!(refused.status == StatusCode::PAYMENT_REQUIRED, "{refused}");
    check!(refused.body["error"]["message"].as_str().unwrap_or_default().contains("payment-method"), "{refused}");
    check!(customer.usage().await??["credit_balance"] == 0, "the balance stays at 0");
    Ok(())
}

pub async fn marketplace_signup_keeps_its_source(w: &World) -> anyhow::Result<()> {
    let (signup, customer) = w.signup("octocat", Some("gh_marketplace")).await?;
    check!(signup.source == "gh_marketplace", "{signup:?}");
    customer.record_fix("marketplace fix").await??;
    let usage = customer.usage().await??;
    check!(usage["source"] == "gh_marketplace", "usage: {usage}");
    // Stripe's copy keeps it too, wherever the journey can read Stripe.
    if let Some(stripe) = &w.stripe {
        let stripe_customer = stripe.customer(&signup.stripe_customer_id).await.context("no Stripe customer")?;
        check!(stripe_customer["metadata"]["source"] == "gh_marketplace", "Stripe metadata: {stripe_customer}");
    }
    Ok(())
}

pub async fn usage_summary_shows_the_full_history(w: &World) -> anyhow::Result<()> {
    let (signup, customer) = w.signup("history", None).await?;
    for n in 1..=3 {
        customer.record_fix(&format!("fix {n}")).await??;
    }
    let (status, first) = customer.send(Method::GET, "/api/v1/usage?limit=3", None).await?;
    check!(status == StatusCode::OK, "{first}");
    check!(first["customer_id"] == signup.customer_id.as_str() && first["credit_balance"] == 2, "{first}");
    check!(first["per_fix_rate_cents"] == 2900, "{first}");
    let before = first["next_before"].as_i64().context("a second page")?;
    let (_, second) = customer.send(Method::GET, &format!("/api/v1/usage?limit=3&before={before}"), None).await?;
    let entries: Vec<(String, i64)> = [&first, &second]
        .iter()
        .flat_map(|page| page["transactions"].as_array().cloned().unwrap_or_default())
        .map(|t| (t["source"].as_str().unwrap_or_default().to_string(), t["balance_after"].as_i64().unwrap_or(-1)))
        .collect();
    let expected: Vec<(String, i64)> =
        [("fix", 2), ("fix", 3), ("fix", 4), ("trial_signup", 5)].iter().map(|(s, b)| (s.to_string(), *b)).collect();
    check!(entries == expected, "history: {entries:?}");
    check!(second["next_before"].is_null(), "no third page: {second}");
    Ok(())
}

fn warning_codes(usage: &serde_json::Value) -> Vec<String> {
    usage["warnings"]
        .as_array()
        .map(|ws| ws.iter().filter_map(|w| w["code"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

pub async fn low_credit_warning(w: &World) -> anyhow::Result<()> {
    let (_, customer) = w.signup("low", None).await?;
    for _ in 0..2 {
        customer.record_fix("fix").await??;
    }
    let usage = customer.usage().await??;
    check!(warning_codes(&usage).is_empty(), "3 credits is not low: {usage}");
    customer.record_fix("fix").await??;
    let usage = customer.usage().await??;
    check!(warning_codes(&usage) == ["low_credits"], "{usage}");
    Ok(())
}

pub async fn critical_warning(w: &World) -> anyhow::Result<()> {
    let (_, customer) = w.signup("critical", None).await?;
    customer.use_all_credits().await?;
    let usage = customer.usage().await??;
    check!(warning_codes(&usage) == ["critical"], "{usage}");
    Ok(())
}
