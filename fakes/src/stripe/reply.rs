//! A successful answer's body: a JSON value to serialize, or bytes already serialized (a replayed
//! idempotent response, or an object the handler serialized anyway to store it).

use bytes::Bytes;
use serde_json::Value;

/// The body of a 2xx (or stored) response.
pub enum Reply {
    /// To be serialized after the store lock is released.
    Json(Value),
    /// Ready to send.
    Text(Bytes),
}

impl From<Value> for Reply {
    fn from(value: Value) -> Self {
        Reply::Json(value)
    }
}
