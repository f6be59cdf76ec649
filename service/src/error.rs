//! The service's one error type, and its mapping to HTTP.
//!
//! Every handler returns `Result<_, ApiError>`; the JSON error body
//! `{"error": {"code": "...", "message": "...", "fields": {...}}}` is written in exactly one
//! place, the `IntoResponse` impl below. Messages say what went wrong and how to fix it;
//! internal details (SQL errors, Stripe's raw answers) are logged, never returned.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::stripe::StripeError;

/// Field name → what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
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
    #[error("{0}")]
    NotFound(String),
    #[error("this route does not accept the {0} method")]
    MethodNotAllowed(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("too many requests: retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the payment provider failed: {0}")]
    Stripe(#[from] StripeError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A single-field validation error.
    pub fn field(name: &str, problem: impl Into<String>) -> ApiError {
        ApiError::Validation(FieldErrors::from([(name.to_string(), problem.into())]))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::BadSignature(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Stripe(err) if err.is_card_error() => StatusCode::PAYMENT_REQUIRED,
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
            ApiError::PaymentRequired { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Stripe(err) if err.is_card_error() => "card_declined",
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
            ApiError::Stripe(_) => {
                "the payment provider (Stripe) did not answer properly; nothing was changed, please retry in a moment"
                    .into()
            }
            ApiError::Database(_) | ApiError::Internal(_) => {
                "an internal error happened; nothing was changed, please retry, and report it if it persists".into()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut error = json!({ "code": self.code(), "message": self.public_message() });
        match &self {
            ApiError::Validation(fields) => error["fields"] = json!(fields),
            ApiError::Stripe(err) if err.is_card_error() => {
                error["decline_code"] = json!(err.decline_code());
            }
            _ => {}
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}
