//! The service's requests as values: method, path, headers and body, built in one place.
//!
//! The typed [`ApiClient`](crate::client::ApiClient) sends them with reqwest; the load tool sends the
//! same values over its own keep-alive connections so goose can time each one. Answers are
//! read back with [`ApiRequest::decode`], so both sides agree on what success looks like.

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An answer that was not a success.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path} answered {status}: {body}")]
pub struct ApiFailure {
    pub method: String,
    pub path: String,
    pub status: StatusCode,
    pub body: Value,
}

impl ApiFailure {
    /// `error.code` of the JSON error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

/// One request to the service, not yet sent.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Path and query, from the service's root (`/api/v1/usage?limit=3`).
    pub path: String,
    /// Headers besides authentication, which the sender adds for its key.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body, already encoded (JSON unless a header says otherwise).
    pub body: Option<Bytes>,
}

impl ApiRequest {
    fn new(method: Method, path: impl Into<String>) -> ApiRequest {
        ApiRequest { method, path: path.into(), headers: Vec::new(), body: None }
    }

    fn json(mut self, body: &Value) -> ApiRequest {
        self.body = Some(Bytes::from(serde_json::to_vec(body).expect("a JSON value always serializes")));
        self.headers.push((reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json")));
        self
    }

    /// Any request with an optional JSON body.
    pub fn any(method: Method, path: &str, body: Option<&Value>) -> ApiRequest {
        let request = ApiRequest::new(method, path);
        match body {
            Some(body) => request.json(body),
            None => request,
        }
    }

    /// `POST /api/v1/customers`.
    pub fn signup(email: &str, name: &str, source: Option<&str>) -> ApiRequest {
        let mut body = json!({ "email": email, "name": name });
        if let Some(source) = source {
            body["source"] = json!(source);
        }
        ApiRequest::new(Method::POST, "/api/v1/customers").json(&body)
    }

    /// `GET /api/v1/usage`, one page of the ledger (`limit` entries older than `before`).
    pub fn usage(limit: Option<u32>, before: Option<i64>) -> ApiRequest {
        let mut query = Vec::new();
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(before) = before {
            query.push(format!("before={before}"));
        }
        let path =
            if query.is_empty() { "/api/v1/usage".to_string() } else { format!("/api/v1/usage?{}", query.join("&")) };
        ApiRequest::new(Method::GET, path)
    }

    /// `POST /api/v1/credentials/exchange`; `ttl_seconds` is left out when `None`.
    pub fn exchange_credentials(providers: &[&str], ttl_seconds: Option<u64>) -> ApiRequest {
        let mut body = json!({ "providers": providers });
        if let Some(ttl) = ttl_seconds {
            body["ttl_seconds"] = json!(ttl);
        }
        ApiRequest::new(Method::POST, "/api/v1/credentials/exchange").json(&body)
    }

    /// `POST /api/v1/api-keys` (unnamed).
    pub fn create_api_key() -> ApiRequest {
        ApiRequest::new(Method::POST, "/api/v1/api-keys").json(&json!({}))
    }

    /// `POST /api/v1/billing/payment-method` with consent given (or not).
    pub fn add_payment_method(payment_method: &str, consent: bool) -> ApiRequest {
        let body = json!({ "payment_method_id": payment_method, "billing_consent": consent });
        ApiRequest::new(Method::POST, "/api/v1/billing/payment-method").json(&body)
    }

    /// `POST /api/v1/billing/subscription` for Pro.
    pub fn subscribe_to_pro() -> ApiRequest {
        ApiRequest::new(Method::POST, "/api/v1/billing/subscription").json(&json!({ "plan": "pro" }))
    }

    /// `POST /api/webhooks/stripe`: an event payload exactly as signed, with its `Stripe-Signature`.
    pub fn stripe_webhook(payload: Bytes, signature: &str) -> ApiRequest {
        let mut request = ApiRequest::new(Method::POST, "/api/webhooks/stripe");
        request.headers.push((reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json")));
        if let Ok(value) = HeaderValue::from_str(signature) {
            request.headers.push((HeaderName::from_static("stripe-signature"), value));
        }
        request.body = Some(payload);
        request
    }

    /// `GET /healthz`.
    pub fn healthz() -> ApiRequest {
        ApiRequest::new(Method::GET, "/healthz")
    }

    /// `GET /metrics`.
    pub fn metrics() -> ApiRequest {
        ApiRequest::new(Method::GET, "/metrics")
    }

    /// Reads an answer to this request: the parsed body on a 2xx, else an [`ApiFailure`] with
    /// the status and the JSON error body.
    pub fn decode<T: DeserializeOwned>(&self, status: StatusCode, body: &[u8]) -> Result<T, ApiFailure> {
        let failure =
            |status, body| ApiFailure { method: self.method.to_string(), path: self.path.clone(), status, body };
        if !status.is_success() {
            return Err(failure(status, body_value(body)));
        }
        serde_json::from_slice(body).map_err(|err| {
            failure(
                status,
                json!({ "error": { "code": "unexpected_body", "message": err.to_string() }, "body": body_value(body) }),
            )
        })
    }
}

/// A body as JSON when it is JSON, else as a string (so a failure can always show it).
pub fn body_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()))
    }
}
