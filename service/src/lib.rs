//! The reference billing service: customer onboarding, API keys, a credit ledger, fixes paid
//! with credits, and a usage summary, on axum + sqlx + PostgreSQL with Stripe behind it.
//!
//! Start it with [`app::Application`]; every route is in [`http::router`].

pub mod api_keys;
pub mod app;
pub mod background;
pub mod billing;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod domain;
pub mod email;
pub mod error;
pub mod fixes;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod ledger;
pub mod metrics;
pub mod onboarding;
pub mod outbox;
pub mod pricing;
pub mod rate_limit;
pub mod state;
pub mod stripe;
pub mod telemetry;
pub mod tls;
pub mod usage;
pub mod webhooks;

pub use app::Application;
pub use config::Config;
pub use state::{AppState, StartupError};
