//! The Stripe fake: a stateful stand-in for `api.stripe.com` that real clients talk to over
//! HTTP. It keeps objects, bills subscriptions (with prorations), declines test cards, refunds,
//! sets up cards, honours idempotency keys and API versions, advances test clocks, signs and
//! delivers webhook events, and fails on request.
//!
//! Layers, each using only those below it (a test checks there are no import cycles):
//! - transport and pipeline: `server` (hyper) → `pipeline` (the named steps of one request:
//!   control routing, `fault`, `auth`, `versions`, `idempotency`, `routes`, request log, webhook
//!   hand-off) → `response`; `control` is `/_fake/*`; `fake` is the handle tests hold;
//! - `routes` → `resources::*`, one module per Stripe resource;
//! - `domain::*`: what several resources share (charging, invoicing, subscription periods,
//!   prorations, payment methods, test clocks);
//! - state: `context` (one request's view, event emission) over `store` (objects and indexes),
//!   `event_log`, `request_log`, `idempotency`, `webhook_routes`; `ring` and `sharded` are their
//!   building blocks; `webhooks` + `signature` deliver events; `search` runs search queries.

mod auth;
mod clock_runner;
mod context;
mod control;
mod domain;
mod error;
mod event_log;
mod expand;
mod fake;
mod fault;
mod idempotency;
mod ids;
mod invoice_retries;
mod kinds;
mod params;
mod pipeline;
mod plans;
mod request_log;
mod resources;
mod response;
mod ring;
mod routes;
mod search;
mod server;
mod sharded;
mod shared;
mod signature;
mod stats;
mod store;
mod versions;
mod webhook_routes;
mod webhooks;

pub use error::ApiError;
pub use fake::{StripeFake, StripeFakeBuilder, WaitError};
pub use fault::{Fault, FaultEffect};
pub use ids::new_id;
pub use invoice_retries::{AfterFinalRetry, InvoiceRetries};
pub use request_log::RecordedRequest;
pub use routes::{ROUTES, Route};
pub use signature::stripe_signature;
pub use stats::{Retained, Stats};
pub use webhooks::{Delivery, RetryPolicy, WebhookEndpointInfo};

/// The newest API version, the fake's default (objects are stored in its shape).
pub const API_VERSION: &str = "2026-10-28.endive";

/// Every API version the fake knows the shapes of, oldest first. Any other well-formed version is
/// answered in the shapes of the nearest older one of these (unless the fake is strict).
pub fn supported_api_versions() -> &'static [&'static str] {
    versions::ApiVersion::all_names()
}

/// The response header of the fake's own that names the known release whose shapes answered.
pub const SHAPES_HEADER: &str = versions::SHAPES_HEADER;
