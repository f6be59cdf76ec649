//! Idempotency keys as Stripe honours them: the first response to a key is stored, and a retry
//! with the same key and the same parameters gets those exact bytes back (with
//! `Idempotent-Replayed: true`); the same key with different parameters is an `idempotency_error`.
//!
//! As with Stripe, only requests that ran are remembered (successes and 402 card declines):
//! a validation error (400/404) or a server error (5xx, e.g. an injected fault) is not, so a
//! client's retry after one goes through, which is what retry logic under test depends on.
//! A "succeed, then fail the response" fault is remembered: the request did run.
//!
//! Stripe forgets keys after 24 hours; under a retention limit the fake forgets the oldest ones.

use std::sync::Arc;

use bytes::Bytes;

use super::error::ApiError;
use super::ring::Ring;
use super::sharded::Sharded;
use crate::form;

/// Stripe's limit on the length of an `Idempotency-Key`.
pub const MAX_KEY_LENGTH: usize = 255;

/// Refuses a key Stripe would refuse.
pub fn check_key(key: &str) -> Result<(), ApiError> {
    if key.chars().count() > MAX_KEY_LENGTH {
        return Err(ApiError::InvalidRequest(format!(
            "Keys for idempotent requests can only be {MAX_KEY_LENGTH} characters long and the one you sent is {} \
             characters long. Use a shorter key (a UUID is 36 characters).",
            key.chars().count()
        )));
    }
    Ok(())
}

/// A response remembered for an idempotency key.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// `METHOD path` the key was first used with.
    pub route: Box<str>,
    /// The form body the key was first used with, as sent.
    pub params: Box<[u8]>,
    /// Status of the first response.
    pub status: u16,
    /// Body of the first response, byte for byte.
    pub body: Bytes,
}

impl StoredResponse {
    /// The stored response if this retry matches the first request, else the mismatch error.
    /// Parameters match when the bodies are equal, or parse to the same tree (order of keys aside).
    pub fn replay_for(&self, key: &str, route: &str, params: &[u8]) -> Result<(u16, Bytes), ApiError> {
        let same_params = *self.params == *params || form::parse(&self.params).ok() == form::parse(params).ok();
        if &*self.route == route && same_params {
            Ok((self.status, self.body.clone()))
        } else {
            Err(ApiError::IdempotencyMismatch(format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                 Try using a key other than '{key}' if you meant to execute a different request."
            )))
        }
    }
}

/// Remembered responses by key, oldest key first for retention.
#[derive(Default)]
pub struct IdempotencyResults {
    by_key: Sharded<Arc<str>, StoredResponse>,
    order: Ring<Arc<str>>,
}

impl IdempotencyResults {
    /// The response remembered for `key`.
    pub fn get(&self, key: &str) -> Option<&StoredResponse> {
        self.by_key.get(key)
    }

    /// Remembers a response (forgetting the oldest key if over the retention limit).
    pub fn insert(&mut self, key: Arc<str>, response: StoredResponse) {
        if self.by_key.insert(key.clone(), response).is_none() {
            let (_, evicted) = self.order.push_and_evict(key);
            if let Some(old) = evicted {
                self.by_key.remove(&old);
            }
        }
    }

    /// Keeps at most `limit` keys from now on.
    pub fn set_limit(&mut self, limit: Option<usize>) {
        for old in self.order.set_limit(limit) {
            self.by_key.remove(&old);
        }
    }

    /// Keys remembered.
    pub fn retained(&self) -> usize {
        self.by_key.count()
    }

    /// Keys forgotten because of the retention limit.
    pub fn dropped(&self) -> u64 {
        self.order.dropped()
    }
}
