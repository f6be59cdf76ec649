//! The application: shared state, the router, start-up and graceful shutdown.
//!
//! [`Application::build`] connects to PostgreSQL, applies the embedded migrations and binds
//! the listener; [`Application::run_until`] serves until the given future completes, then
//! finishes in-flight requests. The binary and the tests start the service the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;

use crate::api_keys::cache::ApiKeyCache;
use crate::billing::pro_price::ProPrice;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::credentials::CredentialVending;
use crate::email::EmailClient;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::outbox::OutboxWorker;
use crate::stripe::StripeClient;
use crate::{api_keys, billing, credentials, fixes, health, metrics, onboarding, usage, webhooks};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
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
}

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
    Stripe(#[from] crate::stripe::StripeError),
    #[error("cannot set up the e-mail API client: {0}")]
    Email(#[from] crate::email::EmailError),
}

/// The embedded migrations (`service/migrations`).
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

/// A digest of every migration: tests key their template database on it, so a changed
/// migration gets a fresh template.
pub fn migrations_fingerprint() -> String {
    let mut digest = String::new();
    for migration in migrator().iter() {
        digest.push_str(&format!("{}-{}", migration.version, hex::encode(&migration.checksum[..8])));
    }
    digest
}

/// Connects a pool to `database_url`.
pub async fn connect(database_url: &str, max_connections: u32) -> Result<PgPool, StartupError> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(database_url)
        .await
        .map_err(StartupError::Database)
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Builds the service on the wall clock.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        Application::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Application, StartupError> {
        let listener = TcpListener::bind(config.bind_addr)
            .await
            .map_err(|source| StartupError::Bind { addr: config.bind_addr, source })?;
        Application::build_on(config, clock, listener).await
    }

    /// Builds the service on a listener bound by the caller (who needed the port first, for
    /// example to register the webhook URL with Stripe).
    pub async fn build_on(
        config: Config,
        clock: Arc<dyn Clock>,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        if config.stripe_test_clock.is_some() && !config.stripe_secret_key.starts_with("sk_test_") {
            return Err(StartupError::Config(
                "STRIPE_TEST_CLOCK is for test mode only: unset it, or use an sk_test_ key".into(),
            ));
        }
        let pool = connect(&config.database_url, config.db_max_connections).await?;
        migrator().run(&pool).await?;
        let stripe = StripeClient::new(&config.stripe_api_base, &config.stripe_secret_key, config.stripe_timeout())?;
        let credentials = CredentialVending::from_config(&config).map_err(StartupError::Config)?;
        let email = match &config.email_api_base {
            Some(base) => {
                Some(EmailClient::new(base, config.email_api_key.clone(), &config.email_from, config.email_timeout())?)
            }
            None => None,
        };
        let state = AppState {
            pool,
            stripe,
            metrics: Arc::new(Metrics::new()),
            clock,
            pro_price: Arc::new(ProPrice::preset(config.stripe_pro_price_id.clone())),
            api_key_cache: Arc::new(ApiKeyCache::new(config.api_key_cache_ttl())),
            credentials: Arc::new(credentials),
            config: Arc::new(config),
            email,
            outbox_wake: Arc::new(Notify::new()),
        };
        Ok(Application { listener, router: router(state.clone()), state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish. The e-mail
    /// outbox dispatcher runs alongside, and stops after the last request.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr(), "billing service listening");
        let outbox = OutboxWorker::start(self.state.clone());
        let served = axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await;
        if let Some(outbox) = outbox {
            outbox.stop().await;
        }
        served
    }
}

/// Largest webhook body accepted.
const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/api/v1/customers", post(onboarding::create_customer))
        .route("/api/v1/usage", get(usage::usage_summary))
        .route("/api/v1/fixes", post(fixes::record_fix))
        .route("/api/v1/credentials/exchange", post(credentials::exchange::exchange_credentials))
        .route("/api/v1/api-keys", post(api_keys::management::create_api_key).get(api_keys::management::list_api_keys))
        .route("/api/v1/api-keys/{id}", delete(api_keys::management::revoke_api_key))
        .route("/api/v1/billing/payment-method", post(billing::payment_method::add_payment_method))
        .route(
            "/api/v1/billing/subscription",
            post(billing::subscription::subscribe).delete(billing::subscription::cancel),
        )
        .route(
            "/api/webhooks/stripe",
            // Stripe's events (an invoice with its lines) can outgrow the API's body limit.
            post(webhooks::receive_stripe_event).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::serve_metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track_requests))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::Internal("a handler panicked".into()).into_response()
        }))
        .with_state(state)
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}: see the README for the API", uri.path()))
}

async fn method_not_allowed(method: Method) -> Response {
    let mut response = ApiError::MethodNotAllowed(method.to_string()).into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}
