//! The edge where requests become domain types.
//!
//! [`JsonObject`] reads a body as a JSON object: invalid JSON is a 400, a body over the limit a
//! 413, a body that trickles in slower than `BODY_READ_TIMEOUT_MS` a 408, a non-JSON content
//! type a 415. [`Fields`] then takes the fields one by one, collects every problem (missing,
//! wrong type, invalid value, unknown field) and turns them into one 422 listing them all, so a
//! client can fix its request in one go.
//!
//! [`StrictQuery`] does the same for a query string: every parameter known, none repeated,
//! each value valid — `?at_period_end=true&at_period_end=true` is a 422, never a silent default
//! that changes money.
//!
//! [`OptionalClientKey`] is the request's `Idempotency-Key`, validated, for a handler that honours
//! it. Each handler file (`crate::http::fixes`, …) reads its body with [`Fields`] into its request
//! type's `from_fields`.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};
use crate::idempotency::ClientKey;
use crate::state::AppState;

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
        let limit = state.config.server.max_body_bytes;
        let bytes = read_body(req, state, limit).await?;
        parse_object(&bytes).map(JsonObject)
    }
}

/// Reads a request body within `limit` bytes and `BODY_READ_TIMEOUT_MS`.
///
/// A `Content-Length` over the limit is refused before the body is touched: hyper sends a
/// client that asked `Expect: 100-continue` its "100 Continue" only once the body is read, so
/// such a client gets its 413 at once instead of being invited to send megabytes for nothing.
pub async fn read_body(req: Request, state: &AppState, limit: usize) -> Result<Bytes, ApiError> {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let timeout = state.config.server.body_read_timeout();
    let read = tokio::time::timeout(timeout, Bytes::from_request(req, state)).await.map_err(|_| {
        ApiError::RequestTimeout(format!(
            "the request body did not arrive within {} ms: send it at once (BODY_READ_TIMEOUT_MS)",
            timeout.as_millis()
        ))
    })?;
    read.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::MalformedJson(rejection.body_text())
        }
    })
}

/// The request's key (validated), for handlers that honour it.
pub struct OptionalClientKey(pub Option<ClientKey>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalClientKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        ClientKey::from_headers(&parts.headers).map(OptionalClientKey)
    }
}

/// A query string of known parameters, each at most once, percent-decoded.
#[derive(Debug, Default)]
pub struct StrictQuery {
    values: std::collections::BTreeMap<String, String>,
}

/// Most parameters read from one query string: a longer one is refused without reading on.
const MAX_QUERY_PARAMS: usize = 32;

impl StrictQuery {
    /// Parses `query` allowing only `known` parameters; anything else, or a repeat, is a 422
    /// naming the parameter.
    pub fn parse(query: Option<&str>, known: &[&str]) -> Result<StrictQuery, ApiError> {
        let mut values = std::collections::BTreeMap::new();
        let mut errors = FieldErrors::new();
        for (index, (name, value)) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()).enumerate() {
            if index >= MAX_QUERY_PARAMS {
                return Err(ApiError::field("query", format!("has more than {MAX_QUERY_PARAMS} parameters")));
            }
            if !known.contains(&name.as_ref()) {
                let allowed = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                errors
                    .entry(name.to_string())
                    .or_insert_with(|| format!("is not a known parameter (known: {allowed})"));
            } else if values.insert(name.to_string(), value.to_string()).is_some() {
                errors.insert(name.to_string(), "is given more than once: give it once".into());
            }
        }
        if errors.is_empty() { Ok(StrictQuery { values }) } else { Err(ApiError::Validation(errors)) }
    }

    /// `true` or `false`; absent is `default`; anything else is a 422.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.values.get(name).map(String::as_str) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(ApiError::field(name, "must be true or false")),
        }
    }

    /// A whole number within `range`; absent is `None`.
    pub fn integer(&self, name: &str, range: std::ops::RangeInclusive<i64>) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.values.get(name) else { return Ok(None) };
        match raw.parse::<i64>() {
            Ok(value) if range.contains(&value) => Ok(Some(value)),
            _ => Err(ApiError::field(
                name,
                format!("must be a whole number between {} and {}", range.start(), range.end()),
            )),
        }
    }
}

/// A float that is a whole number within `u64`, as that number.
fn whole_u64(value: f64) -> Option<u64> {
    // 2^64: the first whole number past u64::MAX (which as f64 would round up to it).
    const PAST_U64: f64 = 18_446_744_073_709_551_616.0;
    (value.fract() == 0.0 && (0.0..PAST_U64).contains(&value)).then_some(value as u64)
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<UniqueKeys>(bytes) {
        Ok(UniqueKeys(Value::Object(map))) => Ok(map),
        Ok(UniqueKeys(other)) => {
            Err(ApiError::MalformedJson(format!("expected a JSON object, got {}", json_type(&other))))
        }
        Err(err) => Err(ApiError::MalformedJson(err.to_string())),
    }
}

/// A JSON value whose objects name each key once (I-JSON, RFC 7493). A repeated key is an
/// error, never "the last one wins": `{"billing_consent": false, "billing_consent": true}` is not
/// a consent, it is a malformed request.
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<UniqueKeys, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor).map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "the key `{key}` appears more than once in an object: send each field once"
                )));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
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

    /// A whole number ≥ 0. JSON (and JSON Schema's `integer`) does not tell `300` from `300.0`,
    /// so a zero fraction is the same number; `300.5` or `-1` is not.
    pub fn optional_u64(&mut self, name: &str) -> Option<u64> {
        match self.take(name).cloned() {
            None => None,
            Some(Value::Number(n)) => {
                let whole = n.as_u64().or_else(|| n.as_f64().and_then(whole_u64));
                if whole.is_none() {
                    self.error(name, format!("must be a whole number ≥ 0, not {n}"));
                }
                whole
            }
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
    fn a_whole_number_with_a_zero_fraction_is_that_number() {
        // Found by schemathesis: `"ttl_seconds": 282.0` is an integer to JSON Schema, and was refused.
        let mut f = fields(json!({"a": 282.0, "b": 282, "c": 282.5, "d": -1, "e": 1e30, "f": "282"}));
        assert_eq!((f.optional_u64("a"), f.optional_u64("b")), (Some(282), Some(282)));
        for name in ["c", "d", "e", "f"] {
            assert_eq!(f.optional_u64(name), None, "{name}");
        }
        let Err(ApiError::Validation(errors)) = f.finish() else { panic!("expected 422") };
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["c", "d", "e", "f"]);
        assert_eq!(errors["c"], "must be a whole number ≥ 0, not 282.5");
    }

    #[test]
    fn null_counts_as_absent() {
        let mut f = fields(json!({"source": null}));
        assert_eq!(f.optional_str("source"), None);
        assert!(f.finish().is_ok());
    }

    #[test]
    fn a_repeated_or_unknown_query_parameter_is_refused() {
        let Err(ApiError::Validation(errors)) =
            StrictQuery::parse(Some("at_period_end=true&at_period_end=true"), &["at_period_end"])
        else {
            panic!("a repeated parameter must be refused")
        };
        assert!(errors["at_period_end"].contains("more than once"));
        let Err(ApiError::Validation(errors)) = StrictQuery::parse(Some("at_period_end=true&x=1"), &["at_period_end"])
        else {
            panic!("an unknown parameter must be refused")
        };
        assert!(errors["x"].contains("not a known parameter"));
        let query = StrictQuery::parse(Some("at_period_end=true"), &["at_period_end"]).unwrap();
        assert!(query.bool("at_period_end", false).unwrap());
        assert!(
            StrictQuery::parse(Some("at_period_end=yes"), &["at_period_end"])
                .unwrap()
                .bool("at_period_end", false)
                .is_err()
        );
        assert!(!StrictQuery::parse(None, &["at_period_end"]).unwrap().bool("at_period_end", false).unwrap());
    }

    #[test]
    fn query_values_are_percent_decoded_and_bounded() {
        let query = StrictQuery::parse(Some("limit=%31%30"), &["limit"]).unwrap();
        assert_eq!(query.integer("limit", 1..=200).unwrap(), Some(10));
        assert!(StrictQuery::parse(Some("limit=0"), &["limit"]).unwrap().integer("limit", 1..=200).is_err());
        let long: String = (0..40).map(|i| format!("p{i}=1&")).collect();
        assert!(StrictQuery::parse(Some(&long), &["p0"]).is_err());
    }

    #[test]
    fn a_key_given_twice_is_malformed_not_the_last_one_wins() {
        let Err(ApiError::MalformedJson(message)) =
            parse_object(br#"{"billing_consent":false,"billing_consent":true}"#)
        else {
            panic!("a repeated key must be refused")
        };
        assert!(message.contains("`billing_consent` appears more than once"), "{message}");
        assert!(parse_object(br#"{"a":{"b":1,"b":2}}"#).is_err(), "nested objects too");
        assert!(parse_object(br#"{"a":[{"b":1,"b":2}]}"#).is_err(), "and objects in lists");
        let parsed = parse_object(br#"{"a":1,"b":[1,-2,2.5,"x",null,true,{"a":{}}]}"#).unwrap();
        assert_eq!(Value::Object(parsed), serde_json::json!({"a":1,"b":[1,-2,2.5,"x",null,true,{"a":{}}]}));
    }

    #[test]
    fn malformed_and_non_object_bodies_are_400() {
        assert!(matches!(parse_object(b"{\"a\":"), Err(ApiError::MalformedJson(_))));
        assert!(matches!(parse_object(b"[1]"), Err(ApiError::MalformedJson(_))));
        assert!(parse_object(b"  ").unwrap().is_empty());
    }
}
