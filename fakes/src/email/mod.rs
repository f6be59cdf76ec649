//! The e-mail fake: a tiny transactional-mail API (`POST /v1/messages`) that stores what it is
//! asked to send, so tests can assert that the welcome e-mail went out once, to the right address.
//!
//! `message` holds the domain types, `api` the HTTP routes and their one error type, `fake` the
//! handle tests hold.

mod api;
mod fake;
mod message;

pub use api::EmailApiError;
pub use fake::{EmailError, EmailFake};
pub use message::SentEmail;
