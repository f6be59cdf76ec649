//! The service's one error type, and its mapping to HTTP.
//!
//! Every handler returns `Result<_, ApiError>`; the JSON error body
//! `{"error": {"code": "...", "message": "...", "fields": {...}}}` is written in exactly one
//! place, the `IntoResponse` impl below. Messages say what went wrong and how to fix it;
//! internal details (SQL errors, Stripe's raw answers) are logged, never returned.
//!
//! What axum itself answers (a 413 from a body limit, a 400 from a path that does not decode, a
//! 405) is plain text; [`errors_are_json`] rewrites any such error into the same JSON shape, so
//! a client never has to parse two kinds of error.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::metrics::Metrics;
use crate::rate_limit::RetryAfter;
use crate::stripe::StripeError;

/// Field name → what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

/// The body of every error response (the OpenAPI document's `Error`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, and what to do about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code, such as `validation_failed` or `rate_limited`.
    pub code: String,
    /// What happened and what to do, for a person.
    pub message: String,
    /// With `validation_failed`: each invalid field (or query parameter) and what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub fields: Option<FieldErrors>,
    /// With `card_declined`: Stripe's decline code, such as `insufficient_funds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub decline_code: Option<String>,
}

impl ErrorBody {
    fn new(code: &str, message: String) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code: code.to_string(), message, fields: None, decline_code: None } }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// A request that cannot be understood (a bad header, a bad query string).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// A well-formed request that cannot be carried out as asked.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("{0}")]
    RequestTimeout(String),
    #[error("the request body has invalid fields")]
    Validation(FieldErrors),
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    BadSignature(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    PaymentRequired { code: &'static str, message: String },
    /// The card was declined: nothing was charged.
    #[error("{message}")]
    CardDeclined { decline_code: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("this route does not accept the {0} method")]
    MethodNotAllowed(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("too many requests: retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The service cannot take this request now (a bounded resource is full); nothing was done.
    #[error("{message}")]
    Busy { message: String, retry_after_secs: u64 },
    /// A charge was started and its outcome is not known yet: it is recorded as pending and
    /// will be settled; the message says how the client learns the result.
    #[error("{0}")]
    PaymentOutcomeUnknown(String),
    #[error("the payment provider failed: {0}")]
    Stripe(#[from] StripeError),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A request refused by the rate limit named `limit`: counted in the metrics under that
    /// name, and a 429 that says how long to wait.
    pub fn rate_limited(metrics: &Metrics, limit: &'static str, retry_after: RetryAfter) -> ApiError {
        metrics.rate_limited(limit);
        ApiError::RateLimited { retry_after_secs: retry_after.whole_secs() }
    }

    /// A single-field validation error.
    pub fn field(name: &str, problem: impl Into<String>) -> ApiError {
        ApiError::Validation(FieldErrors::from([(name.to_string(), problem.into())]))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::BadSignature(_) | ApiError::BadRequest { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Validation(_) | ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PaymentOutcomeUnknown(_) => StatusCode::BAD_GATEWAY,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::PaymentRequired { .. } | ApiError::CardDeclined { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Stripe(err) if err.is_card_error() => StatusCode::PAYMENT_REQUIRED,
            ApiError::Stripe(StripeError::Busy) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Stripe(_) => StatusCode::BAD_GATEWAY,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::BadSignature(_) => "invalid_signature",
            ApiError::Validation(_) => "validation_failed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::PaymentRequired { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::BadRequest { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::CardDeclined { .. } => "card_declined",
            ApiError::Busy { .. } => "busy",
            ApiError::PaymentOutcomeUnknown(_) => "payment_outcome_unknown",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Stripe(err) if err.is_card_error() => "card_declined",
            ApiError::Stripe(StripeError::Busy) => "busy",
            ApiError::Stripe(_) => "payment_provider_unavailable",
            ApiError::Database(_) | ApiError::Internal(_) => "internal_error",
        }
    }

    fn public_message(&self) -> String {
        match self {
            ApiError::Validation(fields) => {
                let names: Vec<&str> = fields.keys().map(String::as_str).collect();
                format!("invalid fields: {}; see `fields` for what to change", names.join(", "))
            }
            ApiError::Stripe(err) if err.is_card_error() => err.decline_message(),
            ApiError::Stripe(StripeError::Busy) => {
                "the service has too many payment-provider calls in flight: nothing was sent; retry in a moment".into()
            }
            ApiError::Stripe(_) => {
                "the payment provider (Stripe) did not answer properly: retry in a moment (retrying is safe: nothing is done twice)"
                    .into()
            }
            ApiError::Database(_) | ApiError::Internal(_) => {
                "an internal error happened: retry the request (with the same Idempotency-Key, if it had one), and report it if it persists"
                    .into()
            }
            other => other.to_string(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        match error {
            // Every connection is busy: a transient overload, not a fault; nothing was done.
            sqlx::Error::PoolTimedOut => ApiError::Busy {
                message: "the service has no free database connection right now: nothing was done; retry in a moment"
                    .into(),
                retry_after_secs: 1,
            },
            // The database cannot be reached (down, restarting, the network): the request may
            // or may not have been recorded if this struck at commit, so no promise is made.
            sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => ApiError::Busy {
                message: "the service cannot reach its database right now: retry in a moment (with the same Idempotency-Key, if the request had one, so it is never done twice)".into(),
                retry_after_secs: 1,
            },
            other => ApiError::Database(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut body = ErrorBody::new(self.code(), self.public_message());
        match &self {
            ApiError::Validation(fields) => body.error.fields = Some(fields.clone()),
            ApiError::Stripe(err) if err.is_card_error() => {
                body.error.decline_code = err.decline_code().map(str::to_string)
            }
            ApiError::CardDeclined { decline_code, .. } => body.error.decline_code = Some(decline_code.clone()),
            _ => {}
        }
        let mut response = (status, Json(body)).into_response();
        let retry_after = match &self {
            ApiError::RateLimited { retry_after_secs } | ApiError::Busy { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            ApiError::Stripe(StripeError::Busy) => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The JSON answer in place of one hyper writes itself, when it cannot parse a request at all
/// (so no handler or middleware sees it): 400 for a malformed request line or header, 414 for a
/// URI too long, 431 for headers too large. hyper writes those as a bare head with
/// `content-length: 0`; `head` is what it wrote, and the answer is the same head with the JSON
/// error shape as its body (and `connection: close`: hyper closes the connection after them).
/// `None` for anything else — every answer of the router has a body, so none is touched.
pub fn json_for_unparsed_request(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?.strip_suffix("\r\n\r\n")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let (code, message) = match status_line.strip_prefix("HTTP/1.1 ")?.get(..3)? {
        "400" => ("bad_request", "the request is not valid HTTP/1.1 (its request line or a header is malformed)"),
        "414" => ("uri_too_long", "the request's URI is too long"),
        "431" => ("headers_too_large", "the request's headers are too large or too many"),
        _ => return None,
    };
    let headers: Vec<&str> = lines.collect();
    let is = |line: &str, name: &str| line.split_once(':').is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name));
    let empty = headers.iter().any(|line| is(line, "content-length") && line.ends_with(": 0"));
    if !empty || headers.iter().any(|line| is(line, "content-type") || is(line, "transfer-encoding")) {
        return None;
    }
    let body = serde_json::to_vec(&ErrorBody::new(code, message.to_string())).ok()?;
    let mut answer = format!("{status_line}\r\n");
    for line in headers.iter().filter(|line| !is(line, "content-length") && !is(line, "connection")) {
        answer.push_str(line);
        answer.push_str("\r\n");
    }
    answer.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut answer = answer.into_bytes();
    answer.extend_from_slice(&body);
    Some(answer)
}

/// An error response that is not JSON (axum's own rejections and fallbacks answer in plain
/// text) becomes the JSON error shape, with the same status and headers; any other response is
/// returned as it is. Every answer goes through it ([`crate::http::edge::Edge`]).
pub async fn errors_are_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4_096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let detail: String = text.lines().next().unwrap_or_default().chars().take(300).collect();
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("payload_too_large", "the request body is larger than this route accepts".to_string())
        }
        StatusCode::NOT_FOUND => ("not_found", "no such resource: see the README for the API".to_string()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this route does not accept that method".to_string()),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long to arrive".to_string()),
        status if status.is_server_error() => {
            ("internal_error", "an internal error happened: retry, and report it if it persists".to_string())
        }
        _ if detail.is_empty() => ("bad_request", "the request could not be understood".to_string()),
        _ => ("bad_request", format!("the request could not be understood: {detail}")),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = serde_json::to_vec(&ErrorBody::new(code, message)).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_own_bare_answers_get_the_json_error_shape() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 26 Nov 2026 10:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(json_for_unparsed_request(head).unwrap()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains("content-type: application/json") && head.contains("connection: close"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())) && head.contains("date: "), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "headers_too_large");
        for status in ["400 Bad Request", "414 URI Too Long"] {
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            assert!(json_for_unparsed_request(head.as_bytes()).is_some(), "{status}");
        }
    }

    #[test]
    fn no_other_answer_is_touched() {
        for head in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
            b"{\"error\": \"HTTP/1.1 400\"}",
        ] {
            assert!(json_for_unparsed_request(head).is_none(), "{}", String::from_utf8_lossy(head));
        }
    }
}
