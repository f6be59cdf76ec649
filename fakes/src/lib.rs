//! Stateful fakes of the services the billing service talks to: the Stripe API and a small
//! e-mail API. Both run in-process on a free port (`StripeFake::start().await`) for Rust tests,
//! or standalone (`stripe-fake` binary) for end-to-end runs and other languages.
//!
//! "Stateful" is the point: objects persist between calls, so a test can create a customer,
//! subscribe it, advance a test clock and watch the renewal invoice arrive as a signed webhook,
//! all through the same HTTP API a real Stripe client uses.
// The large `json!` literals of Stripe objects need a deeper macro recursion limit.
#![recursion_limit = "256"]

pub mod email;
pub mod form;
pub mod stripe;
pub mod tls;

pub use email::{EmailError, EmailFake, SentEmail};
pub use stripe::{
    Delivery, Fault, RecordedRequest, RetryPolicy, Stats, StripeFake, StripeFakeBuilder, WebhookEndpointInfo,
};
