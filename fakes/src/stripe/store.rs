//! The fake's memory: every object by id, the creation order per kind, secondary indexes for the
//! list filters Stripe indexes, and the logs the control API reads back (requests, events,
//! idempotency results), plus faults and webhook routes.
//!
//! Objects are kept as the compact JSON text Stripe would return (in the newest API version's
//! shape), in an `Arc<str>` that the event emitted for the change and the response share: one
//! copy per object version, about 600 bytes for a customer, where a `serde_json::Value` tree was
//! several kilobytes. Reads parse the text; hot paths read only the fields they need with typed
//! partial parsing ([`Store::read`]).
//!
//! Each object has a position in its kind's creation order, so a cursor (`starting_after`) is an
//! O(1) lookup, and an index holds the positions of the objects with a given field value
//! (`customer=cus_…`), so a filtered list reads only its matches.
//!
//! One `std::sync::Mutex` guards the store (see `shared`); it is never held across an `.await`.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::ApiError;
use super::event_log::EventLog;
use super::fault::Fault;
use super::idempotency::IdempotencyResults;
use super::invoice_retries::InvoiceRetries;
use super::kinds::{IndexedField, Kind};
use super::params::Page;
use super::request_log::RequestLog;
use super::ring::Ring;
use super::sharded::Sharded;
use super::versions::{ApiVersion, VersionPolicy};
use super::webhook_routes::{Endpoints, Outgoing};

/// Where an object lives.
#[derive(Debug)]
struct Slot {
    kind: Kind,
    /// Position in its kind's creation order.
    position: u32,
    text: Arc<str>,
}

/// The positions of the objects holding one indexed value; most values (a customer's id) are
/// held by one object, so that case takes no tree.
#[derive(Debug)]
enum Postings {
    One(u32),
    Many(BTreeSet<u32>),
}

impl Postings {
    fn insert(&mut self, position: u32) {
        match self {
            Postings::One(existing) if *existing == position => {}
            Postings::One(existing) => *self = Postings::Many(BTreeSet::from([*existing, position])),
            Postings::Many(set) => {
                set.insert(position);
            }
        }
    }

    /// Removes a position; true when nothing is left.
    fn remove(&mut self, position: u32) -> bool {
        match self {
            Postings::One(existing) => *existing == position,
            Postings::Many(set) => {
                set.remove(&position);
                set.is_empty()
            }
        }
    }

    /// Positions below `before`, newest first.
    fn below(&self, before: u32) -> Box<dyn Iterator<Item = u32> + '_> {
        match self {
            Postings::One(p) => Box::new((*p < before).then_some(*p).into_iter()),
            Postings::Many(set) => Box::new(set.range(..before).rev().copied()),
        }
    }

    /// Positions above `after`, oldest first.
    fn above(&self, after: u32) -> Box<dyn Iterator<Item = u32> + '_> {
        match self {
            Postings::One(p) => Box::new((*p > after).then_some(*p).into_iter()),
            Postings::Many(set) => Box::new(set.range(after.saturating_add(1)..).copied()),
        }
    }
}

/// A search clause an index may answer.
#[derive(Debug, Clone, Copy)]
pub enum IndexedClause<'a> {
    /// An indexed field equal to a value (`email`, case-insensitively).
    Field(&'static str, &'a str),
    /// A metadata key equal to a value.
    Metadata(&'a str, &'a str),
}

/// A list filter the store answers from an index: `(field name, value)`.
pub type IndexFilter<'a> = Option<(&'static str, &'a str)>;

/// The index a list reads: the first of `filters` (in order of preference) that the request
/// gave. The store answers one index at a time; a list checks the other filters object by object.
pub fn first_given<'a>(filters: &[(&'static str, Option<&'a str>)]) -> IndexFilter<'a> {
    filters.iter().find_map(|&(field, value)| Some((field, value?)))
}

/// All state of one Stripe fake.
pub struct Store {
    objects: Sharded<Arc<str>, Slot>,
    order: Vec<Ring<Arc<str>>>,
    indexes: Vec<Vec<Sharded<Box<str>, Postings>>>,
    /// `"key\0value"` → positions, for kinds that index metadata.
    metadata: Vec<Sharded<Box<str>, Postings>>,
    deleted: HashSet<Box<str>>,
    /// Every request, oldest first.
    pub requests: RequestLog,
    /// Results of requests sent with an `Idempotency-Key`, by key.
    pub idempotency: IdempotencyResults,
    /// Faults still waiting for matching requests.
    pub faults: Vec<Fault>,
    /// Webhook endpoints as events are routed to them.
    pub endpoints: Endpoints,
    /// Every event retained, oldest first.
    pub events: EventLog,
    /// Events emitted by the current request, handed to the webhook worker afterwards.
    pub outbox: Vec<Outgoing>,
    /// The account's default API version (requests without `Stripe-Version`, events).
    pub account_version: ApiVersion,
    /// Whether versions the fake does not know are answered or refused, and which were logged.
    pub versions: VersionPolicy,
    /// When failed subscription invoices are tried again, and what follows the last try.
    pub invoice_retries: InvoiceRetries,
    retention: Option<usize>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            objects: Sharded::default(),
            order: Kind::ALL.iter().map(|_| Ring::default()).collect(),
            indexes: Kind::ALL.iter().map(|kind| kind.indexed().iter().map(|_| Sharded::default()).collect()).collect(),
            metadata: Kind::ALL.iter().map(|_| Sharded::default()).collect(),
            deleted: HashSet::new(),
            requests: RequestLog::default(),
            idempotency: IdempotencyResults::default(),
            faults: Vec::new(),
            endpoints: Endpoints::default(),
            events: EventLog::default(),
            outbox: Vec::new(),
            account_version: ApiVersion::LATEST,
            versions: VersionPolicy::default(),
            invoice_retries: InvoiceRetries::default(),
            retention: None,
        }
    }
}

fn index_key(field: &IndexedField, value: &str) -> Box<str> {
    if field.case_insensitive { value.to_lowercase().into() } else { value.into() }
}

fn indexed_values(kind: Kind, object: &Value) -> Vec<Option<&str>> {
    kind.indexed().iter().map(|field| object.pointer(field.pointer).and_then(Value::as_str)).collect()
}

/// The metadata index key of one pair.
fn metadata_key(key: &str, value: &str) -> Box<str> {
    format!("{key}\0{value}").into()
}

fn metadata_pairs(kind: Kind, object: &Value) -> Vec<Box<str>> {
    if !kind.indexes_metadata() {
        return Vec::new();
    }
    let Some(metadata) = object["metadata"].as_object() else { return Vec::new() };
    metadata.iter().filter_map(|(k, v)| Some(metadata_key(k, v.as_str()?))).collect()
}

fn postings_add(index: &mut Sharded<Box<str>, Postings>, key: Box<str>, position: u32) {
    match index.get_mut(&key) {
        Some(existing) => existing.insert(position),
        None => {
            index.insert(key, Postings::One(position));
        }
    }
}

fn postings_remove(index: &mut Sharded<Box<str>, Postings>, key: &str, position: u32) {
    if index.get_mut(key).is_some_and(|p| p.remove(position)) {
        index.remove(key);
    }
}

impl Store {
    /// Forgets every object, event, request, key, fault and endpoint; keeps the settings
    /// (account version, version policy, invoice retries, retention limit).
    pub fn reset(&mut self) {
        let (version, versions, retention) =
            (std::mem::take(&mut self.account_version), std::mem::take(&mut self.versions), self.retention);
        let invoice_retries = std::mem::take(&mut self.invoice_retries);
        *self = Store::default();
        self.account_version = version;
        self.versions = versions;
        self.invoice_retries = invoice_retries;
        self.set_retention(retention);
    }

    /// Keeps at most `limit` events, requests and idempotency results (the oldest are dropped
    /// and counted); `None` keeps everything. Objects are never dropped.
    pub fn set_retention(&mut self, limit: Option<usize>) {
        self.retention = limit;
        self.events.set_limit(limit);
        self.requests.set_limit(limit);
        self.idempotency.set_limit(limit);
    }

    /// The retention limit in force.
    pub fn retention(&self) -> Option<usize> {
        self.retention
    }

    /// Stores a new object (its `id` and kind's index fields are read from it) and returns its text.
    pub fn insert(&mut self, kind: Kind, object: &Value) -> Arc<str> {
        let text: Arc<str> = serde_json::to_string(object).unwrap_or_default().into();
        let id = object["id"].as_str().unwrap_or_default();
        let metadata = object["metadata"].as_object().into_iter().flatten();
        let pairs = metadata.filter_map(|(key, value)| Some((key.as_str(), value.as_str()?)));
        self.insert_indexed(kind, id, text.clone(), &indexed_values(kind, object), pairs);
        text
    }

    /// Stores a new object already serialized (hot paths), with its index field values in the
    /// order of [`Kind::indexed`].
    pub fn insert_text(&mut self, kind: Kind, id: &str, text: Arc<str>, indexed: &[Option<&str>]) {
        self.insert_indexed(kind, id, text, indexed, std::iter::empty());
    }

    /// Like [`Store::insert_text`], with the metadata pairs of a kind that indexes metadata.
    pub fn insert_indexed<'m>(
        &mut self,
        kind: Kind,
        id: &str,
        text: Arc<str>,
        indexed: &[Option<&str>],
        metadata: impl Iterator<Item = (&'m str, &'m str)>,
    ) {
        let id: Arc<str> = id.into();
        let position = self.order[kind.position()].push(id.clone()) as u32;
        for (n, value) in indexed.iter().enumerate() {
            if let Some(value) = value {
                self.index_add(kind, n, value, position);
            }
        }
        if kind.indexes_metadata() {
            for (key, value) in metadata {
                postings_add(&mut self.metadata[kind.position()], metadata_key(key, value), position);
            }
        }
        self.objects.insert(id, Slot { kind, position, text });
    }

    fn index_add(&mut self, kind: Kind, field: usize, value: &str, position: u32) {
        let Some(spec) = kind.indexed().get(field) else { return };
        postings_add(&mut self.indexes[kind.position()][field], index_key(spec, value), position);
    }

    fn index_remove(&mut self, kind: Kind, field: usize, value: &str, position: u32) {
        let Some(spec) = kind.indexed().get(field) else { return };
        postings_remove(&mut self.indexes[kind.position()][field], &index_key(spec, value), position);
    }

    fn reindex_metadata(&mut self, kind: Kind, position: u32, before: &Value, after: &Value) {
        let (old, new) = (metadata_pairs(kind, before), metadata_pairs(kind, after));
        let index = &mut self.metadata[kind.position()];
        for pair in old.iter().filter(|pair| !new.contains(pair)) {
            postings_remove(index, pair, position);
        }
        for pair in new.into_iter().filter(|pair| !old.contains(pair)) {
            postings_add(index, pair, position);
        }
    }

    /// Replaces a stored object with a new version of it (same `id`); returns the new text, or
    /// `None` if no object has that id.
    pub fn replace(&mut self, object: &Value) -> Option<Arc<str>> {
        let id = object["id"].as_str()?;
        let slot = self.objects.get(id)?;
        let (kind, position) = (slot.kind, slot.position);
        if !kind.indexed().is_empty() || kind.indexes_metadata() {
            let before: Value = serde_json::from_str(&slot.text).unwrap_or_default();
            self.reindex_metadata(kind, position, &before, object);
            let (old, new) = (indexed_values(kind, &before), indexed_values(kind, object));
            for (field, (old, new)) in old.iter().zip(&new).enumerate() {
                if old != new {
                    if let Some(old) = old {
                        self.index_remove(kind, field, old, position);
                    }
                    if let Some(new) = new {
                        self.index_add(kind, field, new, position);
                    }
                }
            }
        }
        let text: Arc<str> = serde_json::to_string(object).unwrap_or_default().into();
        if let Some(slot) = self.objects.get_mut(id) {
            slot.text = text.clone();
        }
        Some(text)
    }

    /// Removes an object for good, remembering that it existed (Stripe answers `deleted: true`).
    pub fn remove(&mut self, id: &str) -> Option<Value> {
        let slot = self.objects.remove(id)?;
        let object: Value = serde_json::from_str(&slot.text).unwrap_or_default();
        for (field, value) in indexed_values(slot.kind, &object).iter().enumerate() {
            if let Some(value) = value {
                self.index_remove(slot.kind, field, value, slot.position);
            }
        }
        self.reindex_metadata(slot.kind, slot.position, &object, &Value::Null);
        self.order[slot.kind.position()].remove(u64::from(slot.position));
        self.deleted.insert(id.into());
        Some(object)
    }

    /// Whether an object with this id was deleted.
    pub fn was_deleted(&self, id: &str) -> bool {
        self.deleted.contains(id)
    }

    /// The kind of the object with this id.
    pub fn kind_of(&self, id: &str) -> Option<Kind> {
        self.objects.get(id).map(|slot| slot.kind)
    }

    /// Whether an object of `kind` has this id.
    pub fn exists(&self, kind: Kind, id: &str) -> bool {
        self.kind_of(id) == Some(kind)
    }

    /// The stored text of any object.
    pub fn text(&self, id: &str) -> Option<&Arc<str>> {
        self.objects.get(id).map(|slot| &slot.text)
    }

    /// Any object by id, parsed.
    pub fn get(&self, id: &str) -> Option<Value> {
        serde_json::from_str(self.text(id)?).ok()
    }

    /// The object with this id if it is of `kind`, else 404 naming `param`.
    pub fn get_kind(&self, kind: Kind, id: &str, param: &str) -> Result<Value, ApiError> {
        match self.objects.get(id) {
            Some(slot) if slot.kind == kind => {
                serde_json::from_str(&slot.text).map_err(|_| ApiError::no_such_in(kind.label(), id, param))
            }
            _ => Err(ApiError::no_such_in(kind.label(), id, param)),
        }
    }

    /// A price by id (what pre-basil renderings of invoice lines embed).
    pub fn price(&self, id: &str) -> Option<Value> {
        self.get_kind(Kind::Price, id, "price").ok()
    }

    /// Some fields of an object of `kind`, read without building the whole tree.
    pub fn read<T: DeserializeOwned>(&self, kind: Kind, id: &str) -> Option<T> {
        let slot = self.objects.get(id).filter(|slot| slot.kind == kind)?;
        serde_json::from_str(&slot.text).ok()
    }

    /// How many objects of `kind` are stored.
    pub fn count(&self, kind: Kind) -> usize {
        self.order[kind.position()].iter().count()
    }

    /// The ids of the objects of `kind` (whose indexed field equals the filter's value, if one is
    /// given), newest first.
    pub fn ids(&self, kind: Kind, filter: IndexFilter<'_>) -> Vec<Arc<str>> {
        self.positions_below(kind, filter, u32::MAX).filter_map(|p| self.id_at(kind, p).cloned()).collect()
    }

    /// Every object of `kind`, oldest first (for kinds with few objects: prices, endpoints).
    pub fn all(&self, kind: Kind) -> Vec<Value> {
        let mut all: Vec<Value> = self.ids(kind, None).iter().filter_map(|id| self.get(id)).collect();
        all.reverse();
        all
    }

    /// Positions (below `before`, newest first) of the objects of `kind` that a search clause can
    /// find from an index: `email` (any case) or `metadata[key] = value`. `None` when no index
    /// covers the clause (the caller scans).
    pub fn search_positions(
        &self,
        kind: Kind,
        clause: IndexedClause<'_>,
        before: u32,
    ) -> Option<Box<dyn Iterator<Item = u32> + '_>> {
        let postings = match clause {
            IndexedClause::Field(name, value) => match self.postings(kind, name, value) {
                Ok(postings) => postings,
                Err(()) => return None,
            },
            IndexedClause::Metadata(key, value) if kind.indexes_metadata() => {
                self.metadata[kind.position()].get(&metadata_key(key, value))
            }
            IndexedClause::Metadata(..) => return None,
        };
        Some(match postings {
            Some(postings) => postings.below(before),
            None => Box::new(std::iter::empty()),
        })
    }

    /// Positions of every object of `kind` below `before`, newest first.
    pub fn positions(&self, kind: Kind, before: u32) -> impl Iterator<Item = u32> + '_ {
        self.order[kind.position()].range(0, u64::from(before)).rev().map(|(position, _)| position as u32)
    }

    /// The stored text of the object of `kind` at `position`.
    pub fn text_at(&self, kind: Kind, position: u32) -> Option<&Arc<str>> {
        self.text(self.id_at(kind, position)?)
    }

    /// The position of an object in its kind's creation order.
    pub fn position_of(&self, kind: Kind, id: &str) -> Option<u32> {
        self.objects.get(id).filter(|slot| slot.kind == kind).map(|slot| slot.position)
    }

    fn id_at(&self, kind: Kind, position: u32) -> Option<&Arc<str>> {
        self.order[kind.position()].get(u64::from(position))
    }

    fn postings(&self, kind: Kind, name: &str, value: &str) -> Result<Option<&Postings>, ()> {
        let field = kind.indexed().iter().position(|f| f.name == name).ok_or(())?;
        let key = index_key(&kind.indexed()[field], value);
        Ok(self.indexes[kind.position()][field].get(&key))
    }

    /// Positions of the objects passing the index filter, below `before`, newest first.
    fn positions_below(&self, kind: Kind, filter: IndexFilter<'_>, before: u32) -> Box<dyn Iterator<Item = u32> + '_> {
        match filter.map(|(name, value)| self.postings(kind, name, value)) {
            None | Some(Err(())) => Box::new(
                self.order[kind.position()].range(0, u64::from(before)).rev().map(|(position, _)| position as u32),
            ),
            Some(Ok(None)) => Box::new(std::iter::empty()),
            Some(Ok(Some(postings))) => postings.below(before),
        }
    }

    /// Positions of the objects passing the index filter, above `after`, oldest first.
    fn positions_above(&self, kind: Kind, filter: IndexFilter<'_>, after: u32) -> Box<dyn Iterator<Item = u32> + '_> {
        match filter.map(|(name, value)| self.postings(kind, name, value)) {
            None | Some(Err(())) => Box::new(
                self.order[kind.position()].range(u64::from(after) + 1, u64::MAX).map(|(position, _)| position as u32),
            ),
            Some(Ok(None)) => Box::new(std::iter::empty()),
            Some(Ok(Some(postings))) => postings.above(after),
        }
    }

    /// One page of a Stripe list (newest first) of the objects of `kind` that pass the index
    /// filter and `keep`. A cursor that names no object of `kind` is a 404 naming the cursor, as
    /// Stripe answers.
    pub fn list(
        &self,
        kind: Kind,
        url: &str,
        page: &Page,
        filter: IndexFilter<'_>,
        keep: impl Fn(&Value) -> bool,
    ) -> Result<Value, ApiError> {
        let matching = |position: u32| {
            let object = self.get(self.id_at(kind, position)?)?;
            keep(&object).then_some(object)
        };
        let (data, has_more) = page.select(
            kind.label(),
            |id| self.position_of(kind, id),
            |after| self.positions_above(kind, filter, after).filter_map(matching),
            |before| self.positions_below(kind, filter, before.unwrap_or(u32::MAX)).filter_map(matching),
        )?;
        Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(id: &str, email: &str) -> Value {
        json!({ "id": id, "object": "customer", "email": email, "test_clock": null })
    }

    fn ids_of(list: &Value) -> Vec<&str> {
        list["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect()
    }

    #[test]
    fn an_index_follows_updates_and_removals() {
        let mut store = Store::default();
        for n in 0..5 {
            store.insert(
                Kind::Customer,
                &customer(&format!("cus_{n}"), if n % 2 == 0 { "Even@x.co" } else { "odd@x.co" }),
            );
        }
        assert_eq!(store.ids(Kind::Customer, Some(("email", "even@x.co"))).len(), 3);
        store.replace(&customer("cus_0", "odd@x.co"));
        store.remove("cus_2");
        let evens: Vec<Arc<str>> = store.ids(Kind::Customer, Some(("email", "EVEN@x.co")));
        assert_eq!(evens.iter().map(|id| &**id).collect::<Vec<_>>(), ["cus_4"]);
        assert_eq!(store.ids(Kind::Customer, Some(("email", "odd@x.co"))).len(), 3);
        assert!(store.was_deleted("cus_2"));
        assert_eq!(store.count(Kind::Customer), 4);
    }

    #[test]
    fn a_filtered_list_pages_with_cursors_in_both_directions() {
        let mut store = Store::default();
        for n in 0..10 {
            store.insert(Kind::Customer, &customer(&format!("cus_{n}"), if n % 3 == 0 { "a@x.co" } else { "b@x.co" }));
        }
        let page = |after: Option<&str>, before: Option<&str>| Page {
            limit: 2,
            starting_after: after.map(str::to_string),
            ending_before: before.map(str::to_string),
        };
        let filter = Some(("email", "a@x.co"));
        let first = store.list(Kind::Customer, "/v1/customers", &page(None, None), filter, |_| true).unwrap();
        assert_eq!((ids_of(&first), first["has_more"].as_bool()), (vec!["cus_9", "cus_6"], Some(true)));
        let next = store.list(Kind::Customer, "/v1/customers", &page(Some("cus_6"), None), filter, |_| true).unwrap();
        assert_eq!((ids_of(&next), next["has_more"].as_bool()), (vec!["cus_3", "cus_0"], Some(false)));
        let back = store.list(Kind::Customer, "/v1/customers", &page(None, Some("cus_0")), filter, |_| true).unwrap();
        assert_eq!((ids_of(&back), back["has_more"].as_bool()), (vec!["cus_6", "cus_3"], Some(true)));
        let unfiltered =
            store.list(Kind::Customer, "/v1/customers", &page(Some("cus_5"), None), None, |_| true).unwrap();
        assert_eq!(ids_of(&unfiltered), ["cus_4", "cus_3"]);
        let missing = store.list(Kind::Customer, "/v1/customers", &page(Some("cus_x"), None), None, |_| true);
        assert!(matches!(missing, Err(ApiError::NoSuchObject { .. })));
    }
}
