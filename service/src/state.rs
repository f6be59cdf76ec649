//! What every handler can reach: the application state, built once from the configuration, and
//! [`StartupError`], why it (or the service) could not be built. It sits below every feature:
//! features import it from here, and it imports only the infrastructure and the features' own
//! state types (which import nothing of the service above them).
//!
//! [`AppState`] is one pointer to the [`Shared`] parts: axum clones the state for every layer and
//! extractor that asks for it, several times a request, so a clone must cost one reference count,
//! not one per part (measured: cloning and dropping the parts one by one, with the Stripe and
//! e-mail clients' strings, took a quarter of the CPU of a `/healthz` request).

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Notify;

use crate::api_keys::cache::ApiKeyCache;
use crate::billing::pro_price::ProPrice;
use crate::client_ip::{ClientIpKey, TrustedProxies};
use crate::clock::Clock;
use crate::config::Config;
use crate::credentials::CredentialVending;
use crate::domain::CustomerId;
use crate::email::{EmailClient, EmailError};
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::stripe::{StripeClient, StripeError};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot connect to PostgreSQL (check DATABASE_URL and that the server is up): {0}")]
    Database(#[source] sqlx::Error),
    #[error("cannot apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot listen on {addr} (is another process using it? set BIND_ADDR): {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot set up the Stripe client: {0}")]
    Stripe(#[from] StripeError),
    #[error("cannot set up the e-mail API client: {0}")]
    Email(#[from] EmailError),
}

/// The application state: a cheap handle on the [`Shared`] parts, which it dereferences to.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What the handlers share, built once at start-up.
pub struct Shared {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub stripe: StripeClient,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub pro_price: Arc<ProPrice>,
    pub api_key_cache: Arc<ApiKeyCache>,
    pub credentials: Arc<CredentialVending>,
    /// The e-mail API, when `EMAIL_API_BASE` is set; without it the outbox only queues.
    pub email: Option<EmailClient>,
    /// Wakes the outbox dispatcher (after a commit that made an e-mail due now).
    pub outbox_wake: Arc<Notify>,
    /// Signups per client IP (`SIGNUP_RATE_PER_MINUTE`); `None` when the limit is off.
    pub signup_limiter: Option<Arc<RateLimiter<ClientIpKey>>>,
    /// Whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// API keys created per customer (`API_KEY_CREATE_RATE_PER_HOUR`).
    pub api_key_limiter: Arc<RateLimiter<CustomerId>>,
    /// The marker a signup writes on its Stripe customer (`metadata[made_by]`): this database's,
    /// so the orphan sweep deletes only customers made for it.
    pub stripe_marker: String,
}

impl AppState {
    /// The state for `config`, on `pool` (migrated), telling time by `clock`, marking its Stripe
    /// customers with `stripe_marker`.
    pub fn new(
        config: Config,
        pool: PgPool,
        clock: Arc<dyn Clock>,
        stripe_marker: String,
    ) -> Result<AppState, StartupError> {
        let stripe = StripeClient::new(
            &config.stripe.api_base,
            &config.stripe.secret_key,
            config.stripe.timeout(),
            usize::try_from(config.stripe.max_concurrency).unwrap_or(usize::MAX),
            config.stripe.queue_timeout(),
        )?;
        let credentials = CredentialVending::from_config(&config.credentials).map_err(StartupError::Config)?;
        let email = match &config.email.api_base {
            Some(base) => {
                Some(EmailClient::new(base, config.email.api_key.clone(), &config.email.from, config.email.timeout())?)
            }
            None => None,
        };
        let trusted_proxies = TrustedProxies::parse(&config.signup.trusted_proxies).map_err(StartupError::Config)?;
        let signup_limiter = (config.signup.rate_per_minute > 0)
            .then(|| Arc::new(RateLimiter::new(config.signup.rate_per_minute, config.signup.rate_per_minute)));
        Ok(AppState(Arc::new(Shared {
            pool,
            stripe,
            metrics: Arc::new(Metrics::new()),
            clock,
            pro_price: Arc::new(ProPrice::preset(config.stripe.pro_price_id.clone())),
            api_key_cache: Arc::new(ApiKeyCache::new(config.api_keys.cache_ttl())),
            credentials: Arc::new(credentials),
            email,
            outbox_wake: Arc::new(Notify::new()),
            signup_limiter,
            trusted_proxies: Arc::new(trusted_proxies),
            api_key_limiter: Arc::new(RateLimiter::per_hour(
                config.api_keys.create_rate_per_hour,
                config.api_keys.create_burst,
            )),
            stripe_marker,
            config: Arc::new(config),
        })))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
