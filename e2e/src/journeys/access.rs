//! API keys and credential vending.

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::world::World;
use crate::check;

pub async fn api_key_rotation_and_revocation(w: &World) -> anyhow::Result<()> {
    let (signup, first) = w.signup("rotate", None).await?;
    let (status, created) = first.send(Method::POST, "/api/v1/api-keys", Some(json!({"name": "ci"}))).await?;
    check!(status == StatusCode::CREATED, "{created}");
    let second = w.api.with_key(created["api_key"].as_str().context("no key in the answer")?);
    check!(second.usage().await?.is_ok(), "the new key works");

    let (status, body) = second.send(Method::DELETE, &format!("/api/v1/api-keys/{}", signup.api_key_id), None).await?;
    check!(status == StatusCode::NO_CONTENT, "{body}");

    let refused = first.usage().await?.err().context("the revoked key still works")?;
    check!(refused.status == StatusCode::UNAUTHORIZED, "{refused}");
    check!(second.usage().await?.is_ok(), "the other key still works");
    Ok(())
}

pub async fn an_existing_customer_reads_usage_and_vends_credentials(w: &World) -> anyhow::Result<()> {
    let key = w.existing_api_key.as_deref().context("this journey needs --api-key")?;
    let customer = w.api.with_key(key);
    let usage = customer.usage().await??;
    check!(usage["plan"].is_string() && usage["credit_balance"].is_i64(), "{usage}");
    let (status, vended) = customer
        .send(Method::POST, "/api/v1/credentials/exchange", Some(json!({"providers": ["github"], "ttl_seconds": 60})))
        .await?;
    // A customer who can neither use credits nor pay is refused; anything else must vend.
    check!(status == StatusCode::OK || status == StatusCode::PAYMENT_REQUIRED, "{status}: {vended}");
    Ok(())
}

pub async fn credential_vending_and_its_rate_limit(w: &World) -> anyhow::Result<()> {
    let (_, customer) = w.signup("vending", None).await?;
    let body = json!({"providers": ["github"], "ttl_seconds": 300});
    let (status, vended) = customer.send(Method::POST, "/api/v1/credentials/exchange", Some(body.clone())).await?;
    check!(status == StatusCode::OK, "{vended}");
    let credential = &vended["credentials"][0];
    check!(credential["provider"] == "github" && credential["token"].is_string(), "{vended}");
    check!(credential["expires_at"].is_string(), "{vended}");

    // Bounded: the limit must show within a few hundred requests.
    for _ in 0..500 {
        let response =
            customer.send_with_headers(Method::POST, "/api/v1/credentials/exchange", Some(body.clone()), &[]).await?;
        if response.0 == StatusCode::TOO_MANY_REQUESTS {
            check!(response.1["error"]["code"] == "rate_limited", "{}", response.1);
            return Ok(());
        }
        check!(response.0 == StatusCode::OK, "{}", response.1);
    }
    anyhow::bail!("no 429 after 500 requests: is credential vending rate-limited?")
}
