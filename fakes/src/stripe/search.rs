//! Stripe's search query language, the subset a billing service uses, and running a query over
//! the store (`GET /v1/customers/search`).
//!
//! A query is clauses joined by `AND` or by `OR` (not both, as in Stripe): `field:'value'` (exact,
//! case-insensitive for text), `field~'value'` (contains, at least 3 characters),
//! `metadata['key']:'value'` (exact), `created>1700000000` (also `<`, `>=`, `<=`, `:`), each
//! optionally negated with a leading `-`. Values are quoted with `'` or `"` (`\` escapes a quote);
//! numbers may be bare. Anything else is a 400 naming `query` that says what was wrong.
//!
//! A positive `email:` or `metadata[...]:` clause of an `AND` query is answered from an index, so
//! such searches stay fast at a million customers; other queries scan. Results are newest first;
//! `next_page` is an opaque cursor for the `page` parameter.

use base64::Engine;
use serde_json::{Value, json};

use super::error::ApiError;
use super::kinds::Kind;
use super::params::Params;
use super::store::{IndexedClause, Store};

/// The fields customers can be searched by, and whether each is text (else a number).
pub const CUSTOMER_FIELDS: &[(&str, FieldType)] = &[
    ("email", FieldType::Text),
    ("name", FieldType::Text),
    ("phone", FieldType::Text),
    ("created", FieldType::Number),
];

/// What a searchable field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Compared as text.
    Text,
    /// Compared as a number.
    Number,
}

/// How a clause compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    Contains,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

/// What a clause looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A top-level field.
    Field(String),
    /// `metadata['key']`.
    Metadata(String),
}

/// One `field:value` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    target: Target,
    op: Op,
    value: String,
    negated: bool,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    clauses: Vec<Clause>,
    /// `OR` (any clause) rather than `AND` (every clause).
    any: bool,
}

fn invalid(query: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::param(
        "query",
        format!(
            "Invalid search query `{query}`: {why}. Write clauses such as email:'a@b.co' or metadata['key']:'value', \
             joined by AND (or by OR); see https://stripe.com/docs/search#search-query-language."
        ),
    )
}

/// Parses `text` for a resource whose searchable fields are `fields` (metadata is always allowed).
pub fn parse(text: &str, fields: &[(&str, FieldType)]) -> Result<Query, ApiError> {
    let mut rest = text.trim();
    let mut clauses = Vec::new();
    let mut joiners = Vec::new();
    loop {
        let (clause, after) = parse_clause(text, rest, fields)?;
        clauses.push(clause);
        rest = after.trim_start();
        if rest.is_empty() {
            break;
        }
        let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        match word {
            "AND" | "OR" => joiners.push(word),
            other => return Err(invalid(text, format_args!("expected AND or OR, found `{other}`"))),
        }
        rest = after.trim_start();
        if rest.is_empty() {
            return Err(invalid(text, format_args!("nothing follows the last {word}")));
        }
    }
    if joiners.contains(&"AND") && joiners.contains(&"OR") {
        return Err(invalid(text, "AND and OR cannot be mixed in one query"));
    }
    if clauses.len() > 10 {
        return Err(invalid(text, "a query has at most 10 clauses"));
    }
    Ok(Query { clauses, any: joiners.contains(&"OR") })
}

fn parse_clause<'t>(query: &str, text: &'t str, fields: &[(&str, FieldType)]) -> Result<(Clause, &'t str), ApiError> {
    let (negated, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (target, text) = if let Some(rest) = text.strip_prefix("metadata[") {
        let (key, rest) = quoted(query, rest)?;
        let rest = rest.strip_prefix(']').ok_or_else(|| invalid(query, "metadata['key'] needs its closing ]"))?;
        (Target::Metadata(key), rest)
    } else {
        let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(text.len());
        let name = &text[..end];
        if name.is_empty() {
            return Err(invalid(query, format_args!("expected a field name at `{text}`")));
        }
        if !fields.iter().any(|(field, _)| *field == name) {
            let known: Vec<&str> = fields.iter().map(|(field, _)| *field).collect();
            return Err(invalid(
                query,
                format_args!("`{name}` is not a searchable field here (use {} or metadata['key'])", known.join(", ")),
            ));
        }
        (Target::Field(name.to_string()), &text[end..])
    };
    let (op, text) = [
        (">=", Op::GreaterOrEqual),
        ("<=", Op::LessOrEqual),
        (":", Op::Equals),
        ("~", Op::Contains),
        (">", Op::Greater),
        ("<", Op::Less),
    ]
    .into_iter()
    .find_map(|(symbol, op)| text.strip_prefix(symbol).map(|rest| (op, rest)))
    .ok_or_else(|| invalid(query, format_args!("expected :, ~, >, <, >= or <= after the field at `{text}`")))?;
    let (value, rest) = if text.starts_with(['\'', '"']) {
        quoted(query, text)?
    } else {
        let end = text.find(char::is_whitespace).unwrap_or(text.len());
        let bare = &text[..end];
        if bare.is_empty() || bare.parse::<i64>().is_err() {
            return Err(invalid(query, format_args!("values must be quoted ('…'); found `{bare}`")));
        }
        (bare.to_string(), &text[end..])
    };
    let field_type = match &target {
        Target::Metadata(_) => FieldType::Text,
        Target::Field(name) => fields.iter().find(|(f, _)| f == name).map(|(_, t)| *t).unwrap_or(FieldType::Text),
    };
    let numeric = matches!(op, Op::Greater | Op::GreaterOrEqual | Op::Less | Op::LessOrEqual);
    if numeric && field_type != FieldType::Number {
        return Err(invalid(query, "only numeric fields (created) can be compared with >, <, >= or <="));
    }
    if field_type == FieldType::Number && value.parse::<i64>().is_err() {
        return Err(invalid(query, format_args!("`{value}` is not a number")));
    }
    if op == Op::Contains && (field_type != FieldType::Text || value.chars().count() < 3) {
        return Err(invalid(query, "~ needs a text field and at least 3 characters"));
    }
    Ok((Clause { target, op, value, negated }, rest))
}

/// A quoted value at the start of `text`, and what follows it.
fn quoted<'t>(query: &str, text: &'t str) -> Result<(String, &'t str), ApiError> {
    let mut chars = text.char_indices();
    let Some((_, quote @ ('\'' | '"'))) = chars.next() else {
        return Err(invalid(query, format_args!("expected a quoted value at `{text}`")));
    };
    let mut value = String::new();
    let mut escaped = false;
    for (at, c) in chars {
        match c {
            _ if escaped => {
                value.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            c if c == quote => return Ok((value, &text[at + c.len_utf8()..])),
            c => value.push(c),
        }
    }
    Err(invalid(query, "a quoted value is not closed"))
}

impl Clause {
    fn holds(&self, object: &Value) -> bool {
        let actual = match &self.target {
            Target::Metadata(key) => &object["metadata"][key.as_str()],
            Target::Field(name) => &object[name.as_str()],
        };
        let matched = match (self.op, actual) {
            (Op::Equals, Value::String(text)) if matches!(self.target, Target::Metadata(_)) => *text == self.value,
            (Op::Equals, Value::String(text)) => text.to_lowercase() == self.value.to_lowercase(),
            (Op::Contains, Value::String(text)) => text.to_lowercase().contains(&self.value.to_lowercase()),
            (op, Value::Number(number)) => {
                let (Some(actual), Ok(wanted)) = (number.as_i64(), self.value.parse::<i64>()) else { return false };
                match op {
                    Op::Equals => actual == wanted,
                    Op::Greater => actual > wanted,
                    Op::GreaterOrEqual => actual >= wanted,
                    Op::Less => actual < wanted,
                    Op::LessOrEqual => actual <= wanted,
                    Op::Contains => false,
                }
            }
            _ => false,
        };
        matched != self.negated
    }

    fn indexed(&self) -> Option<IndexedClause<'_>> {
        if self.negated || self.op != Op::Equals {
            return None;
        }
        match &self.target {
            Target::Field(name) if name == "email" => Some(IndexedClause::Field("email", &self.value)),
            Target::Metadata(key) => Some(IndexedClause::Metadata(key, &self.value)),
            Target::Field(_) => None,
        }
    }
}

impl Query {
    /// Whether an object matches.
    pub fn matches(&self, object: &Value) -> bool {
        if self.any {
            self.clauses.iter().any(|clause| clause.holds(object))
        } else {
            self.clauses.iter().all(|clause| clause.holds(object))
        }
    }
}

/// `limit` and `page` of a search request.
#[derive(Debug, Clone)]
pub struct SearchPage {
    limit: usize,
    /// Results start below this position (from a `next_page` cursor).
    before: u32,
}

impl SearchPage {
    /// Reads `limit` (1..=100, default 10) and `page`.
    pub fn take(params: &mut Params) -> Result<SearchPage, ApiError> {
        let limit = match params.integer("limit")? {
            None => 10,
            Some(n) if (1..=100).contains(&n) => n as usize,
            Some(n) => {
                return Err(ApiError::param("limit", format!("Invalid limit: {n}; it must be between 1 and 100.")));
            }
        };
        let before = match params.string("page")?.filter(|p| !p.is_empty()) {
            None => u32::MAX,
            Some(token) => decode_page(&token).ok_or_else(|| {
                ApiError::param(
                    "page",
                    format!("Invalid page: {token}. Pass the next_page value of a previous search."),
                )
            })?,
        };
        Ok(SearchPage { limit, before })
    }
}

fn encode_page(position: u32) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("page:{position}"))
}

fn decode_page(token: &str) -> Option<u32> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("page:")?.parse().ok()
}

/// Runs a query over the objects of `kind`: one page of a `search_result`.
pub fn run(store: &Store, kind: Kind, query: &Query, page: &SearchPage, url: &str) -> Result<Value, ApiError> {
    let driver = if query.any { None } else { query.clauses.iter().find_map(Clause::indexed) };
    let candidates: Box<dyn Iterator<Item = u32> + '_> =
        match driver.and_then(|clause| store.search_positions(kind, clause, page.before)) {
            Some(indexed) => indexed,
            None => Box::new(store.positions(kind, page.before)),
        };
    let mut found: Vec<(u32, Value)> = candidates
        .filter_map(|position| {
            let object: Value = serde_json::from_str(store.text_at(kind, position)?).ok()?;
            query.matches(&object).then_some((position, object))
        })
        .take(page.limit + 1)
        .collect();
    let has_more = found.len() > page.limit;
    found.truncate(page.limit);
    let next_page = if has_more { found.last().map(|(position, _)| encode_page(*position)) } else { None };
    let data: Vec<Value> = found.into_iter().map(|(_, object)| object).collect();
    Ok(json!({ "object": "search_result", "data": data, "has_more": has_more, "next_page": next_page, "url": url }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Query {
        parse(text, CUSTOMER_FIELDS).expect("valid query")
    }

    #[test]
    fn clauses_joined_by_and_must_all_hold() {
        let query = parsed("email:'Ada@Example.com' AND metadata['plan']:\"pro\"");
        let ada = json!({ "email": "ada@example.com", "metadata": { "plan": "pro" } });
        assert!(query.matches(&ada));
        assert!(!query.matches(&json!({ "email": "ada@example.com", "metadata": { "plan": "Pro" } })));
    }

    #[test]
    fn or_negation_substring_and_numbers_work() {
        let query = parsed("-name~'bot' OR created>=100");
        assert!(query.matches(&json!({ "name": "Ada", "created": 5 })));
        assert!(query.matches(&json!({ "name": "Robot", "created": 100 })));
        assert!(!query.matches(&json!({ "name": "Robot", "created": 99 })));
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        for (query, why) in [
            ("email:'a' AND name:'b' OR phone:'c'", "cannot be mixed"),
            ("colour:'red'", "not a searchable field"),
            ("email:ada", "must be quoted"),
            ("email:'ada", "not closed"),
            ("email:'a' AND", "nothing follows"),
            ("name~'ab'", "at least 3"),
            ("email>'a'", "only numeric"),
        ] {
            let error = parse(query, CUSTOMER_FIELDS).unwrap_err();
            assert!(error.to_string().contains(why), "{query}: {error}");
        }
    }

    #[test]
    fn a_page_cursor_round_trips() {
        assert_eq!(decode_page(&encode_page(41)), Some(41));
        assert_eq!(decode_page("garbage"), None);
    }
}
