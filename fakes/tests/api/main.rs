//! Tests of the Stripe fake through real HTTP, one module per concern.

mod helpers;

mod auth_and_input;
mod catalog;
mod customers;
mod events;
mod faults;
mod idempotency;
mod payment_intents;
mod payment_methods;
mod robustness;
mod subscriptions;
mod test_clocks;
mod webhooks;
