//! The customer-journey suite of the billing service: the journeys, the runner, its reports
//! (JUnit XML, Pushgateway) and the `e2e` command.
//!
//! The world the journeys run in (the stack, the typed client, `wait_until`) lives in
//! `billing-stack`, shared with the service's own tests and the load tool; it is re-exported
//! here so a journey reads `billing_e2e::Stack` as before.

pub mod cli;
pub mod journeys;
pub mod report;
pub mod runner;
pub mod stack_up;

pub use billing_stack::{ApiClient, ApiFailure, Signup, Stack, StackOptions, client, stack, wait, wait_until};
