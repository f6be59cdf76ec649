//! `/v1/products`: create, retrieve, list. Enough for prices to hang off a product.

use serde_json::{Value, json};

use crate::stripe::context::Ctx;
use crate::stripe::domain::catalog::insert_product;
use crate::stripe::error::ApiError;
use crate::stripe::expand::{self, expand};
use crate::stripe::kinds::Kind;
use crate::stripe::params::Params;

/// `POST /v1/products` (Stripe lets callers choose the `id`)
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let name = p.required_string("name")?;
    let id = p.string("id")?.filter(|s| !s.is_empty());
    let description = p.clearable_string("description")?.flatten();
    let active = p.boolean("active")?.unwrap_or(true);
    let metadata = p.metadata()?;
    let expansions = p.expand()?;
    p.finish()?;
    if let Some(id) = &id
        && (ctx.store.kind_of(id).is_some() || ctx.store.was_deleted(id))
    {
        return Err(ApiError::param("id", format!("Product already exists: {id}")));
    }
    let mut meta = json!({ "metadata": {} });
    if let Some(metadata) = metadata {
        metadata.apply(&mut meta);
    }
    let mut product = insert_product(ctx, id, name, description, active, meta["metadata"].take());
    expand(ctx.store, &mut product, &expansions);
    Ok(product)
}

/// `GET /v1/products/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    expand::retrieve(ctx.store, Kind::Product, id, p)
}

/// `GET /v1/products`
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let active = p.boolean("active")?;
    expand::list(ctx.store, Kind::Product, "/v1/products", p, None, |o| active.is_none_or(|a| o["active"] == a))
}
