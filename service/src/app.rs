//! The application: start-up and graceful shutdown.
//!
//! [`Application::build`] connects to PostgreSQL, applies the embedded migrations and binds
//! the listener; [`Application::run_until`] serves until the given future completes, then
//! finishes in-flight requests. The binary and the tests start the service the same way.
//!
//! [`router`] merges one `router()` per resource module (onboarding, usage, fixes, billing,
//! credentials, API keys, webhooks, health, metrics), so each list of routes lives beside the
//! handlers that serve them, and adds the layers every request goes through. Each module
//! registers a route together with its OpenAPI documentation ([`crate::http::openapi`]), and the
//! merged document is served at `GET /openapi.json`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;

use crate::billing::reconciler::Reconciler;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::http::edge::Edge;
use crate::http::router;
use crate::http::server::{ConnectionLimits, serve};
use crate::onboarding;
use crate::outbox::OutboxWorker;
use crate::state::{AppState, StartupError};

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
    connect_with(database_url, max_connections, Duration::from_secs(5)).await
}

/// Connects a pool whose requests wait at most `acquire_timeout` for a connection.
pub async fn connect_with(
    database_url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<PgPool, StartupError> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
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
        let listener = TcpListener::bind(config.server.bind_addr)
            .await
            .map_err(|source| StartupError::Bind { addr: config.server.bind_addr, source })?;
        Application::build_on(config, clock, listener).await
    }

    /// Builds the service on a listener bound by the caller (who needed the port first, for
    /// example to register the webhook URL with Stripe).
    pub async fn build_on(
        config: Config,
        clock: Arc<dyn Clock>,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        config.orphan_sweep.check().map_err(StartupError::Config)?;
        if config.stripe.test_clock.is_some() && !config.stripe.secret_key.starts_with("sk_test_") {
            return Err(StartupError::Config(
                "STRIPE_TEST_CLOCK is for test mode only: unset it, or use an sk_test_ key".into(),
            ));
        }
        let pool =
            connect_with(&config.database.url, config.database.max_connections, config.database.acquire_timeout())
                .await?;
        migrator().run(&pool).await?;
        let marker = onboarding::orphans::load_marker(&pool).await.map_err(StartupError::Database)?;
        let state = AppState::new(config, pool, clock, marker)?;
        Ok(Application { listener, router: router(state.clone()), state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish. The e-mail
    /// outbox dispatcher, the charge reconciler, the sweep of expired signup answers and the sweep
    /// of orphan Stripe customers run alongside, and stop after the last request.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr(), "billing service listening");
        let outbox = OutboxWorker::start(self.state.clone());
        let reconciler = Reconciler::start(self.state.clone());
        let replay_sweeper = onboarding::replay::Sweeper::start(self.state.clone());
        let orphan_sweeper = onboarding::orphans::OrphanSweeper::start(self.state.clone());
        let config = &self.state.config;
        let limits = ConnectionLimits {
            header_read_timeout: config.server.header_read_timeout(),
            shutdown_grace: config.server.request_timeout() + Duration::from_secs(1),
        };
        let edge = Edge::new(self.router, config.server.max_body_bytes);
        let served = serve(self.listener, edge, limits, shutdown).await;
        if let Some(outbox) = outbox {
            outbox.stop().await;
        }
        if let Some(reconciler) = reconciler {
            reconciler.stop().await;
        }
        replay_sweeper.stop().await;
        if let Some(orphan_sweeper) = orphan_sweeper {
            orphan_sweeper.stop().await;
        }
        served
    }
}
