//! Stripe's own REST API, as a journey reads and drives it: retrieve customers, PaymentIntents,
//! subscriptions and invoices, list them and the account's events, and move test clocks
//! (`/v1/test_helpers/test_clocks/{id}/advance`, then poll until the clock is `ready`).
//!
//! Everything here is something real Stripe offers in test mode, so a journey written against
//! [`StripeApi`] runs unchanged on the local stack (pointed at the stack's fake) and against a
//! deployed service on a Stripe test-mode account (`https://api.stripe.com` and an `sk_test_…`
//! key). What only a fake can do (fault injection, the request log, dropping or duplicating
//! deliveries) is deliberately absent: that stays on `StripeFake`.
//!
//! Only test-mode keys are accepted ([`TestModeKey::parse`]): the journeys sign customers up,
//! attach cards and charge them, which must never touch live money.
//!
//! Stripe answers `429` when a test-mode account gets more requests a second than it allows;
//! a call is then tried again with a growing pause, a few times, before it fails.

use std::time::Duration;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::reconcile::StripeAccess;

/// Stripe's API, for a key that says nothing else.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// How often a call that Stripe rate-limited (429) is tried in all.
const RATE_LIMIT_ATTEMPTS: u32 = 5;
/// The pause before the second try of a rate-limited call; it doubles after.
const FIRST_RATE_LIMIT_PAUSE: Duration = Duration::from_millis(250);
/// The most pages one list call reads (100 objects a page) before it gives up.
const MAX_PAGES: usize = 200;

/// A Stripe secret key of test mode (`sk_test_…`, or a restricted `rk_test_…`): the only kind
/// the journeys take.
#[derive(Clone, PartialEq, Eq)]
pub struct TestModeKey(String);

/// Why a key is not a test-mode secret key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeKeyError {
    #[error(
        "this is a live-mode Stripe key ({prefix}…): the journeys sign customers up, attach cards and charge them, so \
         they never run on live money. Use a test-mode secret key (sk_test_… or rk_test_…) from the Stripe dashboard \
         with \"Test mode\" switched on"
    )]
    Live { prefix: &'static str },
    #[error(
        "this is a publishable Stripe key (pk_…): the journeys read customers and events, which needs a test-mode \
         secret key (sk_test_…) or a restricted one (rk_test_…)"
    )]
    Publishable,
    #[error("this is not a Stripe secret key: a test-mode key starts with sk_test_ (or rk_test_ for a restricted one)")]
    NotAStripeKey,
}

impl TestModeKey {
    pub fn parse(key: &str) -> Result<TestModeKey, StripeKeyError> {
        let key = key.trim();
        for prefix in ["sk_live_", "rk_live_", "pk_live_"] {
            if key.starts_with(prefix) {
                return Err(StripeKeyError::Live { prefix });
            }
        }
        if key.starts_with("pk_") {
            return Err(StripeKeyError::Publishable);
        }
        let test_mode =
            ["sk_test_", "rk_test_"].iter().any(|prefix| key.len() > prefix.len() && key.starts_with(prefix));
        if test_mode { Ok(TestModeKey(key.to_string())) } else { Err(StripeKeyError::NotAStripeKey) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TestModeKey {
    // A test-mode key is still a credential: logs and panics show its kind only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestModeKey({}…)", &self.0[..8])
    }
}

/// A client of Stripe's API (the real one in test mode, or a fake that serves the same).
#[derive(Clone)]
pub struct StripeApi {
    api_base: String,
    key: TestModeKey,
    http: reqwest::Client,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeApi").field("api_base", &self.api_base).field("key", &self.key).finish()
    }
}

impl StripeApi {
    pub fn new(api_base: &str, key: TestModeKey, http: reqwest::Client) -> StripeApi {
        StripeApi { api_base: api_base.trim_end_matches('/').to_string(), key, http }
    }

    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// Where this Stripe is, for the reconciliation check.
    pub fn access(&self) -> StripeAccess {
        StripeAccess { api_base: self.api_base.clone(), secret_key: self.key.as_str().to_string() }
    }

    /// `GET {path}` with a query.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        self.call(Method::GET, path, query, &[]).await
    }

    /// `POST {path}` with a form body, as Stripe takes it.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        self.call(Method::POST, path, &[], form).await
    }

    /// `DELETE {path}` (e.g. cancelling a subscription now, as the Dashboard does).
    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::DELETE, path, &[], &[]).await
    }

    pub async fn customer(&self, id: &str) -> anyhow::Result<Value> {
        self.get(&format!("/v1/customers/{id}"), &[]).await
    }

    pub async fn payment_intent(&self, id: &str) -> anyhow::Result<Value> {
        self.get(&format!("/v1/payment_intents/{id}"), &[]).await
    }

    pub async fn subscription(&self, id: &str) -> anyhow::Result<Value> {
        self.get(&format!("/v1/subscriptions/{id}"), &[]).await
    }

    pub async fn test_clock(&self, id: &str) -> anyhow::Result<Value> {
        self.get(&format!("/v1/test_helpers/test_clocks/{id}"), &[]).await
    }

    /// Every object of a list (`/v1/invoices`, `/v1/payment_intents`…), newest first, page by page.
    pub async fn list(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Vec<Value>> {
        self.list_until(path, query, |_| false).await
    }

    /// The id of the account's newest event, if it has any: the events a journey causes are the
    /// ones after it ([`StripeApi::events_after`]).
    pub async fn newest_event_id(&self) -> anyhow::Result<Option<String>> {
        let page = self.get("/v1/events", &[("limit", "1")]).await?;
        Ok(page["data"][0]["id"].as_str().map(str::to_string))
    }

    /// The account's events newer than `marker` (all when `None`), oldest first. Stripe lists
    /// events newest first and cannot filter them by customer, so this reads back to the marker
    /// and the caller picks its own.
    pub async fn events_after(&self, marker: Option<&str>) -> anyhow::Result<Vec<Value>> {
        let mut events = self.list_until("/v1/events", &[], |event| marker.is_some_and(|m| event["id"] == m)).await?;
        events.reverse();
        Ok(events)
    }

    /// Moves a test clock `by` forward from its frozen time and waits (up to `deadline`) until
    /// Stripe has done everything that time caused: the clock is `ready` again. Returns the clock.
    pub async fn advance_test_clock(&self, id: &str, by: Duration, deadline: Duration) -> anyhow::Result<Value> {
        // Another advance may still be running (a clock shared by a deployment): Stripe refuses a
        // second one until it is done.
        let clock = self.ready_test_clock(id, deadline).await?;
        let frozen = clock["frozen_time"].as_i64().with_context(|| format!("test clock {id} has no frozen_time"))?;
        let to = (frozen + by.as_secs() as i64).to_string();
        self.post(&format!("/v1/test_helpers/test_clocks/{id}/advance"), &[("frozen_time", &to)]).await?;
        let ready = self.ready_test_clock(id, deadline).await?;
        anyhow::ensure!(
            ready["frozen_time"].as_i64() >= Some(frozen + by.as_secs() as i64),
            "test clock {id} is ready but did not move to {to}: {ready}"
        );
        Ok(ready)
    }

    /// The clock once its status is `ready`.
    async fn ready_test_clock(&self, id: &str, deadline: Duration) -> anyhow::Result<Value> {
        crate::wait::wait_until(&format!("Stripe test clock {id} to be ready"), deadline, || async {
            let clock = self.test_clock(id).await?;
            match clock["status"].as_str() {
                Some("ready") => Ok(Some(clock)),
                Some("advancing") => Ok(None),
                _ => anyhow::bail!("Stripe test clock {id} cannot be advanced: {clock}"),
            }
        })
        .await
    }

    /// Pages through a list, newest first, up to and without the first object `stop` is true of.
    async fn list_until(
        &self,
        path: &str,
        query: &[(&str, &str)],
        stop: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Vec<Value>> {
        let mut found = Vec::new();
        let mut starting_after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut page_query: Vec<(&str, &str)> = query.to_vec();
            page_query.push(("limit", "100"));
            if let Some(after) = &starting_after {
                page_query.push(("starting_after", after));
            }
            let page = self.get(path, &page_query).await?;
            let data = page["data"].as_array().with_context(|| format!("GET {path} is not a list: {page}"))?;
            for object in data {
                if stop(object) {
                    return Ok(found);
                }
                found.push(object.clone());
            }
            starting_after = data.last().and_then(|object| object["id"].as_str()).map(str::to_string);
            if page["has_more"] != true || starting_after.is_none() {
                return Ok(found);
            }
        }
        anyhow::bail!("GET {path} has more than {MAX_PAGES} pages of 100: narrow it down")
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.api_base);
        let mut pause = FIRST_RATE_LIMIT_PAUSE;
        for attempt in 1..=RATE_LIMIT_ATTEMPTS {
            let mut request = self.http.request(method.clone(), &url).bearer_auth(self.key.as_str()).query(query);
            if method == Method::POST {
                request = request.form(form);
            }
            let response = request.send().await.with_context(|| format!("cannot reach Stripe at {url}"))?;
            let status = response.status();
            let text = response.text().await?;
            if status == StatusCode::TOO_MANY_REQUESTS && attempt < RATE_LIMIT_ATTEMPTS {
                tokio::time::sleep(pause).await;
                pause *= 2;
                continue;
            }
            let body: Value = serde_json::from_str(&text).with_context(|| {
                format!("Stripe answered {status} to {method} {path} with something not JSON: {text}")
            })?;
            if status.is_success() {
                return Ok(body);
            }
            let message = body["error"]["message"].as_str().unwrap_or(&text);
            anyhow::bail!("Stripe answered {status} to {method} {path}: {message}");
        }
        unreachable!("the last attempt returns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_mode_secret_and_restricted_keys_are_taken() {
        assert_eq!(TestModeKey::parse("sk_test_51Habc").unwrap().as_str(), "sk_test_51Habc");
        assert_eq!(TestModeKey::parse(" rk_test_51Habc\n").unwrap().as_str(), "rk_test_51Habc");
    }

    #[test]
    fn live_keys_are_refused_saying_to_use_a_test_mode_key() {
        for key in ["sk_live_51Habc", "rk_live_51Habc", "pk_live_51Habc"] {
            let refused = TestModeKey::parse(key).unwrap_err();
            assert!(matches!(refused, StripeKeyError::Live { .. }), "{key}: {refused:?}");
            let message = refused.to_string();
            assert!(message.contains("live-mode") && message.contains("sk_test_"), "{message}");
        }
    }

    #[test]
    fn publishable_and_unknown_keys_are_refused() {
        assert_eq!(TestModeKey::parse("pk_test_51Habc"), Err(StripeKeyError::Publishable));
        for key in ["", "sk_test_", "whsec_abc", "bk_live_abc", "sk_51Habc"] {
            assert_eq!(TestModeKey::parse(key), Err(StripeKeyError::NotAStripeKey), "{key:?}");
        }
    }

    #[test]
    fn a_key_never_shows_in_full_when_debugged() {
        let key = TestModeKey::parse("sk_test_secretsecret").unwrap();
        assert_eq!(format!("{key:?}"), "TestModeKey(sk_test_…)");
    }
}
