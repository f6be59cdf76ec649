//! One module per Stripe resource, each owning its endpoints and the shape of its object.

pub mod customers;
pub mod events;
pub mod invoices;
pub mod payment_intents;
pub mod payment_methods;
pub mod prices;
pub mod products;
pub mod subscriptions;
pub mod test_clocks;
pub mod webhook_endpoints;
