//! Configuration: one typed struct, read once at start-up, made of one group per concern.
//!
//! Every setting is an environment variable with a documented default, and also a flag of the
//! `billing-service` binary. The settings are grouped by what the code uses together — the HTTP
//! server, the database, Stripe, webhooks, credentials, API keys, signups, e-mail, the outbox,
//! the reconciler, the orphan sweep, usage and logging — each group a `clap::Args` struct flattened into [`Config`]
//! under its own heading, so `billing-service --help` lists them group by group. A module that
//! needs one group is handed that group (`CredentialVending::from_config(&config.credentials)`).
//!
//! A field is named for what it is within its group (`config.stripe.timeout_ms`); its `long`
//! flag and `env` variable keep the full name (`--stripe-timeout-ms`, `STRIPE_TIMEOUT_MS`), and
//! its clap `id` keeps the flat name, because ids must be unique over all groups. To add a
//! setting: a field in its group, its line in [`Config::to_env`] and in `for_tests`, and its row
//! in the service README's table. Tests build a `Config` directly with [`Config::for_tests`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser};

#[derive(Debug, Clone, Parser)]
#[command(name = "billing-service", version, about = "Reference usage-billing service on PostgreSQL and Stripe")]
pub struct Config {
    #[command(flatten)]
    pub server: ServerConfig,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub stripe: StripeConfig,
    #[command(flatten)]
    pub webhooks: WebhookConfig,
    #[command(flatten)]
    pub credentials: CredentialConfig,
    #[command(flatten)]
    pub api_keys: ApiKeyConfig,
    #[command(flatten)]
    pub signup: SignupConfig,
    #[command(flatten)]
    pub email: EmailConfig,
    #[command(flatten)]
    pub outbox: OutboxConfig,
    #[command(flatten)]
    pub reconciler: ReconcilerConfig,
    #[command(flatten)]
    pub orphan_sweep: OrphanSweepConfig,
    #[command(flatten)]
    pub usage: UsageConfig,
    #[command(flatten)]
    pub log: LogConfig,
}

/// The HTTP server: where it listens, and the limits and timeouts of a request.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// Largest request body accepted, in bytes (larger → 413).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

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
}

impl ServerConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }
}

/// The PostgreSQL database and its connection pool.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseConfig {
    /// PostgreSQL connection URL. Migrations are applied at start-up.
    #[arg(id = "database_url", long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub url: String,

    /// Most connections in the database pool.
    #[arg(id = "db_max_connections", long = "db-max-connections", env = "DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub max_connections: u32,

    /// How long a request waits for a database connection before it is answered 503, in
    /// milliseconds.
    #[arg(
        id = "db_acquire_timeout_ms",
        long = "db-acquire-timeout-ms",
        env = "DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub acquire_timeout_ms: u64,
}

impl DatabaseConfig {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

/// The Stripe API: where it is, the key, and how many calls may wait on it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Stripe")]
pub struct StripeConfig {
    /// Base URL of the Stripe API (point it at the Stripe fake in tests).
    #[arg(
        id = "stripe_api_base",
        long = "stripe-api-base",
        env = "STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub api_base: String,

    /// Stripe secret key (`sk_test_…` or `sk_live_…`). Never logged.
    #[arg(id = "stripe_secret_key", long = "stripe-secret-key", env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: String,

    /// Timeout of one Stripe API call, in milliseconds.
    #[arg(id = "stripe_timeout_ms", long = "stripe-timeout-ms", env = "STRIPE_TIMEOUT_MS", default_value_t = 10_000)]
    pub timeout_ms: u64,

    /// The Stripe price of Pro; when unset it is found by lookup key `pro_monthly`, or created.
    #[arg(id = "stripe_pro_price_id", long = "stripe-pro-price-id", env = "STRIPE_PRO_PRICE_ID")]
    pub pro_price_id: Option<String>,

    /// Test mode only: create every Stripe customer on this Stripe test clock (`clock_…`), so
    /// a test harness can move their billing time. Refused with a live key.
    #[arg(id = "stripe_test_clock", long = "stripe-test-clock", env = "STRIPE_TEST_CLOCK")]
    pub test_clock: Option<String>,

    /// Most Stripe calls in flight at once (per instance). A request that cannot get a slot
    /// within `STRIPE_QUEUE_TIMEOUT_MS` is refused with 503 before anything is sent to Stripe,
    /// so a slow Stripe cannot pile up unbounded work.
    #[arg(
        id = "stripe_max_concurrency",
        long = "stripe-max-concurrency",
        env = "STRIPE_MAX_CONCURRENCY",
        default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_concurrency: u32,

    /// How long a request waits for a Stripe slot before it is refused with 503, in milliseconds.
    #[arg(
        id = "stripe_queue_timeout_ms",
        long = "stripe-queue-timeout-ms",
        env = "STRIPE_QUEUE_TIMEOUT_MS",
        default_value_t = 2_000
    )]
    pub queue_timeout_ms: u64,
}

impl StripeConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn queue_timeout(&self) -> Duration {
        Duration::from_millis(self.queue_timeout_ms)
    }
}

/// Stripe's webhooks: how their signatures are checked.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Webhooks")]
pub struct WebhookConfig {
    /// Signing secrets of the Stripe webhook endpoint (`whsec_…`), comma-separated; several
    /// while a secret is being rotated. Never logged.
    #[arg(
        id = "stripe_webhook_secrets",
        long = "stripe-webhook-secrets",
        env = "STRIPE_WEBHOOK_SECRETS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub secrets: Vec<String>,

    /// How far a webhook signature's timestamp may be from now, in seconds.
    #[arg(
        id = "webhook_tolerance_secs",
        long = "webhook-tolerance-secs",
        env = "STRIPE_WEBHOOK_TOLERANCE_SECS",
        default_value_t = 300
    )]
    pub tolerance_secs: i64,
}

/// Vended credentials: for which providers, how long they live, how they are signed, and how
/// often they may be asked for.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Credentials")]
pub struct CredentialConfig {
    /// Providers credentials can be vended for, comma-separated.
    #[arg(
        id = "credential_providers",
        long = "credential-providers",
        env = "CREDENTIAL_PROVIDERS",
        value_delimiter = ',',
        default_value = "github,gitlab,npm,pypi"
    )]
    pub providers: Vec<String>,

    /// Shortest lifetime of a vended credential, in seconds.
    #[arg(
        id = "credential_min_ttl_secs",
        long = "credential-min-ttl-secs",
        env = "CREDENTIAL_MIN_TTL_SECS",
        default_value_t = 60
    )]
    pub min_ttl_secs: u64,

    /// Longest lifetime of a vended credential, in seconds. It is also how long credentials
    /// vended before their API key was revoked can still be used: a provider verifies one with
    /// the signing key alone and never asks the service.
    #[arg(
        id = "credential_max_ttl_secs",
        long = "credential-max-ttl-secs",
        env = "CREDENTIAL_MAX_TTL_SECS",
        default_value_t = 900
    )]
    pub max_ttl_secs: u64,

    /// Key that signs vended credentials (HMAC-SHA256), at least 32 bytes; every instance needs
    /// the same one. When unset, each process makes a random key (and warns): its credentials
    /// verify nowhere else. Never logged.
    #[arg(
        id = "credential_signing_key",
        long = "credential-signing-key",
        env = "CREDENTIAL_SIGNING_KEY",
        hide_env_values = true
    )]
    pub signing_key: Option<String>,

    /// Credential exchanges allowed per API key per minute, on average (per instance).
    #[arg(
        id = "credential_rate_per_minute",
        long = "credential-rate-per-minute",
        env = "CREDENTIAL_RATE_PER_MINUTE",
        default_value_t = 60,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub rate_per_minute: u32,

    /// Credential exchanges an API key may make at once before the rate applies.
    #[arg(
        id = "credential_burst",
        long = "credential-burst",
        env = "CREDENTIAL_BURST",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub burst: u32,

    /// Credential exchanges allowed per customer per minute, on average, over all their keys
    /// (per instance): more keys do not buy more rate.
    #[arg(
        id = "credential_customer_rate_per_minute",
        long = "credential-customer-rate-per-minute",
        env = "CREDENTIAL_CUSTOMER_RATE_PER_MINUTE",
        default_value_t = 120,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub customer_rate_per_minute: u32,

    /// Credential exchanges a customer may make at once, over all their keys.
    #[arg(
        id = "credential_customer_burst",
        long = "credential-customer-burst",
        env = "CREDENTIAL_CUSTOMER_BURST",
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub customer_burst: u32,
}

/// API keys: how long an authenticated one is remembered, and how fast new ones may be made.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "API keys")]
pub struct ApiKeyConfig {
    /// How long an authenticated API key is remembered in memory, in milliseconds (0 to 1000;
    /// 0 = always ask the database). Revocation is immediate on the instance that revokes and
    /// takes at most this long on the others.
    #[arg(
        id = "api_key_cache_ttl_ms",
        long = "api-key-cache-ttl-ms",
        env = "API_KEY_CACHE_TTL_MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(0..=1000)
    )]
    pub cache_ttl_ms: u64,

    /// API keys a customer may create per hour, on average (per instance).
    #[arg(
        id = "api_key_create_rate_per_hour",
        long = "api-key-create-rate-per-hour",
        env = "API_KEY_CREATE_RATE_PER_HOUR",
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub create_rate_per_hour: u32,

    /// API keys a customer may create at once before the hourly rate applies.
    #[arg(
        id = "api_key_create_burst",
        long = "api-key-create-burst",
        env = "API_KEY_CREATE_BURST",
        default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub create_burst: u32,
}

impl ApiKeyConfig {
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ttl_ms)
    }
}

/// Signups: how fast one client may sign up (and who says which client it is), and how long a
/// keyed signup's answer is kept.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Signup")]
pub struct SignupConfig {
    /// Signups allowed per client IP per minute (a burst of as many, then the rate); 0 turns
    /// the limit off (load tests). IPv6 clients are counted per /64.
    #[arg(
        id = "signup_rate_per_minute",
        long = "signup-rate-per-minute",
        env = "SIGNUP_RATE_PER_MINUTE",
        default_value_t = 10
    )]
    pub rate_per_minute: u32,

    /// Proxies (IPs or CIDRs, comma-separated) whose `X-Forwarded-For` names the client; from
    /// anyone else the header is ignored and the peer address is the client.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// How long the answer of a signup made with an `Idempotency-Key` is kept (sealed with a key
    /// only that `Idempotency-Key` opens), so a retry with the same key gets it again, in hours.
    #[arg(
        id = "signup_replay_hours",
        long = "signup-replay-hours",
        env = "SIGNUP_REPLAY_HOURS",
        default_value_t = 24,
        value_parser = clap::value_parser!(u32).range(1..=168)
    )]
    pub replay_hours: u32,
}

impl SignupConfig {
    /// How long a keyed signup's answer is kept for its retries.
    pub fn replay_retention(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.replay_hours))
    }
}

/// The e-mail API the outbox sends through.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "E-mail")]
pub struct EmailConfig {
    /// Base URL of the e-mail API that sends the outbox's messages (`POST {base}/v1/messages`).
    /// When unset the outbox dispatcher is off: messages stay queued, and the log says so once.
    #[arg(id = "email_api_base", long = "email-api-base", env = "EMAIL_API_BASE")]
    pub api_base: Option<String>,

    /// Bearer token of the e-mail API. Never logged.
    #[arg(id = "email_api_key", long = "email-api-key", env = "EMAIL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Sender of the outbox's e-mails.
    #[arg(id = "email_from", long = "email-from", env = "EMAIL_FROM", default_value = "Billing <billing@example.com>")]
    pub from: String,

    /// Timeout of one e-mail API call, in milliseconds.
    #[arg(id = "email_timeout_ms", long = "email-timeout-ms", env = "EMAIL_TIMEOUT_MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
}

impl EmailConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The e-mail outbox's dispatcher: how often it looks, how much it takes, how it retries.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Outbox")]
pub struct OutboxConfig {
    /// How often the outbox dispatcher looks for due e-mails, in milliseconds (a signup also
    /// wakes it at once).
    #[arg(id = "outbox_poll_ms", long = "outbox-poll-ms", env = "OUTBOX_POLL_MS", default_value_t = 1_000)]
    pub poll_ms: u64,

    /// Most e-mails one dispatcher claims (and sends) per round.
    #[arg(id = "outbox_batch", long = "outbox-batch", env = "OUTBOX_BATCH", default_value_t = 20)]
    pub batch: u32,

    /// Attempts at sending one e-mail before it is marked failed and never tried again.
    #[arg(id = "outbox_max_attempts", long = "outbox-max-attempts", env = "OUTBOX_MAX_ATTEMPTS", default_value_t = 8)]
    pub max_attempts: u32,

    /// Wait after the first failed attempt, in milliseconds; it doubles after each further
    /// failure, up to an hour (30 s, 1 min, 2 min, … with the default).
    #[arg(
        id = "outbox_retry_base_ms",
        long = "outbox-retry-base-ms",
        env = "OUTBOX_RETRY_BASE_MS",
        default_value_t = 30_000
    )]
    pub retry_base_ms: u64,
}

impl OutboxConfig {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_ms.max(1))
    }
}

/// The reconciler of charges left pending.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Reconciler")]
pub struct ReconcilerConfig {
    /// How often the reconciler looks for charges left pending (a crash, a timeout), in
    /// milliseconds; 0 turns it off (then only webhooks and keyed retries settle them).
    #[arg(
        id = "reconcile_interval_ms",
        long = "reconcile-interval-ms",
        env = "RECONCILE_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub interval_ms: u64,

    /// A pending charge is reconciled once it is this old, in milliseconds. Keep it above
    /// `STRIPE_TIMEOUT_MS`, so a charge whose request is still in flight is left to it.
    #[arg(
        id = "reconcile_after_ms",
        long = "reconcile-after-ms",
        env = "RECONCILE_AFTER_MS",
        default_value_t = 15_000
    )]
    pub after_ms: u64,
}

impl ReconcilerConfig {
    pub fn after(&self) -> Duration {
        Duration::from_millis(self.after_ms)
    }
}

/// The sweep of Stripe customers that no customer row names (a crash between a signup's Stripe
/// customer and its commit): see `onboarding::orphans`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Orphan sweep")]
pub struct OrphanSweepConfig {
    /// How often the sweep lists the Stripe customers old enough to be orphans, in milliseconds;
    /// one instance sweeps per interval. 0 turns it off.
    #[arg(
        id = "orphan_sweep_interval_ms",
        long = "orphan-sweep-interval-ms",
        env = "ORPHAN_SWEEP_INTERVAL_MS",
        default_value_t = 3_600_000
    )]
    pub interval_ms: u64,

    /// Only Stripe customers older than this, in seconds, are deleted: more than Stripe's 24-hour
    /// idempotency-key retention, within which a keyed retry of the signup adopts its customer
    /// (at least 86460: the 24 hours and a minute; the default adds an hour).
    #[arg(
        id = "orphan_sweep_min_age_secs",
        long = "orphan-sweep-min-age-secs",
        env = "ORPHAN_SWEEP_MIN_AGE_SECS",
        default_value_t = 90_000
    )]
    pub min_age_secs: u64,

    /// How far back before the minimum age a round looks, in seconds (at least 1): an orphan
    /// older than the minimum age and this is left alone, so a sweep that was off for longer
    /// needs this raised once.
    #[arg(
        id = "orphan_sweep_lookback_secs",
        long = "orphan-sweep-lookback-secs",
        env = "ORPHAN_SWEEP_LOOKBACK_SECS",
        default_value_t = 172_800
    )]
    pub lookback_secs: u64,
}

impl OrphanSweepConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// Refuses a minimum age within Stripe's key retention (deleting a customer a keyed retry can
    /// still be answered with) and an empty window.
    pub fn check(&self) -> Result<(), String> {
        const SMALLEST: u64 = 86_460;
        if self.min_age_secs < SMALLEST {
            return Err(format!(
                "ORPHAN_SWEEP_MIN_AGE_SECS is {}: it must be at least {SMALLEST} (Stripe keeps idempotency keys 24 hours, \
                 and a retried signup adopts its Stripe customer until then); the default is 90000",
                self.min_age_secs
            ));
        }
        if self.lookback_secs == 0 {
            return Err("ORPHAN_SWEEP_LOOKBACK_SECS must be at least 1 (the default is 172800, two days)".into());
        }
        Ok(())
    }
}

/// Usage reporting.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Usage")]
pub struct UsageConfig {
    /// A balance at or below this many credits raises the `low_credits` warning.
    #[arg(long, env = "LOW_CREDIT_THRESHOLD", default_value_t = 2)]
    pub low_credit_threshold: i32,
}

/// Logging.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogConfig {
    /// Log format: `text` or `json`.
    #[arg(id = "log_format", long = "log-format", env = "LOG_FORMAT", default_value = "text")]
    pub format: String,
}

impl Config {
    /// Reads the configuration from the environment (and the process's flags).
    pub fn from_env() -> Config {
        Config::parse()
    }

    /// A configuration for tests: the given database and Stripe, everything else default.
    pub fn for_tests(database_url: &str, stripe_api_base: &str) -> Config {
        Config {
            server: ServerConfig {
                bind_addr: "127.0.0.1:0".parse().expect("a literal address"),
                max_body_bytes: 64 * 1024,
                request_timeout_ms: 30_000,
                header_read_timeout_ms: 10_000,
                body_read_timeout_ms: 10_000,
            },
            database: DatabaseConfig { url: database_url.to_string(), max_connections: 10, acquire_timeout_ms: 5_000 },
            stripe: StripeConfig {
                api_base: stripe_api_base.to_string(),
                secret_key: "sk_test_billing_service".to_string(),
                timeout_ms: 5_000,
                pro_price_id: None,
                test_clock: None,
                max_concurrency: 64,
                queue_timeout_ms: 2_000,
            },
            webhooks: WebhookConfig { secrets: Vec::new(), tolerance_secs: 300 },
            credentials: CredentialConfig {
                providers: ["github", "gitlab", "npm", "pypi"].map(String::from).to_vec(),
                min_ttl_secs: 60,
                max_ttl_secs: 900,
                signing_key: Some("test-only credential signing key, 32+ bytes long".to_string()),
                rate_per_minute: 60,
                burst: 10,
                customer_rate_per_minute: 120,
                customer_burst: 20,
            },
            // Tests sign many customers up from 127.0.0.1 and make many keys: the abuse limits
            // are off (high) unless a test of them turns them on.
            api_keys: ApiKeyConfig { cache_ttl_ms: 1000, create_rate_per_hour: 1_000_000, create_burst: 1_000 },
            signup: SignupConfig { rate_per_minute: 0, trusted_proxies: Vec::new(), replay_hours: 24 },
            email: EmailConfig {
                api_base: None,
                api_key: Some("email_test_key".to_string()),
                from: "Billing <billing@example.com>".to_string(),
                timeout_ms: 5_000,
            },
            outbox: OutboxConfig { poll_ms: 1_000, batch: 20, max_attempts: 8, retry_base_ms: 30_000 },
            reconciler: ReconcilerConfig { interval_ms: 5_000, after_ms: 15_000 },
            // Off: a sweep lists Stripe's customers at start, a request the tests that count
            // Stripe's requests would see now and then. The tests of the sweep turn it on.
            orphan_sweep: OrphanSweepConfig { interval_ms: 0, min_age_secs: 90_000, lookback_secs: 172_800 },
            usage: UsageConfig { low_credit_threshold: 2 },
            log: LogConfig { format: "text".to_string() },
        }
    }

    /// Every setting as the environment variable that sets it, so the same configuration can
    /// start the `billing-service` binary as a child process (the test stack's process mode).
    /// Unset optional settings are left out; lists are comma-separated.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let list = |items: &[String]| items.join(",");
        let Config {
            server,
            database,
            stripe,
            webhooks,
            credentials,
            api_keys,
            signup,
            email,
            outbox,
            reconciler,
            orphan_sweep,
            usage,
            log,
        } = self;
        let mut env = vec![
            ("BIND_ADDR", server.bind_addr.to_string()),
            ("MAX_BODY_BYTES", server.max_body_bytes.to_string()),
            ("REQUEST_TIMEOUT_MS", server.request_timeout_ms.to_string()),
            ("HEADER_READ_TIMEOUT_MS", server.header_read_timeout_ms.to_string()),
            ("BODY_READ_TIMEOUT_MS", server.body_read_timeout_ms.to_string()),
            ("DATABASE_URL", database.url.clone()),
            ("DB_MAX_CONNECTIONS", database.max_connections.to_string()),
            ("DB_ACQUIRE_TIMEOUT_MS", database.acquire_timeout_ms.to_string()),
            ("STRIPE_API_BASE", stripe.api_base.clone()),
            ("STRIPE_SECRET_KEY", stripe.secret_key.clone()),
            ("STRIPE_TIMEOUT_MS", stripe.timeout_ms.to_string()),
            ("STRIPE_MAX_CONCURRENCY", stripe.max_concurrency.to_string()),
            ("STRIPE_QUEUE_TIMEOUT_MS", stripe.queue_timeout_ms.to_string()),
            ("STRIPE_WEBHOOK_SECRETS", list(&webhooks.secrets)),
            ("STRIPE_WEBHOOK_TOLERANCE_SECS", webhooks.tolerance_secs.to_string()),
            ("CREDENTIAL_PROVIDERS", list(&credentials.providers)),
            ("CREDENTIAL_MIN_TTL_SECS", credentials.min_ttl_secs.to_string()),
            ("CREDENTIAL_MAX_TTL_SECS", credentials.max_ttl_secs.to_string()),
            ("CREDENTIAL_RATE_PER_MINUTE", credentials.rate_per_minute.to_string()),
            ("CREDENTIAL_BURST", credentials.burst.to_string()),
            ("CREDENTIAL_CUSTOMER_RATE_PER_MINUTE", credentials.customer_rate_per_minute.to_string()),
            ("CREDENTIAL_CUSTOMER_BURST", credentials.customer_burst.to_string()),
            ("API_KEY_CACHE_TTL_MS", api_keys.cache_ttl_ms.to_string()),
            ("API_KEY_CREATE_RATE_PER_HOUR", api_keys.create_rate_per_hour.to_string()),
            ("API_KEY_CREATE_BURST", api_keys.create_burst.to_string()),
            ("SIGNUP_RATE_PER_MINUTE", signup.rate_per_minute.to_string()),
            ("TRUSTED_PROXIES", list(&signup.trusted_proxies)),
            ("SIGNUP_REPLAY_HOURS", signup.replay_hours.to_string()),
            ("EMAIL_FROM", email.from.clone()),
            ("EMAIL_TIMEOUT_MS", email.timeout_ms.to_string()),
            ("OUTBOX_POLL_MS", outbox.poll_ms.to_string()),
            ("OUTBOX_BATCH", outbox.batch.to_string()),
            ("OUTBOX_MAX_ATTEMPTS", outbox.max_attempts.to_string()),
            ("OUTBOX_RETRY_BASE_MS", outbox.retry_base_ms.to_string()),
            ("RECONCILE_INTERVAL_MS", reconciler.interval_ms.to_string()),
            ("RECONCILE_AFTER_MS", reconciler.after_ms.to_string()),
            ("ORPHAN_SWEEP_INTERVAL_MS", orphan_sweep.interval_ms.to_string()),
            ("ORPHAN_SWEEP_MIN_AGE_SECS", orphan_sweep.min_age_secs.to_string()),
            ("ORPHAN_SWEEP_LOOKBACK_SECS", orphan_sweep.lookback_secs.to_string()),
            ("LOW_CREDIT_THRESHOLD", usage.low_credit_threshold.to_string()),
            ("LOG_FORMAT", log.format.clone()),
        ];
        let optional = [
            ("STRIPE_PRO_PRICE_ID", &stripe.pro_price_id),
            ("STRIPE_TEST_CLOCK", &stripe.test_clock),
            ("CREDENTIAL_SIGNING_KEY", &credentials.signing_key),
            ("EMAIL_API_BASE", &email.api_base),
            ("EMAIL_API_KEY", &email.api_key),
        ];
        env.extend(optional.into_iter().filter_map(|(name, value)| Some((name, value.clone()?))));
        env
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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

    /// A configuration with every optional setting set, so `to_env` names them all.
    fn with_every_option() -> Config {
        let mut config = Config::for_tests("postgres://x", "http://y");
        config.stripe.pro_price_id = Some("price_1".into());
        config.stripe.test_clock = Some("clock_1".into());
        config.email.api_base = Some("http://127.0.0.1:7".into());
        config
    }

    #[test]
    fn every_setting_has_its_variable_in_to_env() {
        let config = with_every_option();
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
        config.webhooks.secrets = vec!["whsec_a".into(), "whsec_b".into()];
        config.stripe.test_clock = Some("clock_1".into());
        config.email.api_base = Some("http://127.0.0.1:7".into());
        config.signup.trusted_proxies = vec!["10.0.0.0/8".into(), "127.0.0.1".into()];
        config.signup.rate_per_minute = 0;
        let parsed = Config::try_parse_from(as_flags(&config)).unwrap();
        assert_eq!(format!("{parsed:?}"), format!("{config:?}"));
    }

    /// Deployments, the README's table, ci/'s manifests and scripts name these: a renamed field
    /// must not rename its flag or its variable.
    #[test]
    fn every_flag_is_its_variable_in_kebab_case_and_none_was_renamed() {
        let command = Config::command();
        let pairs: BTreeSet<(String, String)> = command
            .get_arguments()
            .filter_map(|arg| Some((arg.get_long()?.to_string(), arg.get_env()?.to_string_lossy().to_string())))
            .collect();
        let exported: BTreeSet<String> =
            with_every_option().to_env().into_iter().map(|(name, _)| name.into()).collect();
        let variables: BTreeSet<String> = pairs.iter().map(|(_, env)| env.clone()).collect();
        assert_eq!(variables, exported, "the variables clap reads are not those to_env writes");
        assert_eq!(pairs.len(), 46, "a setting was added or lost: {pairs:?}");
        // Every flag is its variable in kebab case, but the webhook tolerance's (older than the rule).
        let odd: Vec<_> = pairs.iter().filter(|(long, env)| long.to_uppercase().replace('-', "_") != *env).collect();
        assert_eq!(
            odd,
            [&("webhook-tolerance-secs".to_string(), "STRIPE_WEBHOOK_TOLERANCE_SECS".to_string())],
            "a flag no longer matches its variable"
        );
        for name in ["BIND_ADDR", "DATABASE_URL", "STRIPE_TIMEOUT_MS", "CREDENTIAL_SIGNING_KEY", "SIGNUP_REPLAY_HOURS"]
        {
            assert!(variables.contains(name), "{name} is gone");
        }
    }

    #[test]
    fn the_defaults_are_those_deployments_rely_on() {
        let command = Config::command();
        let default_of = |variable: &str| {
            let arg = command.get_arguments().find(|arg| arg.get_env().is_some_and(|env| env == variable));
            let values = arg.unwrap_or_else(|| panic!("no flag reads {variable}")).get_default_values();
            values.iter().map(|value| value.to_string_lossy()).collect::<Vec<_>>().join(",")
        };
        let expected = [
            ("BIND_ADDR", "127.0.0.1:8080"),
            ("DATABASE_URL", ""),
            ("MAX_BODY_BYTES", "65536"),
            ("DB_MAX_CONNECTIONS", "20"),
            ("STRIPE_API_BASE", "https://api.stripe.com"),
            ("STRIPE_TIMEOUT_MS", "10000"),
            ("STRIPE_WEBHOOK_TOLERANCE_SECS", "300"),
            ("CREDENTIAL_PROVIDERS", "github,gitlab,npm,pypi"),
            ("API_KEY_CREATE_RATE_PER_HOUR", "20"),
            ("SIGNUP_RATE_PER_MINUTE", "10"),
            ("EMAIL_FROM", "Billing <billing@example.com>"),
            ("OUTBOX_POLL_MS", "1000"),
            ("RECONCILE_AFTER_MS", "15000"),
            ("ORPHAN_SWEEP_INTERVAL_MS", "3600000"),
            ("ORPHAN_SWEEP_MIN_AGE_SECS", "90000"),
            ("ORPHAN_SWEEP_LOOKBACK_SECS", "172800"),
            ("LOW_CREDIT_THRESHOLD", "2"),
            ("LOG_FORMAT", "text"),
        ];
        for (variable, default) in expected {
            assert_eq!(default_of(variable), default, "the default of {variable} changed");
        }
    }

    #[test]
    fn an_orphan_sweep_minimum_age_within_stripes_key_retention_is_refused() {
        let mut sweep = Config::for_tests("postgres://x", "http://y").orphan_sweep;
        assert_eq!(sweep.check(), Ok(()));
        sweep.min_age_secs = 86_400;
        let refused = sweep.check().unwrap_err();
        assert!(refused.contains("ORPHAN_SWEEP_MIN_AGE_SECS") && refused.contains("24 hours"), "{refused}");
        sweep.min_age_secs = 86_460;
        assert_eq!(sweep.check(), Ok(()));
        sweep.lookback_secs = 0;
        assert!(sweep.check().unwrap_err().contains("ORPHAN_SWEEP_LOOKBACK_SECS"));
    }

    #[test]
    fn help_lists_the_settings_group_by_group() {
        let help = Config::command().render_help().to_string();
        for heading in [
            "Server:",
            "Database:",
            "Stripe:",
            "Webhooks:",
            "Credentials:",
            "API keys:",
            "Outbox:",
            "Orphan sweep:",
            "Logging:",
        ] {
            assert!(help.contains(heading), "no {heading} group in --help:\n{help}");
        }
    }
}
