//! The operations on the fake's state that several resources share: the layer below the HTTP
//! resources (`resources::*`), which call down into it and never into each other. Keeping the
//! shared parts here is what keeps the modules free of import cycles (as stripe-mock keeps its
//! shared form code in a package of its own).
//!
//! - `cards`: how each test card behaves; `wallet`: payment methods and their owners;
//! - `charging`: a PaymentIntent and its Charge;
//! - `invoicing`: invoices from draft to paid, and the customer's credit balance;
//! - `subscription_cycle`: periods, items, renewals, cancellation; `payment_retries`: failed
//!   renewals tried again on the account's schedule, then `unpaid` (or `canceled`);
//! - `item_changes` and `proration`: changing items mid-period and what it costs;
//! - `catalog`: products; `webhook_endpoints`: registering endpoints; `clocks`: test clock advances.

pub mod cards;
pub mod catalog;
pub mod charging;
pub mod clocks;
pub mod invoicing;
pub mod item_changes;
pub mod payment_retries;
pub mod proration;
pub mod subscription_cycle;
pub mod wallet;
pub mod webhook_endpoints;
