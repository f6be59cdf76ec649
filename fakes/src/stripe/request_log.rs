//! The request log: one entry per request the fake received, so tests can assert what a client
//! actually sent (`params`, the parsed form or query tree), what the fake did, and what the client
//! got back (which an injected fault can make differ).
//!
//! Entries are kept compact (the raw form bytes, parsed only when read) because under load the
//! log grows by thousands of entries a second; with a retention limit it is a ring.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::ring::Ring;
use crate::form;

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// `req_...`, as in the `Request-Id` header and the events it caused (empty when a fault
    /// answered before the request was read as an API call).
    pub request_id: String,
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// The path without the query string (`/v1/customers/cus_123`).
    pub path: String,
    /// Parsed form body or query string, nested (`{"metadata": {"plan": "pro"}}`).
    pub params: Value,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
    /// The status the client was sent; `0` when it was sent nothing (the connection was dropped).
    pub status: u16,
    /// The status the fake's handler produced, when the request was carried out; `None` when an
    /// injected fault answered instead. With a "succeed, then fail" fault this is 200 while
    /// `status` is what the client saw.
    pub handled_status: Option<u16>,
    /// The injected fault applied to it, if any (`after_success: status 500`, …).
    pub fault: Option<String>,
}

/// A log entry as stored.
#[derive(Debug)]
pub struct LoggedRequest {
    /// `req_...`
    pub request_id: Arc<str>,
    /// The HTTP method (the usual ones take no allocation).
    pub method: Cow<'static, str>,
    /// The path.
    pub path: Box<str>,
    /// The form body (POST) or query string (others), as received.
    pub raw_params: Box<[u8]>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<Arc<str>>,
    /// What the client received (0: nothing).
    pub status: u16,
    /// What the handler produced, if it ran.
    pub handled_status: Option<u16>,
    /// The fault applied.
    pub fault: Option<Box<str>>,
}

impl LoggedRequest {
    fn to_public(&self) -> RecordedRequest {
        RecordedRequest {
            request_id: self.request_id.to_string(),
            method: self.method.to_string(),
            path: self.path.to_string(),
            params: form::parse(&self.raw_params).unwrap_or(Value::Null),
            idempotency_key: self.idempotency_key.as_deref().map(str::to_string),
            status: self.status,
            handled_status: self.handled_status,
            fault: self.fault.as_deref().map(str::to_string),
        }
    }
}

/// Every request retained, oldest first.
#[derive(Default)]
pub struct RequestLog {
    entries: Ring<LoggedRequest>,
}

impl RequestLog {
    /// Appends an entry.
    pub fn push(&mut self, entry: LoggedRequest) {
        self.entries.push(entry);
    }

    /// Every entry, oldest first, as the public type.
    pub fn to_vec(&self) -> Vec<RecordedRequest> {
        self.entries.iter().map(|(_, entry)| entry.to_public()).collect()
    }

    /// Keeps at most `limit` entries from now on.
    pub fn set_limit(&mut self, limit: Option<usize>) {
        self.entries.set_limit(limit);
    }

    /// Entries retained.
    pub fn retained(&self) -> usize {
        self.entries.retained()
    }

    /// Entries forgotten because of the retention limit.
    pub fn dropped(&self) -> u64 {
        self.entries.dropped()
    }
}
