//! The e-mail fake: a tiny transactional-mail API (`POST /v1/messages`) that stores what it is
//! asked to send, so tests can assert that the welcome e-mail went out once, to the right address.
//!
//! `message` holds the domain types, `error` the one error type, `api` the HTTP routes, `fake`
//! the handle tests hold.

mod api;
mod error;
mod fake;
mod message;

pub use error::EmailApiError;
pub use fake::{EmailError, EmailFake};
pub use message::SentEmail;
