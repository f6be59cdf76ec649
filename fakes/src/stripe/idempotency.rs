//! Idempotency keys as Stripe honours them: the first response to a key is stored, and a retry
//! with the same key and the same parameters gets those exact bytes back (with
//! `Idempotent-Replayed: true`); the same key with different parameters is an `idempotency_error`.
//!
//! As with Stripe, only requests that ran are remembered (successes and 402 card declines):
//! a validation error (400/404) or a server error (5xx, e.g. an injected fault) is not, so a
//! client's retry after one goes through, which is what retry logic under test depends on.

use bytes::Bytes;
use serde_json::Value;

use super::error::ApiError;

/// A response remembered for an idempotency key.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// `METHOD path` the key was first used with.
    pub route: String,
    /// Parameters the key was first used with.
    pub params: Value,
    /// Status of the first response.
    pub status: u16,
    /// Body of the first response, byte for byte.
    pub body: Bytes,
}

impl StoredResponse {
    /// The stored response if this retry matches the first request, else the mismatch error.
    pub fn replay_for(&self, key: &str, route: &str, params: &Value) -> Result<(u16, Bytes), ApiError> {
        if self.route == route && &self.params == params {
            Ok((self.status, self.body.clone()))
        } else {
            Err(ApiError::IdempotencyMismatch(format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                 Try using a key other than '{key}' if you meant to execute a different request."
            )))
        }
    }
}
