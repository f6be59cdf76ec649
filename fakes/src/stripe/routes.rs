//! The route table: which handler answers `METHOD /v1/...`. Handlers are plain functions of the
//! request context and the parameters, so this file is the whole map of what the fake serves.

use super::context::Ctx;
use super::error::ApiError;
use super::params::Params;
use super::reply::Reply;
use super::resources::{
    customers, events, invoices, payment_intents, payment_methods, prices, products, subscriptions, test_clocks,
    webhook_endpoints,
};

/// Answers one authenticated API request.
pub fn dispatch(ctx: &mut Ctx<'_>, method: &str, path: &str, p: Params) -> Result<Reply, ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    // The handlers that can answer with text they serialized anyway (the benchmark's hot paths).
    match (method, segments.as_slice()) {
        ("POST", ["v1", "payment_intents"]) => return payment_intents::create(ctx, p),
        ("POST", ["v1", "customers"]) => return customers::create(ctx, p),
        _ => {}
    }
    let value = match (method, segments.as_slice()) {
        ("GET", ["v1", "customers"]) => customers::list(ctx, p),
        ("GET", ["v1", "customers", id]) => customers::retrieve(ctx, id, p),
        ("POST", ["v1", "customers", id]) => customers::update(ctx, id, p),
        ("DELETE", ["v1", "customers", id]) => customers::delete(ctx, id, p),
        ("GET", ["v1", "customers", id, "payment_methods"]) => payment_methods::list(ctx, Some(id), p),

        ("GET", ["v1", "payment_methods"]) => payment_methods::list(ctx, None, p),
        ("GET", ["v1", "payment_methods", id]) => payment_methods::retrieve(ctx, id, p),
        ("POST", ["v1", "payment_methods", id, "attach"]) => payment_methods::attach(ctx, id, p),
        ("POST", ["v1", "payment_methods", id, "detach"]) => payment_methods::detach(ctx, id, p),

        ("POST", ["v1", "products"]) => products::create(ctx, p),
        ("GET", ["v1", "products"]) => products::list(ctx, p),
        ("GET", ["v1", "products", id]) => products::retrieve(ctx, id, p),

        ("POST", ["v1", "prices"]) => prices::create(ctx, p),
        ("GET", ["v1", "prices"]) => prices::list(ctx, p),
        ("GET", ["v1", "prices", id]) => prices::retrieve(ctx, id, p),

        ("POST", ["v1", "subscriptions"]) => subscriptions::create(ctx, p),
        ("GET", ["v1", "subscriptions"]) => subscriptions::list(ctx, p),
        ("GET", ["v1", "subscriptions", id]) => subscriptions::retrieve(ctx, id, p),
        ("POST", ["v1", "subscriptions", id]) => subscriptions::update(ctx, id, p),
        ("DELETE", ["v1", "subscriptions", id]) => subscriptions::cancel(ctx, id, p),

        ("GET", ["v1", "invoices"]) => invoices::list(ctx, p),
        ("GET", ["v1", "invoices", id]) => invoices::retrieve(ctx, id, p),

        ("GET", ["v1", "payment_intents"]) => payment_intents::list(ctx, p),
        ("GET", ["v1", "payment_intents", id]) => payment_intents::retrieve(ctx, id, p),

        ("GET", ["v1", "events"]) => events::list(ctx, p),
        ("GET", ["v1", "events", id]) => events::retrieve(ctx, id, p),

        ("POST", ["v1", "webhook_endpoints"]) => webhook_endpoints::create(ctx, p),
        ("GET", ["v1", "webhook_endpoints"]) => webhook_endpoints::list(ctx, p),
        ("GET", ["v1", "webhook_endpoints", id]) => webhook_endpoints::retrieve(ctx, id, p),
        ("POST", ["v1", "webhook_endpoints", id]) => webhook_endpoints::update(ctx, id, p),
        ("DELETE", ["v1", "webhook_endpoints", id]) => webhook_endpoints::delete(ctx, id, p),

        ("POST", ["v1", "test_helpers", "test_clocks"]) => test_clocks::create(ctx, p),
        ("GET", ["v1", "test_helpers", "test_clocks"]) => test_clocks::list(ctx, p),
        ("GET", ["v1", "test_helpers", "test_clocks", id]) => test_clocks::retrieve(ctx, id, p),
        ("POST", ["v1", "test_helpers", "test_clocks", id, "advance"]) => test_clocks::advance(ctx, id, p),
        ("DELETE", ["v1", "test_helpers", "test_clocks", id]) => test_clocks::delete(ctx, id, p),

        _ => Err(ApiError::UnknownRoute { method: method.to_string(), path: path.to_string() }),
    }?;
    Ok(Reply::Json(value))
}
