//! The request log: one entry per request the fake received, so tests can assert what a client
//! actually sent (`params` is the parsed form or query tree) and what it got back.

use serde::Serialize;
use serde_json::Value;

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// The path without the query string (`/v1/customers/cus_123`).
    pub path: String,
    /// Parsed form body or query string, nested (`{"metadata": {"plan": "pro"}}`).
    pub params: Value,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
    /// The status answered; `0` when an injected fault dropped the connection.
    pub status: u16,
}
