//! Configuration: one typed struct, read once at start-up.
//!
//! Every setting is an environment variable with a documented default, and also a flag of the
//! `billing-service` binary (`billing-service --help` lists them all). Tests build a `Config`
//! directly with [`Config::for_tests`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "billing-service", version, about = "Reference usage-billing service on PostgreSQL and Stripe")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// PostgreSQL connection URL. Migrations are applied at start-up.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,

    /// Most connections in the database pool.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,

    /// How long a request waits for a database connection before it is answered 503, in
    /// milliseconds.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub db_acquire_timeout_ms: u64,

    /// Base URL of the Stripe API (point it at the Stripe fake in tests).
    #[arg(long, env = "STRIPE_API_BASE", default_value = "https://api.stripe.com")]
    pub stripe_api_base: String,

    /// Stripe secret key (`sk_test_…` or `sk_live_…`). Never logged.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: String,

    /// Timeout of one Stripe API call, in milliseconds.
    #[arg(long, env = "STRIPE_TIMEOUT_MS", default_value_t = 10_000)]
    pub stripe_timeout_ms: u64,

    /// Signing secrets of the Stripe webhook endpoint (`whsec_…`), comma-separated; several
    /// while a secret is being rotated. Never logged.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRETS", value_delimiter = ',', hide_env_values = true)]
    pub stripe_webhook_secrets: Vec<String>,

    /// How far a webhook signature's timestamp may be from now, in seconds.
    #[arg(long, env = "STRIPE_WEBHOOK_TOLERANCE_SECS", default_value_t = 300)]
    pub webhook_tolerance_secs: i64,

    /// The Stripe price of Pro; when unset it is found by lookup key `pro_monthly`, or created.
    #[arg(long, env = "STRIPE_PRO_PRICE_ID")]
    pub stripe_pro_price_id: Option<String>,

    /// Test mode only: create every Stripe customer on this Stripe test clock (`clock_…`), so
    /// a test harness can move their billing time. Refused with a live key.
    #[arg(long, env = "STRIPE_TEST_CLOCK")]
    pub stripe_test_clock: Option<String>,

    /// Largest request body accepted, in bytes (larger → 413).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// A balance at or below this many credits raises the `low_credits` warning.
    #[arg(long, env = "LOW_CREDIT_THRESHOLD", default_value_t = 2)]
    pub low_credit_threshold: i32,

    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// Providers credentials can be vended for, comma-separated.
    #[arg(long, env = "CREDENTIAL_PROVIDERS", value_delimiter = ',', default_value = "github,gitlab,npm,pypi")]
    pub credential_providers: Vec<String>,

    /// Shortest lifetime of a vended credential, in seconds.
    #[arg(long, env = "CREDENTIAL_MIN_TTL_SECS", default_value_t = 60)]
    pub credential_min_ttl_secs: u64,

    /// Longest lifetime of a vended credential, in seconds. It is also how long credentials
    /// vended before their API key was revoked can still be used: a provider verifies one with
    /// the signing key alone and never asks the service.
    #[arg(long, env = "CREDENTIAL_MAX_TTL_SECS", default_value_t = 900)]
    pub credential_max_ttl_secs: u64,

    /// Key that signs vended credentials (HMAC-SHA256), at least 32 bytes; every instance needs
    /// the same one. When unset, each process makes a random key (and warns): its credentials
    /// verify nowhere else. Never logged.
    #[arg(long, env = "CREDENTIAL_SIGNING_KEY", hide_env_values = true)]
    pub credential_signing_key: Option<String>,

    /// Credential exchanges allowed per API key per minute, on average (per instance).
    #[arg(long, env = "CREDENTIAL_RATE_PER_MINUTE", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub credential_rate_per_minute: u32,

    /// Credential exchanges an API key may make at once before the rate applies.
    #[arg(long, env = "CREDENTIAL_BURST", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub credential_burst: u32,

    /// How long an authenticated API key is remembered in memory, in milliseconds (0 to 1000;
    /// 0 = always ask the database). Revocation is immediate on the instance that revokes and
    /// takes at most this long on the others.
    #[arg(long, env = "API_KEY_CACHE_TTL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub api_key_cache_ttl_ms: u64,
    /// Base URL of the e-mail API that sends the outbox's messages (`POST {base}/v1/messages`).
    /// When unset the outbox dispatcher is off: messages stay queued, and the log says so once.
    #[arg(long, env = "EMAIL_API_BASE")]
    pub email_api_base: Option<String>,

    /// Bearer token of the e-mail API. Never logged.
    #[arg(long, env = "EMAIL_API_KEY", hide_env_values = true)]
    pub email_api_key: Option<String>,

    /// Sender of the outbox's e-mails.
    #[arg(long, env = "EMAIL_FROM", default_value = "Billing <billing@example.com>")]
    pub email_from: String,

    /// Timeout of one e-mail API call, in milliseconds.
    #[arg(long, env = "EMAIL_TIMEOUT_MS", default_value_t = 10_000)]
    pub email_timeout_ms: u64,

    /// How often the outbox dispatcher looks for due e-mails, in milliseconds (a signup also
    /// wakes it at once).
    #[arg(long, env = "OUTBOX_POLL_MS", default_value_t = 1_000)]
    pub outbox_poll_ms: u64,

    /// Most e-mails one dispatcher claims (and sends) per round.
    #[arg(long, env = "OUTBOX_BATCH", default_value_t = 20)]
    pub outbox_batch: u32,

    /// Attempts at sending one e-mail before it is marked failed and never tried again.
    #[arg(long, env = "OUTBOX_MAX_ATTEMPTS", default_value_t = 8)]
    pub outbox_max_attempts: u32,

    /// Wait after the first failed attempt, in milliseconds; it doubles after each further
    /// failure, up to an hour (30 s, 1 min, 2 min, … with the default).
    #[arg(long, env = "OUTBOX_RETRY_BASE_MS", default_value_t = 30_000)]
    pub outbox_retry_base_ms: u64,

    /// Most Stripe calls in flight at once (per instance). A request that cannot get a slot
    /// within `STRIPE_QUEUE_TIMEOUT_MS` is refused with 503 before anything is sent to Stripe,
    /// so a slow Stripe cannot pile up unbounded work.
    #[arg(long, env = "STRIPE_MAX_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub stripe_max_concurrency: u32,

    /// How long a request waits for a Stripe slot before it is refused with 503, in milliseconds.
    #[arg(long, env = "STRIPE_QUEUE_TIMEOUT_MS", default_value_t = 2_000)]
    pub stripe_queue_timeout_ms: u64,

    /// How often the reconciler looks for charges left pending (a crash, a timeout), in
    /// milliseconds; 0 turns it off (then only webhooks and keyed retries settle them).
    #[arg(long, env = "RECONCILE_INTERVAL_MS", default_value_t = 5_000)]
    pub reconcile_interval_ms: u64,

    /// A pending charge is reconciled once it is this old, in milliseconds. Keep it above
    /// `STRIPE_TIMEOUT_MS`, so a charge whose request is still in flight is left to it.
    #[arg(long, env = "RECONCILE_AFTER_MS", default_value_t = 15_000)]
    pub reconcile_after_ms: u64,

    /// Longest a whole request may take, in milliseconds; beyond it the client gets a 503 that
    /// says the outcome may still complete (retry with the same `Idempotency-Key`).
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Longest a client may take to send a request's headers (and, on a kept-alive connection,
    /// to start its next request), in milliseconds; then the connection is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// Longest a client may take to send a request's body once its headers arrived, in
    /// milliseconds (408 beyond it).
    #[arg(long, env = "BODY_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_ms: u64,

    /// Signups allowed per client IP per minute (a burst of as many, then the rate); 0 turns
    /// the limit off (load tests). IPv6 clients are counted per /64.
    #[arg(long, env = "SIGNUP_RATE_PER_MINUTE", default_value_t = 10)]
    pub signup_rate_per_minute: u32,

    /// Proxies (IPs or CIDRs, comma-separated) whose `X-Forwarded-For` names the client; from
    /// anyone else the header is ignored and the peer address is the client.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Credential exchanges allowed per customer per minute, on average, over all their keys
    /// (per instance): more keys do not buy more rate.
    #[arg(long, env = "CREDENTIAL_CUSTOMER_RATE_PER_MINUTE", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    pub credential_customer_rate_per_minute: u32,

    /// Credential exchanges a customer may make at once, over all their keys.
    #[arg(long, env = "CREDENTIAL_CUSTOMER_BURST", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub credential_customer_burst: u32,

    /// API keys a customer may create per hour, on average (per instance).
    #[arg(long, env = "API_KEY_CREATE_RATE_PER_HOUR", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_key_create_rate_per_hour: u32,

    /// API keys a customer may create at once before the hourly rate applies.
    #[arg(long, env = "API_KEY_CREATE_BURST", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_key_create_burst: u32,

    /// How long the answer of a signup made with an `Idempotency-Key` is kept (sealed with a key
    /// only that `Idempotency-Key` opens), so a retry with the same key gets it again, in hours.
    #[arg(long, env = "SIGNUP_REPLAY_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=168))]
    pub signup_replay_hours: u32,
}

impl Config {
    /// Reads the configuration from the environment (and the process's flags).
    pub fn from_env() -> Config {
        Config::parse()
    }

    /// A configuration for tests: the given database and Stripe, everything else default.
    pub fn for_tests(database_url: &str, stripe_api_base: &str) -> Config {
        Config {
            bind_addr: "127.0.0.1:0".parse().expect("a literal address"),
            database_url: database_url.to_string(),
            db_max_connections: 10,
            db_acquire_timeout_ms: 5_000,
            stripe_api_base: stripe_api_base.to_string(),
            stripe_secret_key: "sk_test_billing_service".to_string(),
            stripe_timeout_ms: 5_000,
            stripe_webhook_secrets: Vec::new(),
            webhook_tolerance_secs: 300,
            stripe_pro_price_id: None,
            stripe_test_clock: None,
            max_body_bytes: 64 * 1024,
            low_credit_threshold: 2,
            log_format: "text".to_string(),
            credential_providers: ["github", "gitlab", "npm", "pypi"].map(String::from).to_vec(),
            credential_min_ttl_secs: 60,
            credential_max_ttl_secs: 900,
            credential_signing_key: Some("test-only credential signing key, 32+ bytes long".to_string()),
            credential_rate_per_minute: 60,
            credential_burst: 10,
            api_key_cache_ttl_ms: 1000,
            email_api_base: None,
            email_api_key: Some("email_test_key".to_string()),
            email_from: "Billing <billing@example.com>".to_string(),
            email_timeout_ms: 5_000,
            outbox_poll_ms: 1_000,
            outbox_batch: 20,
            outbox_max_attempts: 8,
            outbox_retry_base_ms: 30_000,
            stripe_max_concurrency: 64,
            stripe_queue_timeout_ms: 2_000,
            reconcile_interval_ms: 5_000,
            reconcile_after_ms: 15_000,
            request_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            // Tests sign many customers up from 127.0.0.1 and make many keys: the abuse limits
            // are off (high) unless a test of them turns them on.
            signup_rate_per_minute: 0,
            trusted_proxies: Vec::new(),
            credential_customer_rate_per_minute: 120,
            credential_customer_burst: 20,
            api_key_create_rate_per_hour: 1_000_000,
            api_key_create_burst: 1_000,
            signup_replay_hours: 24,
        }
    }

    /// Every setting as the environment variable that sets it, so the same configuration can
    /// start the `billing-service` binary as a child process (the test stack's process mode).
    /// Unset optional settings are left out; lists are comma-separated.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let list = |items: &[String]| items.join(",");
        let mut env = vec![
            ("BIND_ADDR", self.bind_addr.to_string()),
            ("DATABASE_URL", self.database_url.clone()),
            ("DB_MAX_CONNECTIONS", self.db_max_connections.to_string()),
            ("DB_ACQUIRE_TIMEOUT_MS", self.db_acquire_timeout_ms.to_string()),
            ("STRIPE_API_BASE", self.stripe_api_base.clone()),
            ("STRIPE_SECRET_KEY", self.stripe_secret_key.clone()),
            ("STRIPE_TIMEOUT_MS", self.stripe_timeout_ms.to_string()),
            ("STRIPE_WEBHOOK_SECRETS", list(&self.stripe_webhook_secrets)),
            ("STRIPE_WEBHOOK_TOLERANCE_SECS", self.webhook_tolerance_secs.to_string()),
            ("MAX_BODY_BYTES", self.max_body_bytes.to_string()),
            ("LOW_CREDIT_THRESHOLD", self.low_credit_threshold.to_string()),
            ("LOG_FORMAT", self.log_format.clone()),
            ("CREDENTIAL_PROVIDERS", list(&self.credential_providers)),
            ("CREDENTIAL_MIN_TTL_SECS", self.credential_min_ttl_secs.to_string()),
            ("CREDENTIAL_MAX_TTL_SECS", self.credential_max_ttl_secs.to_string()),
            ("CREDENTIAL_RATE_PER_MINUTE", self.credential_rate_per_minute.to_string()),
            ("CREDENTIAL_BURST", self.credential_burst.to_string()),
            ("API_KEY_CACHE_TTL_MS", self.api_key_cache_ttl_ms.to_string()),
            ("EMAIL_FROM", self.email_from.clone()),
            ("EMAIL_TIMEOUT_MS", self.email_timeout_ms.to_string()),
            ("OUTBOX_POLL_MS", self.outbox_poll_ms.to_string()),
            ("OUTBOX_BATCH", self.outbox_batch.to_string()),
            ("OUTBOX_MAX_ATTEMPTS", self.outbox_max_attempts.to_string()),
            ("OUTBOX_RETRY_BASE_MS", self.outbox_retry_base_ms.to_string()),
            ("STRIPE_MAX_CONCURRENCY", self.stripe_max_concurrency.to_string()),
            ("STRIPE_QUEUE_TIMEOUT_MS", self.stripe_queue_timeout_ms.to_string()),
            ("RECONCILE_INTERVAL_MS", self.reconcile_interval_ms.to_string()),
            ("RECONCILE_AFTER_MS", self.reconcile_after_ms.to_string()),
            ("REQUEST_TIMEOUT_MS", self.request_timeout_ms.to_string()),
            ("HEADER_READ_TIMEOUT_MS", self.header_read_timeout_ms.to_string()),
            ("BODY_READ_TIMEOUT_MS", self.body_read_timeout_ms.to_string()),
            ("SIGNUP_RATE_PER_MINUTE", self.signup_rate_per_minute.to_string()),
            ("TRUSTED_PROXIES", list(&self.trusted_proxies)),
            ("CREDENTIAL_CUSTOMER_RATE_PER_MINUTE", self.credential_customer_rate_per_minute.to_string()),
            ("CREDENTIAL_CUSTOMER_BURST", self.credential_customer_burst.to_string()),
            ("API_KEY_CREATE_RATE_PER_HOUR", self.api_key_create_rate_per_hour.to_string()),
            ("API_KEY_CREATE_BURST", self.api_key_create_burst.to_string()),
            ("SIGNUP_REPLAY_HOURS", self.signup_replay_hours.to_string()),
        ];
        let optional = [
            ("STRIPE_PRO_PRICE_ID", &self.stripe_pro_price_id),
            ("STRIPE_TEST_CLOCK", &self.stripe_test_clock),
            ("CREDENTIAL_SIGNING_KEY", &self.credential_signing_key),
            ("EMAIL_API_BASE", &self.email_api_base),
            ("EMAIL_API_KEY", &self.email_api_key),
        ];
        env.extend(optional.into_iter().filter_map(|(name, value)| Some((name, value.clone()?))));
        env
    }

    pub fn stripe_timeout(&self) -> Duration {
        Duration::from_millis(self.stripe_timeout_ms)
    }

    pub fn api_key_cache_ttl(&self) -> Duration {
        Duration::from_millis(self.api_key_cache_ttl_ms)
    }

    pub fn email_timeout(&self) -> Duration {
        Duration::from_millis(self.email_timeout_ms)
    }

    pub fn reconcile_after(&self) -> Duration {
        Duration::from_millis(self.reconcile_after_ms)
    }

    /// How long a keyed signup's answer is kept for its retries.
    pub fn signup_replay_retention(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.signup_replay_hours))
    }

    pub fn outbox_poll_interval(&self) -> Duration {
        Duration::from_millis(self.outbox_poll_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// The flags that set the same values as [`Config::to_env`]'s variables.
    fn as_flags(config: &Config) -> Vec<String> {
        let command = Config::command();
        let mut flags = vec!["billing-service".to_string()];
        for (name, value) in config.to_env() {
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_env().is_some_and(|env| env == name))
                .unwrap_or_else(|| panic!("no flag reads {name}"));
            flags.push(format!("--{}={value}", arg.get_long().unwrap_or_default()));
        }
        flags
    }

    #[test]
    fn every_setting_has_its_variable_in_to_env() {
        let mut config = Config::for_tests("postgres://x", "http://y");
        config.stripe_pro_price_id = Some("price_1".into());
        config.stripe_test_clock = Some("clock_1".into());
        config.email_api_base = Some("http://127.0.0.1:7".into());
        let exported: Vec<&str> = config.to_env().iter().map(|(name, _)| *name).collect();
        let missing: Vec<String> = Config::command()
            .get_arguments()
            .filter_map(|arg| arg.get_env().map(|env| env.to_string_lossy().to_string()))
            .filter(|env| !exported.contains(&env.as_str()))
            .collect();
        assert!(missing.is_empty(), "Config::to_env does not export {missing:?}");
    }

    #[test]
    fn a_configuration_survives_the_trip_through_its_variables() {
        let mut config = Config::for_tests("postgres://u:p@127.0.0.1:5/db", "http://127.0.0.1:9");
        config.stripe_webhook_secrets = vec!["whsec_a".into(), "whsec_b".into()];
        config.stripe_test_clock = Some("clock_1".into());
        config.email_api_base = Some("http://127.0.0.1:7".into());
        config.trusted_proxies = vec!["10.0.0.0/8".into(), "127.0.0.1".into()];
        config.signup_rate_per_minute = 0;
        let parsed = Config::try_parse_from(as_flags(&config)).unwrap();
        assert_eq!(format!("{parsed:?}"), format!("{config:?}"));
    }
}
