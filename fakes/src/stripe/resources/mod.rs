//! One module per Stripe resource, each owning its endpoints and the shape of its object.
//! Resources call down into `domain` (what several of them share) and never into each other.

pub mod charges;
pub mod customers;
pub mod events;
pub mod invoice_items;
pub mod invoices;
pub mod payment_intents;
pub mod payment_methods;
pub mod prices;
pub mod products;
pub mod refunds;
pub mod setup_intents;
pub mod subscriptions;
pub mod test_clocks;
pub mod webhook_endpoints;
