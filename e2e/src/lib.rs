//! End-to-end harness for the billing service: the [`Stack`] (PostgreSQL from the provider
//! chain, the Stripe and e-mail fakes, the service on a free port), a typed [`ApiClient`],
//! and helpers that wait for effects with a deadline.
//!
//! It is the one place test set-up lives: the service's own integration tests and the
//! journey suite both start their world through [`Stack::start`].

pub mod cli;
pub mod client;
pub mod journeys;
pub mod report;
pub mod runner;
pub mod stack;
pub mod stack_up;
pub mod wait;

pub use client::{ApiClient, ApiFailure, Signup};
pub use stack::{Stack, StackOptions};
pub use wait::wait_until;
