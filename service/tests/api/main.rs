//! Integration tests of the billing service: real HTTP over loopback, a real PostgreSQL
//! database per test, and the stateful Stripe fake. One test binary (one link step).

mod api_keys;
mod billing;
mod credentials;
mod errors;
mod fixes;
mod health;
mod hostile;
mod money;
mod onboarding;
mod openapi;
mod orphans;
mod outbox;
mod schemathesis;
mod usage;
mod webhooks;
