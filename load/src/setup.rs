//! Fixtures a run needs before the first timed request: API keys for credential vending and
//! Pro customers (with a live Stripe subscription) for webhooks.
//!
//! On the embedded stack they are made fresh for each run through the service's own API. For a
//! remote target they come from the file `scripts/create-load-test-keys` writes (`load keys`),
//! made once through the same API; secrets in it never go to the command line.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use billing_stack::{ApiClient, StripeApi, TestModeKey};

use crate::context::RunIdentity;
use crate::error::LoadError;

/// A Pro customer the events are about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProCustomer {
    pub stripe_customer_id: String,
    pub subscription_id: String,
    /// The customer's API key, to read its ledger back after the run.
    pub api_key: String,
    /// The subscription's paid invoices in Stripe (empty when the fixtures had no Stripe access).
    #[serde(default)]
    pub paid_invoices: Vec<String>,
}

/// This worker's share of a list: every `workers`-th item from `worker_index`.
pub fn shard<T: Clone>(items: &[T], worker_index: usize, workers: usize) -> Vec<T> {
    items.iter().skip(worker_index).step_by(workers).cloned().collect()
}

/// How long set-up waits in all for a signup the service rate-limits (it says when to retry).
const RATE_LIMITED_SET_UP: Duration = Duration::from_secs(300);

/// The keys file: API keys for vending and Pro customers for webhooks.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeysFile {
    /// The target the keys were made on (a run against another target is refused).
    pub target: String,
    pub created_at: String,
    pub api_keys: Vec<String>,
    #[serde(default)]
    pub pro_customers: Vec<ProCustomer>,
}

impl KeysFile {
    pub fn read(path: &Path) -> Result<KeysFile, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            LoadError::Usage(format!(
                "cannot read the API keys file {} ({err}): make one with scripts/create-load-test-keys --target URL",
                path.display()
            ))
        })?;
        serde_json::from_str(&text).map_err(|err| {
            LoadError::Usage(format!(
                "{} is not an API keys file ({err}): make one with scripts/create-load-test-keys --target URL",
                path.display()
            ))
        })
    }

    pub fn write(&self, path: &Path) -> Result<(), LoadError> {
        let text = serde_json::to_string_pretty(self).expect("the keys file serializes");
        write_private(path, &text).map_err(|err| LoadError::Usage(format!("cannot write {}: {err}", path.display())))
    }
}

/// Writes a file only its owner can read: it holds API keys.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

/// Signs up one customer, waiting out the service's signup limit as its `Retry-After` says
/// ([`ApiClient::signup_waiting_out_the_limit`]), for up to [`RATE_LIMITED_SET_UP`] in all.
async fn sign_up(api: &ApiClient, email: &str) -> anyhow::Result<billing_stack::Signup> {
    api.signup_waiting_out_the_limit(email, "Load Fixture", Some("load_test"), RATE_LIMITED_SET_UP)
        .await?
        .map_err(|failure| anyhow::anyhow!("signing up a load-test customer failed: {failure}"))
}

/// `count` customers' API keys, for credential vending.
pub async fn api_keys(api: &ApiClient, run: &RunIdentity, count: usize) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::with_capacity(count);
    for index in 0..count {
        let email = format!("{}@example.com", run.unique("keys", index, 0));
        keys.push(sign_up(api, &email).await?.api_key);
    }
    Ok(keys)
}

/// `count` Pro customers: signed up, a card on file with consent, subscribed to Pro; with their
/// paid invoices as Stripe lists them, when `stripe` is given (the webhook scenario's
/// `invoice.paid` events name those: the service checks each with Stripe before granting).
pub async fn pro_customers(
    api: &ApiClient,
    run: &RunIdentity,
    count: usize,
    stripe: Option<&StripeApi>,
) -> anyhow::Result<Vec<ProCustomer>> {
    let mut customers = Vec::with_capacity(count);
    for index in 0..count {
        let email = format!("{}@example.com", run.unique("pro", index, 0));
        let signup = sign_up(api, &email).await?;
        let subscription_id = api
            .with_key(&signup.api_key)
            .subscribe_to_pro_with_a_card()
            .await
            .context("making a load-test customer Pro")?;
        let paid_invoices = match stripe {
            Some(stripe) => paid_invoices(stripe, &subscription_id).await?,
            None => Vec::new(),
        };
        customers.push(ProCustomer {
            stripe_customer_id: signup.stripe_customer_id,
            subscription_id,
            api_key: signup.api_key,
            paid_invoices,
        });
    }
    Ok(customers)
}

/// A subscription's paid invoices, as Stripe lists them (its first is paid when it is made).
async fn paid_invoices(stripe: &StripeApi, subscription: &str) -> anyhow::Result<Vec<String>> {
    let invoices = stripe.list("/v1/invoices", &[("subscription", subscription), ("status", "paid")]).await?;
    let ids: Vec<String> = invoices.iter().filter_map(|invoice| invoice["id"].as_str().map(str::to_string)).collect();
    anyhow::ensure!(!ids.is_empty(), "Stripe lists no paid invoice of the new Pro subscription {subscription}");
    Ok(ids)
}

/// Stripe's API in test mode from `STRIPE_SECRET_KEY` (and `STRIPE_API_BASE`, by default
/// Stripe's), for reading the Pro customers' invoices; `None` when no key is set.
pub fn stripe_from_env() -> Result<Option<StripeApi>, LoadError> {
    let Some(key) = std::env::var("STRIPE_SECRET_KEY").ok().filter(|key| !key.is_empty()) else { return Ok(None) };
    let key = TestModeKey::parse(&key).map_err(|err| LoadError::Usage(format!("STRIPE_SECRET_KEY: {err}")))?;
    let base = std::env::var("STRIPE_API_BASE")
        .ok()
        .filter(|base| !base.is_empty())
        .unwrap_or_else(|| billing_stack::stripe_api::DEFAULT_API_BASE.to_string());
    Ok(Some(StripeApi::new(&base, key, billing_service::tls::client())))
}
