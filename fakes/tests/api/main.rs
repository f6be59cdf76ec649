//! Tests of the Stripe fake through real HTTP, one module per concern.

mod helpers;

mod auth_and_input;
mod catalog;
mod customers;
mod events;
mod every_route;
mod faults;
mod idempotency;
mod invoice_preview;
mod payment_intents;
mod payment_methods;
mod payment_retries;
mod refunds;
mod retention;
mod robustness;
mod search;
mod setup_intents;
mod subscription_changes;
mod subscriptions;
mod test_clocks;
mod versions;
mod webhooks;
