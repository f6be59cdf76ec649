//! `expand[]`: replaces ids with the objects they name along each path
//! (`latest_invoice.payment_intent`); for lists, paths start with `data.`. Unknown ids are left as
//! they are, as Stripe leaves ids it cannot expand for the caller.
//!
//! With it, the two endpoint skeletons every resource shares: [`retrieve`] one object and [`list`]
//! a page of them, so a resource's list endpoint says only what it filters on.

use serde_json::Value;

use super::error::ApiError;
use super::kinds::Kind;
use super::params::{Page, Params};
use super::store::{IndexFilter, Store};

/// `GET /v1/<resources>/{id}` of a resource whose retrieve takes no parameter but `expand[]`.
pub fn retrieve(store: &Store, kind: Kind, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    p.finish()?;
    get_expanded(store, kind, id, &expansions)
}

/// `GET /v1/<resources>`: a page (`limit`, `starting_after`, `ending_before`) of the objects of
/// `kind` that `filter` indexes and `keep` keeps, newest first, with `expand[]` applied, as a
/// Stripe list object whose `url` is `url`. The caller has taken its own filters out of `p`: any
/// parameter left is a 400 naming it.
pub fn list(
    store: &Store,
    kind: Kind,
    url: &str,
    mut p: Params,
    filter: IndexFilter<'_>,
    keep: impl Fn(&Value) -> bool,
) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    let expansions = p.expand()?;
    p.finish()?;
    let mut list = store.list(kind, url, &page, filter, keep)?;
    expand(store, &mut list, &expansions);
    Ok(list)
}

/// The object `id` of `kind` with every path of `paths` expanded: what a `GET` of one object
/// answers. An id of another kind, or of none, is Stripe's 404 naming it.
pub fn get_expanded(store: &Store, kind: Kind, id: &str, paths: &[String]) -> Result<Value, ApiError> {
    let mut object = store.get_kind(kind, id, "id")?;
    expand(store, &mut object, paths);
    Ok(object)
}

/// Expands every path of `paths` in `value`.
pub fn expand(store: &Store, value: &mut Value, paths: &[String]) {
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        expand_path(store, value, &segments);
    }
}

fn expand_path(store: &Store, value: &mut Value, segments: &[&str]) {
    let Some((first, rest)) = segments.split_first() else { return };
    if *first == "data"
        && let Some(items) = value.get_mut("data").and_then(Value::as_array_mut)
    {
        for item in items {
            expand_path(store, item, rest);
        }
        return;
    }
    let Some(field) = value.get_mut(*first) else { return };
    if let Some(object) = field.as_str().and_then(|id| store.get(id)) {
        *field = object;
    }
    if field.is_object() {
        expand_path(store, field, rest);
    }
}
