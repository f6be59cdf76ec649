//! The world every test and load run of the billing service starts from: the [`Stack`]
//! (PostgreSQL from the provider chain, the Stripe and e-mail fakes, the service on a free
//! port), a typed [`ApiClient`] of the service's API, [`customers`] (the steps tests take with a
//! customer again and again: use up the credits, wait for a balance, become Pro),
//! [`wait_until`], which polls for an effect with a deadline instead of sleeping,
//! [`reconcile`], the money check every journey and load run can end with, and [`StripeApi`],
//! Stripe's own API as the journeys use it (the stack's fake locally, a Stripe test-mode
//! account against a deployed service).
//!
//! It is the one place test set-up lives: the service's own integration tests, the journey
//! suite (`billing-e2e`) and the load tool (`billing-load`) all start their world here.
//!
//! It also holds what the journey runner and the load tool share beyond the stack: [`push`],
//! the one path for pushing results to a Prometheus Pushgateway, and [`test_pushgateway`], a
//! real Pushgateway for any crate's tests of that path.

pub mod client;
pub mod customers;
pub mod push;
pub mod reconcile;
pub mod requests;
pub mod service_process;
pub mod stack;
pub mod stripe_api;
pub mod test_pushgateway;
pub mod wait;

pub use client::{ApiClient, Signup, VendedCredential, VendedCredentials};
pub use reconcile::{Reconciliation, StripeAccess, reconcile, reconcile_customers};
pub use requests::{ApiFailure, ApiRequest};
pub use service_process::{Profile, ServiceBinary};
pub use stack::{ServiceRun, Stack, StackOptions};
pub use stripe_api::{StripeApi, StripeKeyError, TestModeKey};
pub use wait::wait_until;
