//! Products: what prices hang off. `POST /v1/products` and `product_data` on a new price both
//! create one here.

use serde_json::{Value, json};

use crate::stripe::context::{Ctx, unix_now};
use crate::stripe::ids::new_id;
use crate::stripe::kinds::Kind;

/// Stores a new product (with `id` if the caller chose one) and emits `product.created`.
pub fn insert_product(
    ctx: &mut Ctx<'_>,
    id: Option<String>,
    name: String,
    description: Option<String>,
    active: bool,
    metadata: Value,
) -> Value {
    let now = unix_now();
    let product = json!({
        "id": id.unwrap_or_else(|| new_id(Kind::Product.prefix())),
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
    let text = ctx.store.insert(Kind::Product, &product);
    ctx.emit_text("product.created", text, None, now);
    product
}
