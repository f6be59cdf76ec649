//! What the fake answers with: a handler's body ([`Reply`]: a value to serialize, or text it
//! already has) and the HTTP response carrying Stripe's headers. Both the API pipeline and the
//! control API build their responses here.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::versions::{ApiVersion, SHAPES_HEADER};

/// The body of a 2xx (or stored) response.
pub enum Reply {
    /// To be serialized after the store lock is released.
    Json(Value),
    /// Ready to send (a replayed response, or an object's stored text).
    Text(Bytes),
}

impl From<Value> for Reply {
    fn from(value: Value) -> Self {
        Reply::Json(value)
    }
}

/// Stored text handed to hyper without a copy.
struct SharedText(Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A response body sharing an object's stored text.
pub fn shared_bytes(text: Arc<str>) -> Bytes {
    Bytes::from_owner(SharedText(text))
}

/// The HTTP response type of the fake.
pub type HttpResponse = Response<Full<Bytes>>;

/// A JSON response with Stripe's usual headers (`Request-Id`, `Stripe-Version`: the version asked
/// for) and the fake's own [`SHAPES_HEADER`] (the known release whose shapes answered).
pub fn json_response(status: u16, body: Bytes, request_id: &str, version: &ApiVersion) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let shapes = HeaderValue::from_static(version.shapes());
    // A version is well formed (ASCII digits, dashes, a dot, letters) by the time it gets here.
    let name = if version.is_known() {
        shapes.clone()
    } else {
        HeaderValue::from_str(version.name()).unwrap_or(shapes.clone())
    };
    headers.insert("stripe-version", name);
    headers.insert(SHAPES_HEADER, shapes);
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("request-id", value);
    }
    response
}

/// Serializes a typed object into text to store, in a buffer sized for it up front (growing a
/// small buffer step by step was a tenth of a charge's cost).
pub fn to_text<T: serde::Serialize>(object: &T, expected_len: usize) -> std::sync::Arc<str> {
    let mut buffer = Vec::with_capacity(expected_len);
    if serde_json::to_writer(&mut buffer, object).is_err() {
        return "{}".into();
    }
    // serde_json writes only valid UTF-8.
    String::from_utf8(buffer).map(Into::into).unwrap_or_else(|_| "{}".into())
}

/// Serializes a JSON value; serde_json cannot fail on `Value`.
pub fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
