//! The Stripe fake: a stateful stand-in for `api.stripe.com` that real clients talk to over
//! HTTP. It keeps objects, bills subscriptions, declines test cards, honours idempotency keys,
//! advances test clocks, signs and delivers webhook events, and fails on request.
//!
//! Layout: `server` (HTTP pipeline) → `routes` (table) → `resources::*` (one per Stripe
//! resource) over `store` (state) and `context` (one request's view, event emission);
//! `billing` holds subscription invoicing; `webhooks` + `signature` deliver events; `fault`,
//! `idempotency`, `auth` and `params` are the cross-cutting rules; `control` is `/_fake/*`.

mod auth;
mod billing;
mod cards;
mod charging;
mod chunked;
mod clock_runner;
mod context;
mod control;
mod error;
mod event_log;
mod fake;
mod fast_hash;
mod fault;
mod idempotency;
mod ids;
mod params;
mod reply;
mod request_log;
mod resources;
mod routes;
mod server;
mod shared;
mod signature;
mod store;
mod webhooks;

pub use context::API_VERSION;
pub use error::ApiError;
pub use fake::{StripeFake, WaitError};
pub use fault::{Fault, FaultEffect};
pub use ids::new_id;
pub use request_log::RecordedRequest;
pub use signature::stripe_signature;
pub use webhooks::{Delivery, RetryPolicy, WebhookEndpointInfo};
