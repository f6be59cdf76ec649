//! `/v1/products`: create, retrieve, list. Enough for prices to hang off a product.

use serde_json::{Value, json};

use crate::stripe::context::{Ctx, expand, unix_now};
use crate::stripe::error::ApiError;
use crate::stripe::ids::new_id;
use crate::stripe::params::{Page, Params};
use crate::stripe::store::Store;

/// Stores a new product and returns it (also used by `product_data` on prices).
pub fn insert(ctx: &mut Ctx<'_>, name: String, description: Option<String>, active: bool, metadata: Value) -> Value {
    let now = unix_now();
    let product = json!({
        "id": new_id("prod"),
        "object": "product",
        "active": active,
        "created": now,
        "default_price": null,
        "description": description,
        "images": [],
        "livemode": false,
        "marketing_features": [],
        "metadata": metadata,
        "name": name,
        "package_dimensions": null,
        "shippable": null,
        "statement_descriptor": null,
        "tax_code": null,
        "type": "service",
        "unit_label": null,
        "updated": now,
        "url": null,
    });
    ctx.store.insert("product", product.clone());
    ctx.emit("product.created", &product, None, now);
    product
}

/// `POST /v1/products`
pub fn create(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let name = p.required_string("name")?;
    let id = p.string("id")?.filter(|s| !s.is_empty());
    let description = p.clearable_string("description")?.flatten();
    let active = p.boolean("active")?.unwrap_or(true);
    let metadata = p.metadata()?;
    let expansions = p.expand()?;
    p.finish()?;
    if let Some(id) = &id
        && ctx.store.get(id).is_some()
    {
        return Err(ApiError::param("id", format!("Product already exists: {id}")));
    }
    let mut meta = json!({ "metadata": {} });
    if let Some(metadata) = metadata {
        metadata.apply(&mut meta);
    }
    let mut product = insert(ctx, name, description, active, meta["metadata"].take());
    if let Some(custom) = id {
        // Stripe lets callers choose product ids; re-key the stored object.
        let old = product["id"].as_str().unwrap_or_default().to_string();
        if let Some(mut stored) = ctx.store.remove("product", &old) {
            stored["id"] = json!(custom);
            ctx.store.insert("product", stored.clone());
            product = stored;
        }
    }
    expand(ctx.store, &mut product, &expansions);
    Ok(product)
}

/// `GET /v1/products/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    p.finish()?;
    let mut product = require(ctx.store, id, "id")?.clone();
    expand(ctx.store, &mut product, &expansions);
    Ok(product)
}

/// The product with this id, or 404 naming `param`.
pub fn require<'s>(store: &'s Store, id: &str, param: &str) -> Result<&'s Value, ApiError> {
    store.get_kind("product", "product", id, param)
}

/// `GET /v1/products`
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    let active = p.boolean("active")?;
    let expansions = p.expand()?;
    p.finish()?;
    let mut list = ctx.store.list("product", "/v1/products", &page, |o| active.is_none_or(|a| o["active"] == a))?;
    expand(ctx.store, &mut list, &expansions);
    Ok(list)
}
