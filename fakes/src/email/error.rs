//! Everything that can go wrong on the e-mail API, as one error type turned into the JSON answer
//! in one place. Below both the routes (`api`) and the validation (`message`), so neither imports
//! the other.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything that can go wrong on the e-mail API.
#[derive(Debug, thiserror::Error)]
pub enum EmailApiError {
    /// No `Authorization: Bearer <token>` header.
    #[error("missing or empty bearer token in the Authorization header")]
    Unauthorized,
    /// The body was not the expected JSON.
    #[error("invalid JSON body: {0}")]
    BadJson(String),
    /// A field failed validation.
    #[error("invalid field '{field}': {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// An injected failure.
    #[error("the e-mail service is unavailable (injected failure)")]
    Unavailable,
}

impl IntoResponse for EmailApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            EmailApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            EmailApiError::BadJson(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            EmailApiError::InvalidField { .. } => (StatusCode::BAD_REQUEST, "invalid_field"),
            EmailApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        let field = match &self {
            EmailApiError::InvalidField { field, .. } => json!(field),
            _ => serde_json::Value::Null,
        };
        (status, Json(json!({ "error": { "code": code, "message": self.to_string(), "field": field } })))
            .into_response()
    }
}
