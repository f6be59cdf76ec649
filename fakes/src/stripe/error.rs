//! Every way a request to the Stripe fake can fail, and the one place that turns a failure into
//! Stripe's error JSON (`{"error": {"type", "code", "message", "param", ...}}`) and status code.
//!
//! Handlers return `Result<Value, ApiError>`; nothing else builds error bodies, so every error
//! the fake sends has the shape Stripe's clients parse (`stripe.error.CardError` and friends).

use serde_json::{Map, Value, json};

/// A failed API request, in Stripe's vocabulary.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 401: no key, or a key that is not a test secret key.
    #[error("{0}")]
    Unauthenticated(String),
    /// 400 `invalid_request_error` with `param`: unknown, malformed or missing parameter.
    #[error("{message}")]
    InvalidParam { param: String, message: String, code: &'static str },
    /// 400 `invalid_request_error` without a parameter (e.g. a state transition that is not allowed).
    #[error("{0}")]
    InvalidRequest(String),
    /// 404 `resource_missing` for an id in the path or in a parameter.
    #[error("No such {kind}: '{id}'")]
    NoSuchObject { kind: &'static str, id: String, param: String },
    /// 404 `invoice_upcoming_none`: a preview of an invoice that will not come.
    #[error("{0}")]
    NoUpcomingInvoice(String),
    /// 404 for a path (or a method on a path) the fake does not serve, in Stripe's words.
    #[error(
        "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
    )]
    UnknownRoute { method: String, path: String },
    /// 400 `idempotency_error`: the key was used with different parameters.
    #[error("{0}")]
    IdempotencyMismatch(String),
    /// 402 `card_error` from charging or setting up a test card that declines. Carries what
    /// Stripe's error object carries: the failed charge's id, and the PaymentIntent or
    /// SetupIntent and the payment method, whole.
    #[error("{message}")]
    Card {
        code: String,
        decline_code: Option<String>,
        message: String,
        charge: Option<String>,
        payment_intent: Option<Box<Value>>,
        setup_intent: Option<Box<Value>>,
        payment_method: Option<Box<Value>>,
    },
    /// Any status, type and code, as asked for by an injected fault.
    #[error("{message}")]
    Injected { status: u16, kind: String, code: Option<String>, message: String },
}

impl ApiError {
    /// A parameter error with Stripe's wording.
    pub fn param(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidParam { param: param.into(), message: message.into(), code: "parameter_invalid" }
    }

    /// `Missing required param: {param}.`
    pub fn missing(param: &str) -> Self {
        ApiError::InvalidParam {
            param: param.to_string(),
            message: format!("Missing required param: {param}."),
            code: "parameter_missing",
        }
    }

    /// `Received unknown parameter: {param}`
    pub fn unknown(param: &str) -> Self {
        ApiError::InvalidParam {
            param: param.to_string(),
            message: format!("Received unknown parameter: {param}"),
            code: "parameter_unknown",
        }
    }

    /// An unknown id named in the URL path (param `id`).
    pub fn no_such(kind: &'static str, id: &str) -> Self {
        ApiError::NoSuchObject { kind, id: id.to_string(), param: "id".to_string() }
    }

    /// An unknown id given in a body parameter.
    pub fn no_such_in(kind: &'static str, id: &str, param: &str) -> Self {
        ApiError::NoSuchObject { kind, id: id.to_string(), param: param.to_string() }
    }

    /// The HTTP status Stripe uses for this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unauthenticated(_) => 401,
            ApiError::InvalidParam { .. } | ApiError::InvalidRequest(_) | ApiError::IdempotencyMismatch(_) => 400,
            ApiError::NoSuchObject { .. } | ApiError::UnknownRoute { .. } | ApiError::NoUpcomingInvoice(_) => 404,
            ApiError::Card { .. } => 402,
            ApiError::Injected { status, .. } => *status,
        }
    }

    /// Stripe's error body: `{"error": {...}}`.
    pub fn body(&self, request_id: &str) -> Value {
        let mut error = Map::new();
        let message = self.to_string();
        let (kind, code, param): (&str, Option<&str>, Option<&str>) = match self {
            ApiError::Unauthenticated(_) => ("invalid_request_error", None, None),
            ApiError::InvalidParam { param, code, .. } => ("invalid_request_error", Some(*code), Some(param)),
            ApiError::InvalidRequest(_) => ("invalid_request_error", None, None),
            ApiError::NoSuchObject { param, .. } => ("invalid_request_error", Some("resource_missing"), Some(param)),
            ApiError::UnknownRoute { .. } => ("invalid_request_error", None, None),
            ApiError::NoUpcomingInvoice(_) => ("invalid_request_error", Some("invoice_upcoming_none"), None),
            ApiError::IdempotencyMismatch(_) => ("idempotency_error", None, None),
            ApiError::Card { code, decline_code, charge, payment_intent, setup_intent, payment_method, .. } => {
                if let Some(decline_code) = decline_code {
                    error.insert("decline_code".into(), json!(decline_code));
                }
                if let Some(charge) = charge {
                    error.insert("charge".into(), json!(charge));
                }
                if let Some(pi) = payment_intent {
                    error.insert("payment_intent".into(), (**pi).clone());
                }
                if let Some(si) = setup_intent {
                    error.insert("setup_intent".into(), (**si).clone());
                }
                if let Some(pm) = payment_method {
                    error.insert("payment_method".into(), (**pm).clone());
                }
                ("card_error", Some(code.as_str()), None)
            }
            ApiError::Injected { kind, code, .. } => (kind.as_str(), code.as_deref(), None),
        };
        error.insert("type".into(), json!(kind));
        error.insert("message".into(), json!(message));
        if let Some(code) = code {
            error.insert("code".into(), json!(code));
            error.insert("doc_url".into(), json!(format!("https://stripe.com/docs/error-codes/{code}")));
        }
        if let Some(param) = param {
            error.insert("param".into(), json!(param));
        }
        error.insert("request_log_url".into(), json!(format!("https://dashboard.stripe.com/test/logs/{request_id}")));
        json!({ "error": error })
    }
}
