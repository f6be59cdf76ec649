//! Tests of the Stripe fake through real HTTP, one module per concern.

mod helpers;

mod auth_and_input;
mod customers;
mod faults;
mod idempotency;
