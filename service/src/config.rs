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

    /// Longest lifetime of a vended credential, in seconds.
    #[arg(long, env = "CREDENTIAL_MAX_TTL_SECS", default_value_t = 3600)]
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
            credential_max_ttl_secs: 3600,
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
        }
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

    pub fn outbox_poll_interval(&self) -> Duration {
        Duration::from_millis(self.outbox_poll_ms.max(1))
    }
}
