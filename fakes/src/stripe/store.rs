//! The fake's memory: every object by id, the creation order per object type, and what the
//! control API reads back (request log, idempotency results, faults, delivery settings).
//!
//! Objects are kept as the JSON Stripe would return, so what a test reads with
//! `StripeFake::object` is exactly what a client saw. One `std::sync::Mutex` guards the store;
//! it is never held across an `.await`, which keeps the hot path short and deadlock-free.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::chunked::Chunked;
use super::error::ApiError;
use super::event_log::{EventLog, StoredEvent};
use super::fast_hash::FastHash;
use super::fault::Fault;
use super::idempotency::StoredResponse;
use super::params::Page;
use super::request_log::RecordedRequest;

/// All state of one Stripe fake.
pub struct Store {
    objects: Vec<HashMap<String, Value, FastHash>>,
    frozen: Vec<HashMap<String, Box<str>, FastHash>>,
    order: HashMap<&'static str, Chunked<String>>,
    deleted: HashSet<String>,
    /// Every request, oldest first.
    pub requests: Chunked<RecordedRequest>,
    /// Results of requests sent with an `Idempotency-Key`, by key.
    pub idempotency: HashMap<String, StoredResponse>,
    /// Faults still waiting for matching requests.
    pub faults: Vec<Fault>,
    /// Signing secrets of webhook endpoints, by endpoint id (Stripe shows them only once).
    pub endpoint_secrets: HashMap<String, String>,
    /// Every event, oldest first.
    pub events: EventLog,
    /// Events emitted by the current request, handed to the webhook worker afterwards.
    pub outbox: Vec<Arc<StoredEvent>>,
}

/// Objects are spread over this many maps, so growing one rehashes only a small share of them
/// (a single map of 500 000 objects stalls the lock for tens of milliseconds when it grows).
const SHARDS: usize = 64;

fn shard_of(id: &str) -> usize {
    // Ids end in random characters; the last two spread well.
    let bytes = id.as_bytes();
    let n = bytes.len();
    let tail = if n >= 2 { (bytes[n - 1] as usize) * 31 + bytes[n - 2] as usize } else { n };
    tail % SHARDS
}

impl Default for Store {
    fn default() -> Self {
        Store {
            objects: (0..SHARDS).map(|_| HashMap::default()).collect(),
            frozen: (0..SHARDS).map(|_| HashMap::default()).collect(),
            order: HashMap::new(),
            deleted: HashSet::new(),
            requests: Chunked::default(),
            idempotency: HashMap::new(),
            faults: Vec::new(),
            endpoint_secrets: HashMap::new(),
            events: EventLog::default(),
            outbox: Vec::new(),
        }
    }
}

impl Store {
    /// Forgets everything.
    pub fn reset(&mut self) {
        *self = Store::default();
    }

    /// Stores a new object of `kind` (its `object` field) under its id.
    pub fn insert(&mut self, kind: &'static str, object: Value) {
        let id = object["id"].as_str().unwrap_or_default().to_string();
        self.order.entry(kind).or_default().push(id.clone());
        self.objects[shard_of(&id)].insert(id, object);
    }

    /// Stores an object that never changes again (settled intents, charges) as its JSON text:
    /// such objects are rarely read, and a tree costs several times the memory and time.
    pub fn insert_frozen_text(&mut self, kind: &'static str, id: String, text: String) {
        self.order.entry(kind).or_default().push(id.clone());
        self.frozen[shard_of(&id)].insert(id, text.into_boxed_str());
    }

    /// Any object by id, frozen ones parsed back.
    pub fn lookup(&self, id: &str) -> Option<Cow<'_, Value>> {
        match self.get(id) {
            Some(object) => Some(Cow::Borrowed(object)),
            None => self.frozen[shard_of(id)].get(id).and_then(|text| serde_json::from_str(text).ok()).map(Cow::Owned),
        }
    }

    /// Any object by id as an owned value, including frozen ones (for reads outside handlers).
    pub fn get_owned(&self, id: &str) -> Option<Value> {
        self.lookup(id).map(Cow::into_owned)
    }

    /// The object with this id, of any type.
    pub fn get(&self, id: &str) -> Option<&Value> {
        self.objects[shard_of(id)].get(id)
    }

    /// The object with this id if it is of `kind`, else 404 naming `kind` and `id`.
    pub fn get_kind(&self, kind: &'static str, label: &'static str, id: &str, param: &str) -> Result<&Value, ApiError> {
        match self.get(id) {
            Some(object) if object["object"] == kind => Ok(object),
            _ => Err(ApiError::no_such_in(label, id, param)),
        }
    }

    /// Mutable access for updates.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.objects[shard_of(id)].get_mut(id)
    }

    /// Removes an object for good, remembering that it existed (Stripe answers `deleted: true`).
    pub fn remove(&mut self, kind: &'static str, id: &str) -> Option<Value> {
        let removed = self.objects[shard_of(id)].remove(id)?;
        if let Some(ids) = self.order.get_mut(kind) {
            ids.retain(|other| other != id);
        }
        self.deleted.insert(id.to_string());
        Some(removed)
    }

    /// Whether an object with this id was deleted.
    pub fn was_deleted(&self, id: &str) -> bool {
        self.deleted.contains(id)
    }

    /// All objects of `kind`, oldest first.
    pub fn all(&self, kind: &str) -> Vec<&Value> {
        self.order.get(kind).map(|ids| ids.iter().filter_map(|id| self.get(id)).collect()).unwrap_or_default()
    }

    /// How many objects of `kind` pass `keep` (without collecting them).
    pub fn count(&self, kind: &str, keep: impl Fn(&Value) -> bool) -> usize {
        self.order
            .get(kind)
            .map(|ids| ids.iter().filter_map(|id| self.get(id)).filter(|o| keep(o)).count())
            .unwrap_or_default()
    }

    /// One page of a Stripe list (newest first), holding the objects of `kind` that pass `keep`.
    pub fn list(&self, kind: &str, url: &str, page: &Page, keep: impl Fn(&Value) -> bool) -> Result<Value, ApiError> {
        let newest_first: Vec<Cow<'_, Value>> = self
            .order
            .get(kind)
            .map(|ids| ids.iter().rev().filter_map(|id| self.lookup(id)).filter(|o| keep(o)).collect())
            .unwrap_or_default();
        let (data, has_more) = paginate(&newest_first, |o| o["id"].as_str().unwrap_or_default(), page, kind)?;
        let data: Vec<&Value> = data.iter().map(|o| o.as_ref()).collect();
        Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
    }
}

/// Cuts one page out of a newest-first list: `(page, has_more)`. An unknown cursor is a 404
/// naming the cursor parameter, as Stripe answers.
pub fn paginate<'l, T>(
    newest_first: &'l [T],
    id_of: impl Fn(&T) -> &str,
    page: &Page,
    kind: &str,
) -> Result<(&'l [T], bool), ApiError> {
    let position = |cursor: &str, param: &str| {
        newest_first
            .iter()
            .position(|o| id_of(o) == cursor)
            .ok_or_else(|| ApiError::no_such_in(label_of(kind), cursor, param))
    };
    if let Some(cursor) = &page.starting_after {
        let after = &newest_first[position(cursor, "starting_after")? + 1..];
        let end = after.len().min(page.limit);
        Ok((&after[..end], after.len() > page.limit))
    } else if let Some(cursor) = &page.ending_before {
        let before = &newest_first[..position(cursor, "ending_before")?];
        let start = before.len().saturating_sub(page.limit);
        Ok((&before[start..], start > 0))
    } else {
        let end = newest_first.len().min(page.limit);
        Ok((&newest_first[..end], newest_first.len() > page.limit))
    }
}

/// The word Stripe uses in "No such …" messages for an object type.
pub fn label_of(kind: &str) -> &'static str {
    match kind {
        "customer" => "customer",
        "payment_method" => "PaymentMethod",
        "product" => "product",
        "price" => "price",
        "subscription" => "subscription",
        "invoice" => "invoice",
        "payment_intent" => "payment_intent",
        "charge" => "charge",
        "event" => "event",
        "webhook_endpoint" => "webhook endpoint",
        "test_helpers.test_clock" => "test clock",
        _ => "object",
    }
}
