//! `/v1/invoiceitems`: read-only here. Invoice items are the prorations a subscription update
//! leaves for the next invoice (`domain::proration`); `pending=true` lists those not invoiced yet.

use serde_json::Value;

use crate::stripe::context::Ctx;
use crate::stripe::error::ApiError;
use crate::stripe::expand;
use crate::stripe::kinds::Kind;
use crate::stripe::params::Params;

/// `GET /v1/invoiceitems/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, p: Params) -> Result<Value, ApiError> {
    expand::retrieve(ctx.store, Kind::InvoiceItem, id, p)
}

/// `GET /v1/invoiceitems` (filters: `customer`, indexed; `invoice`; `pending`)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let customer = p.string("customer")?;
    let invoice = p.string("invoice")?;
    let pending = p.boolean("pending")?;
    let filter = customer.as_deref().map(|c| ("customer", c));
    expand::list(ctx.store, Kind::InvoiceItem, "/v1/invoiceitems", p, filter, |item| {
        invoice.as_ref().is_none_or(|i| item["invoice"] == i.as_str())
            && pending.is_none_or(|pending| item["invoice"].is_null() == pending)
    })
}
