//! `/v1/invoices`: read-only here; invoices are made by subscription billing (`billing`).

use serde_json::Value;

use crate::stripe::context::{Ctx, expand};
use crate::stripe::error::ApiError;
use crate::stripe::params::{Page, Params};

/// `GET /v1/invoices/{id}`
pub fn retrieve(ctx: &mut Ctx<'_>, id: &str, mut p: Params) -> Result<Value, ApiError> {
    let expansions = p.expand()?;
    p.finish()?;
    let mut invoice = ctx.store.get_kind("invoice", "invoice", id, "id")?.clone();
    expand(ctx.store, &mut invoice, &expansions);
    Ok(invoice)
}

/// `GET /v1/invoices` (filters: `customer`, `subscription`, `status`)
pub fn list(ctx: &mut Ctx<'_>, mut p: Params) -> Result<Value, ApiError> {
    let page = Page::take(&mut p)?;
    let customer = p.string("customer")?;
    let subscription = p.string("subscription")?;
    let status = p.string("status")?;
    let expansions = p.expand()?;
    p.finish()?;
    let mut list = ctx.store.list("invoice", "/v1/invoices", &page, |invoice| {
        customer.as_ref().is_none_or(|c| invoice["customer"] == c.as_str())
            && subscription.as_ref().is_none_or(|s| invoice["subscription"] == s.as_str())
            && status.as_ref().is_none_or(|s| invoice["status"] == s.as_str())
    })?;
    expand(ctx.store, &mut list, &expansions);
    Ok(list)
}
