//! The edge where request bodies become domain types.
//!
//! [`JsonObject`] reads a body as a JSON object: invalid JSON is a 400, a body over the limit a
//! 413, a non-JSON content type a 415. [`Fields`] then takes the fields one by one, collects
//! every problem (missing, wrong type, invalid value, unknown field) and turns them into one
//! 422 listing them all, so a client can fix its request in one go.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};

use crate::app::AppState;
use crate::error::{ApiError, FieldErrors};

/// A request body that is a JSON object. An empty body reads as `{}`, so endpoints whose
/// fields are all optional accept no body at all.
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest<AppState> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type =
            req.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).map(str::to_ascii_lowercase);
        if let Some(content_type) = &content_type {
            let essence = content_type.split(';').next().unwrap_or_default().trim();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "the request body must be JSON (Content-Type: application/json), not `{essence}`"
                )));
            }
        }
        let limit = state.config.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse_object(&bytes).map(JsonObject)
    }
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::MalformedJson(format!("expected a JSON object, got {}", json_type(&other)))),
        Err(err) => Err(ApiError::MalformedJson(err.to_string())),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads fields out of a JSON object, collecting every problem.
pub struct Fields {
    map: Map<String, Value>,
    taken: BTreeSet<String>,
    errors: FieldErrors,
}

impl Fields {
    pub fn new(body: JsonObject) -> Fields {
        Fields { map: body.0, taken: BTreeSet::new(), errors: FieldErrors::new() }
    }

    fn take(&mut self, name: &str) -> Option<&Value> {
        self.taken.insert(name.to_string());
        self.map.get(name).filter(|value| !value.is_null())
    }

    pub fn error(&mut self, name: &str, problem: impl Into<String>) {
        self.errors.entry(name.to_string()).or_insert_with(|| problem.into());
    }

    /// A string field that must be present.
    pub fn required_str(&mut self, name: &str) -> Option<String> {
        let value = self.optional_str(name);
        if value.is_none() && !self.errors.contains_key(name) {
            self.error(name, "is required");
        }
        value
    }

    pub fn optional_str(&mut self, name: &str) -> Option<String> {
        match self.take(name).cloned() {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                self.error(name, format!("must be a string, not {}", json_type(&other)));
                None
            }
        }
    }

    pub fn optional_bool(&mut self, name: &str) -> Option<bool> {
        match self.take(name).cloned() {
            None => None,
            Some(Value::Bool(b)) => Some(b),
            Some(other) => {
                self.error(name, format!("must be true or false, not {}", json_type(&other)));
                None
            }
        }
    }

    pub fn optional_u64(&mut self, name: &str) -> Option<u64> {
        match self.take(name).cloned() {
            None => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(other) => {
                self.error(name, format!("must be a whole number ≥ 0, not {}", json_type(&other)));
                None
            }
        }
    }

    pub fn optional_str_list(&mut self, name: &str) -> Option<Vec<String>> {
        match self.take(name).cloned() {
            None => None,
            Some(Value::Array(items)) => {
                let strings: Option<Vec<String>> =
                    items.into_iter().map(|item| item.as_str().map(str::to_string)).collect();
                if strings.is_none() {
                    self.error(name, "must be a list of strings");
                }
                strings
            }
            Some(other) => {
                self.error(name, format!("must be a list of strings, not {}", json_type(&other)));
                None
            }
        }
    }

    /// Parses a value already read with one of the getters into a domain type.
    pub fn parse<T>(
        &mut self,
        name: &str,
        value: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(value.as_deref()?) {
            Ok(parsed) => Some(parsed),
            Err(problem) => {
                self.error(name, problem);
                None
            }
        }
    }

    /// Ends reading: fails with every problem found, including fields nobody asked for.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let unknown: Vec<String> = self.map.keys().filter(|key| !self.taken.contains(*key)).cloned().collect();
        for key in unknown {
            self.error(&key, "is not a known field");
        }
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.errors)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        let Value::Object(map) = value else { panic!("test body must be an object") };
        Fields::new(JsonObject(map))
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut f = fields(json!({"email": 5, "extra": true}));
        assert!(f.required_str("email").is_none());
        assert!(f.required_str("name").is_none());
        let Err(ApiError::Validation(errors)) = f.finish() else { panic!("expected 422") };
        assert_eq!(errors["email"], "must be a string, not a number");
        assert_eq!(errors["name"], "is required");
        assert_eq!(errors["extra"], "is not a known field");
    }

    #[test]
    fn null_counts_as_absent() {
        let mut f = fields(json!({"source": null}));
        assert_eq!(f.optional_str("source"), None);
        assert!(f.finish().is_ok());
    }

    #[test]
    fn malformed_and_non_object_bodies_are_400() {
        assert!(matches!(parse_object(b"{\"a\":"), Err(ApiError::MalformedJson(_))));
        assert!(matches!(parse_object(b"[1]"), Err(ApiError::MalformedJson(_))));
        assert!(parse_object(b"  ").unwrap().is_empty());
    }
}
