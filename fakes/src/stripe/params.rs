//! Typed reading of one request's parameters, with Stripe's error for each way they can be wrong.
//!
//! A handler takes the fields it knows, one by one (`string`, `integer`, `boolean`, `object`,
//! `metadata`, ...), and calls [`Params::finish`] last: whatever is left was not understood and
//! becomes `Received unknown parameter: x`. Nested objects are read through a child `Params`
//! whose error messages name the full bracketed key (`invoice_settings[default_payment_method]`).

use serde_json::{Map, Value};

use super::error::ApiError;

/// The not-yet-read parameters of one request (or one nested hash of it).
#[derive(Debug, Default)]
pub struct Params {
    fields: Map<String, Value>,
    prefix: String,
}

impl Params {
    /// Wraps the parsed form tree (always an object at the top).
    pub fn new(tree: Value) -> Self {
        match tree {
            Value::Object(fields) => Params { fields, prefix: String::new() },
            _ => Params::default(),
        }
    }

    /// The name Stripe would report for `key` at this nesting level.
    pub fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_string() } else { format!("{}[{key}]", self.prefix) }
    }

    /// A string parameter, if sent.
    pub fn string(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        match self.fields.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::param(
                self.name(key),
                format!("Invalid string: {} must be a string, not a hash or array.", self.name(key)),
            )),
        }
    }

    /// A string parameter that must be present and non-empty.
    pub fn required_string(&mut self, key: &str) -> Result<String, ApiError> {
        match self.string(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::missing(&self.name(key))),
        }
    }

    /// A string that can be cleared: absent → `None`, `""` → `Some(None)`, else `Some(Some(s))`.
    pub fn clearable_string(&mut self, key: &str) -> Result<Option<Option<String>>, ApiError> {
        Ok(self.string(key)?.map(|s| if s.is_empty() { None } else { Some(s) }))
    }

    /// An integer parameter (`Invalid integer: abc` otherwise).
    pub fn integer(&mut self, key: &str) -> Result<Option<i64>, ApiError> {
        let name = self.name(key);
        match self.string(key)? {
            None => Ok(None),
            Some(s) => {
                s.trim().parse::<i64>().map(Some).map_err(|_| ApiError::param(name, format!("Invalid integer: {s}")))
            }
        }
    }

    /// A boolean parameter (`true`/`false`).
    pub fn boolean(&mut self, key: &str) -> Result<Option<bool>, ApiError> {
        let name = self.name(key);
        match self.string(key)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::param(name, format!("Invalid boolean: {other}"))),
        }
    }

    /// A nested hash, read through its own `Params`. `""` counts as absent (Stripe's "unset").
    pub fn object(&mut self, key: &str) -> Result<Option<Params>, ApiError> {
        let name = self.name(key);
        match self.fields.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::Object(fields)) => Ok(Some(Params { fields, prefix: name })),
            Some(_) => Err(ApiError::param(name.clone(), format!("Invalid object: {name} must be a hash."))),
        }
    }

    /// An array (sent as `key[]=` or `key[0]=`); each element is returned raw.
    pub fn array(&mut self, key: &str) -> Result<Option<Vec<Value>>, ApiError> {
        let name = self.name(key);
        match self.fields.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(Vec::new())),
            Some(Value::Array(items)) => Ok(Some(items)),
            // Some clients send a single-element list as `key=value`.
            Some(Value::String(s)) => Ok(Some(vec![Value::String(s)])),
            Some(_) => Err(ApiError::param(name.clone(), format!("Invalid array: {name} must be an array."))),
        }
    }

    /// An array of strings.
    pub fn string_array(&mut self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        let name = self.name(key);
        let Some(items) = self.array(key)? else { return Ok(None) };
        items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(ApiError::param(name.clone(), format!("Invalid array: {name} must hold strings."))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The i-th element of an array of hashes (`items[0][price]`), as `Params`.
    pub fn nested(&self, key: &str, index: usize, item: Value) -> Result<Params, ApiError> {
        let name = format!("{}[{index}]", self.name(key));
        match item {
            Value::Object(fields) => Ok(Params { fields, prefix: name }),
            _ => Err(ApiError::param(name.clone(), format!("Invalid object: {name} must be a hash."))),
        }
    }

    /// `metadata[...]` as a patch: each key maps to its new string, or `Null` to delete it.
    /// `metadata=` (empty) clears everything and comes back as `Some(None)`.
    pub fn metadata(&mut self) -> Result<Option<MetadataPatch>, ApiError> {
        match self.fields.get("metadata") {
            None => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => {
                self.fields.remove("metadata");
                return Ok(Some(MetadataPatch::ClearAll));
            }
            _ => {}
        }
        let Some(mut hash) = self.object("metadata")? else { return Ok(None) };
        let mut patch = Map::new();
        let keys: Vec<String> = hash.fields.keys().cloned().collect();
        for key in keys {
            let value = hash.string(&key)?.unwrap_or_default();
            patch.insert(key, if value.is_empty() { Value::Null } else { Value::String(value) });
        }
        Ok(Some(MetadataPatch::Set(patch)))
    }

    /// `expand[]`: the paths to expand in the response.
    pub fn expand(&mut self) -> Result<Vec<String>, ApiError> {
        Ok(self.string_array("expand")?.unwrap_or_default())
    }

    /// Accepts a parameter (of any shape) that changes nothing the fake models (`mandate_data`).
    pub fn ignore(&mut self, key: &str) {
        self.fields.remove(key);
    }

    /// Fails with `Received unknown parameter` if anything was not read.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.fields.keys().next() {
            None => Ok(()),
            Some(key) => Err(ApiError::unknown(&self.name(key))),
        }
    }
}

/// A change to an object's metadata.
#[derive(Debug, Clone)]
pub enum MetadataPatch {
    /// Remove every key.
    ClearAll,
    /// Set (string) or delete (`Null`) each key.
    Set(Map<String, Value>),
}

impl MetadataPatch {
    /// The metadata of a new object: the keys set, without the deletions.
    pub fn into_new(self) -> Map<String, Value> {
        match self {
            MetadataPatch::ClearAll => Map::new(),
            MetadataPatch::Set(mut patch) => {
                patch.retain(|_, value| !value.is_null());
                patch
            }
        }
    }

    /// Applies the patch to an object's `metadata` field.
    pub fn apply(self, object: &mut Value) {
        let current = object.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
        let next = match self {
            MetadataPatch::ClearAll => Map::new(),
            MetadataPatch::Set(patch) => {
                let mut next = current;
                for (key, value) in patch {
                    if value.is_null() {
                        next.remove(&key);
                    } else {
                        next.insert(key, value);
                    }
                }
                next
            }
        };
        object["metadata"] = Value::Object(next);
    }
}

/// A list's `created` filter, as Stripe takes it: `created=T` (exactly `T`), or any of
/// `created[gt]`, `created[gte]`, `created[lt]`, `created[lte]` (unix seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreatedRange {
    /// Lowest `created` kept.
    pub from: Option<i64>,
    /// Highest `created` kept.
    pub to: Option<i64>,
}

impl CreatedRange {
    /// Reads `created`, in either form.
    pub fn take(params: &mut Params) -> Result<CreatedRange, ApiError> {
        if let Some(Value::String(_)) = params.fields.get("created") {
            let exact = params.integer("created")?;
            return Ok(CreatedRange { from: exact, to: exact });
        }
        let Some(mut bounds) = params.object("created")? else { return Ok(CreatedRange::default()) };
        let (gt, gte) = (bounds.integer("gt")?, bounds.integer("gte")?);
        let (lt, lte) = (bounds.integer("lt")?, bounds.integer("lte")?);
        bounds.finish()?;
        let highest = |a: Option<i64>, b: Option<i64>| a.into_iter().chain(b).max();
        let lowest = |a: Option<i64>, b: Option<i64>| a.into_iter().chain(b).min();
        Ok(CreatedRange {
            from: highest(gt.map(|t| t.saturating_add(1)), gte),
            to: lowest(lt.map(|t| t.saturating_sub(1)), lte),
        })
    }

    /// Whether an object created at `created` is in the range.
    pub fn contains(&self, created: Option<i64>) -> bool {
        let (from, to) = (self.from.unwrap_or(i64::MIN), self.to.unwrap_or(i64::MAX));
        match created {
            Some(created) => (from..=to).contains(&created),
            None => self.from.is_none() && self.to.is_none(),
        }
    }
}

/// Cursor pagination, as every Stripe list endpoint takes it.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// 1..=100, default 10.
    pub limit: usize,
    /// Return objects after this one (older).
    pub starting_after: Option<String>,
    /// Return objects before this one (newer).
    pub ending_before: Option<String>,
}

impl Page {
    /// Reads `limit`, `starting_after` and `ending_before`.
    pub fn take(params: &mut Params) -> Result<Page, ApiError> {
        let limit = match params.integer("limit")? {
            None => 10,
            Some(n) if (1..=100).contains(&n) => n as usize,
            Some(n) => {
                return Err(ApiError::param("limit", format!("Invalid limit: {n}; it must be between 1 and 100.")));
            }
        };
        let starting_after = params.string("starting_after")?.filter(|s| !s.is_empty());
        let ending_before = params.string("ending_before")?.filter(|s| !s.is_empty());
        if starting_after.is_some() && ending_before.is_some() {
            return Err(ApiError::param(
                "ending_before",
                "You may only specify one of these parameters: starting_after, ending_before.",
            ));
        }
        Ok(Page { limit, starting_after, ending_before })
    }

    /// The page this asks for, newest first, and whether more lie beyond it. `position_of`
    /// finds a cursor's place (a cursor it does not find is a 404 naming the cursor and, with
    /// `label`, what it should have been, as Stripe answers); `newer_than(p)` yields the entries after place `p`, oldest first, and
    /// `older_than(p)` those before it, newest first (`None`: from the newest).
    pub fn select<P, T, Newer, Older>(
        &self,
        label: &'static str,
        position_of: impl Fn(&str) -> Option<P>,
        newer_than: impl FnOnce(P) -> Newer,
        older_than: impl FnOnce(Option<P>) -> Older,
    ) -> Result<(Vec<T>, bool), ApiError>
    where
        Newer: Iterator<Item = T>,
        Older: Iterator<Item = T>,
    {
        let cursor = |id: &str, param: &str| position_of(id).ok_or_else(|| ApiError::no_such_in(label, id, param));
        let (mut entries, newest_first) = match (&self.ending_before, &self.starting_after) {
            (Some(id), _) => (newer_than(cursor(id, "ending_before")?).take(self.limit + 1).collect::<Vec<T>>(), false),
            (None, Some(id)) => (older_than(Some(cursor(id, "starting_after")?)).take(self.limit + 1).collect(), true),
            (None, None) => (older_than(None).take(self.limit + 1).collect(), true),
        };
        let has_more = entries.len() > self.limit;
        entries.truncate(self.limit);
        if !newest_first {
            entries.reverse();
        }
        Ok((entries, has_more))
    }
}
