//! The route table: which handler answers `METHOD /v1/...`. Handlers are plain functions of the
//! request context and the parameters, so this file is the whole map of what the fake serves;
//! [`ROUTES`] lists the same map as data, for the tests that walk every route.

use super::context::Ctx;
use super::error::ApiError;
use super::params::Params;
use super::resources::{
    charges, customers, events, invoice_items, invoices, payment_intents, payment_methods, prices, products, refunds,
    setup_intents, subscriptions, test_clocks, webhook_endpoints,
};
use super::response::Reply;

/// Every route the fake serves, as `(method, path)` with `{id}` for an object id.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/customers"),
    ("GET", "/v1/customers"),
    ("GET", "/v1/customers/search"),
    ("GET", "/v1/customers/{id}"),
    ("POST", "/v1/customers/{id}"),
    ("DELETE", "/v1/customers/{id}"),
    ("GET", "/v1/customers/{id}/payment_methods"),
    ("GET", "/v1/payment_methods"),
    ("GET", "/v1/payment_methods/{id}"),
    ("POST", "/v1/payment_methods/{id}/attach"),
    ("POST", "/v1/payment_methods/{id}/detach"),
    ("POST", "/v1/products"),
    ("GET", "/v1/products"),
    ("GET", "/v1/products/{id}"),
    ("POST", "/v1/prices"),
    ("GET", "/v1/prices"),
    ("GET", "/v1/prices/{id}"),
    ("POST", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions/{id}"),
    ("POST", "/v1/subscriptions/{id}"),
    ("DELETE", "/v1/subscriptions/{id}"),
    ("GET", "/v1/invoices"),
    ("POST", "/v1/invoices/create_preview"),
    ("GET", "/v1/invoices/{id}"),
    ("GET", "/v1/invoices/{id}/lines"),
    ("POST", "/v1/invoices/{id}/pay"),
    ("GET", "/v1/invoiceitems"),
    ("GET", "/v1/invoiceitems/{id}"),
    ("POST", "/v1/payment_intents"),
    ("GET", "/v1/payment_intents"),
    ("GET", "/v1/payment_intents/{id}"),
    ("GET", "/v1/charges"),
    ("GET", "/v1/charges/{id}"),
    ("POST", "/v1/refunds"),
    ("GET", "/v1/refunds"),
    ("GET", "/v1/refunds/{id}"),
    ("POST", "/v1/refunds/{id}"),
    ("POST", "/v1/setup_intents"),
    ("GET", "/v1/setup_intents"),
    ("GET", "/v1/setup_intents/{id}"),
    ("POST", "/v1/setup_intents/{id}"),
    ("POST", "/v1/setup_intents/{id}/confirm"),
    ("POST", "/v1/setup_intents/{id}/cancel"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/{id}"),
    ("POST", "/v1/webhook_endpoints"),
    ("GET", "/v1/webhook_endpoints"),
    ("GET", "/v1/webhook_endpoints/{id}"),
    ("POST", "/v1/webhook_endpoints/{id}"),
    ("DELETE", "/v1/webhook_endpoints/{id}"),
    ("POST", "/v1/test_helpers/test_clocks"),
    ("GET", "/v1/test_helpers/test_clocks"),
    ("GET", "/v1/test_helpers/test_clocks/{id}"),
    ("POST", "/v1/test_helpers/test_clocks/{id}/advance"),
    ("DELETE", "/v1/test_helpers/test_clocks/{id}"),
];

/// Answers one authenticated API request. A long match is the point: one line per route.
pub fn dispatch(ctx: &mut Ctx<'_>, method: &str, path: &str, p: Params) -> Result<Reply, ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match (method, segments.as_slice()) {
        ("POST", ["v1", "customers"]) => customers::create(ctx, p),
        ("GET", ["v1", "customers"]) => customers::list(ctx, p),
        ("GET", ["v1", "customers", "search"]) => customers::search(ctx, p),
        ("GET", ["v1", "customers", id]) => customers::retrieve(ctx, id, p),
        ("POST", ["v1", "customers", id]) => customers::update(ctx, id, p),
        ("DELETE", ["v1", "customers", id]) => customers::delete(ctx, id, p),
        ("GET", ["v1", "customers", id, "payment_methods"]) => payment_methods::list(ctx, Some(id), p).map(Into::into),

        ("GET", ["v1", "payment_methods"]) => payment_methods::list(ctx, None, p).map(Into::into),
        ("GET", ["v1", "payment_methods", id]) => payment_methods::retrieve(ctx, id, p).map(Into::into),
        ("POST", ["v1", "payment_methods", id, "attach"]) => payment_methods::attach(ctx, id, p).map(Into::into),
        ("POST", ["v1", "payment_methods", id, "detach"]) => payment_methods::detach(ctx, id, p).map(Into::into),

        ("POST", ["v1", "products"]) => products::create(ctx, p).map(Into::into),
        ("GET", ["v1", "products"]) => products::list(ctx, p).map(Into::into),
        ("GET", ["v1", "products", id]) => products::retrieve(ctx, id, p).map(Into::into),

        ("POST", ["v1", "prices"]) => prices::create(ctx, p).map(Into::into),
        ("GET", ["v1", "prices"]) => prices::list(ctx, p).map(Into::into),
        ("GET", ["v1", "prices", id]) => prices::retrieve(ctx, id, p).map(Into::into),

        ("POST", ["v1", "subscriptions"]) => subscriptions::create(ctx, p).map(Into::into),
        ("GET", ["v1", "subscriptions"]) => subscriptions::list(ctx, p).map(Into::into),
        ("GET", ["v1", "subscriptions", id]) => subscriptions::retrieve(ctx, id, p).map(Into::into),
        ("POST", ["v1", "subscriptions", id]) => subscriptions::update(ctx, id, p).map(Into::into),
        ("DELETE", ["v1", "subscriptions", id]) => subscriptions::cancel(ctx, id, p).map(Into::into),

        ("GET", ["v1", "invoices"]) => invoices::list(ctx, p).map(Into::into),
        ("POST", ["v1", "invoices", "create_preview"]) => invoices::create_preview(ctx, p).map(Into::into),
        ("GET", ["v1", "invoices", id]) => invoices::retrieve(ctx, id, p).map(Into::into),
        ("GET", ["v1", "invoices", id, "lines"]) => invoices::lines(ctx, id, p).map(Into::into),
        ("POST", ["v1", "invoices", id, "pay"]) => invoices::pay(ctx, id, p).map(Into::into),

        ("GET", ["v1", "invoiceitems"]) => invoice_items::list(ctx, p).map(Into::into),
        ("GET", ["v1", "invoiceitems", id]) => invoice_items::retrieve(ctx, id, p).map(Into::into),

        ("POST", ["v1", "payment_intents"]) => payment_intents::create(ctx, p),
        ("GET", ["v1", "payment_intents"]) => payment_intents::list(ctx, p).map(Into::into),
        ("GET", ["v1", "payment_intents", id]) => payment_intents::retrieve(ctx, id, p).map(Into::into),

        ("GET", ["v1", "charges"]) => charges::list(ctx, p).map(Into::into),
        ("GET", ["v1", "charges", id]) => charges::retrieve(ctx, id, p).map(Into::into),

        ("POST", ["v1", "refunds"]) => refunds::create(ctx, p).map(Into::into),
        ("GET", ["v1", "refunds"]) => refunds::list(ctx, p).map(Into::into),
        ("GET", ["v1", "refunds", id]) => refunds::retrieve(ctx, id, p).map(Into::into),
        ("POST", ["v1", "refunds", id]) => refunds::update(ctx, id, p).map(Into::into),

        ("POST", ["v1", "setup_intents"]) => setup_intents::create(ctx, p).map(Into::into),
        ("GET", ["v1", "setup_intents"]) => setup_intents::list(ctx, p).map(Into::into),
        ("GET", ["v1", "setup_intents", id]) => setup_intents::retrieve(ctx, id, p).map(Into::into),
        ("POST", ["v1", "setup_intents", id]) => setup_intents::update(ctx, id, p).map(Into::into),
        ("POST", ["v1", "setup_intents", id, "confirm"]) => setup_intents::confirm(ctx, id, p).map(Into::into),
        ("POST", ["v1", "setup_intents", id, "cancel"]) => setup_intents::cancel(ctx, id, p).map(Into::into),

        ("GET", ["v1", "events"]) => events::list(ctx, p).map(Into::into),
        ("GET", ["v1", "events", id]) => events::retrieve(ctx, id, p).map(Into::into),

        ("POST", ["v1", "webhook_endpoints"]) => webhook_endpoints::create(ctx, p).map(Into::into),
        ("GET", ["v1", "webhook_endpoints"]) => webhook_endpoints::list(ctx, p).map(Into::into),
        ("GET", ["v1", "webhook_endpoints", id]) => webhook_endpoints::retrieve(ctx, id, p).map(Into::into),
        ("POST", ["v1", "webhook_endpoints", id]) => webhook_endpoints::update(ctx, id, p).map(Into::into),
        ("DELETE", ["v1", "webhook_endpoints", id]) => webhook_endpoints::delete(ctx, id, p).map(Into::into),

        ("POST", ["v1", "test_helpers", "test_clocks"]) => test_clocks::create(ctx, p).map(Into::into),
        ("GET", ["v1", "test_helpers", "test_clocks"]) => test_clocks::list(ctx, p).map(Into::into),
        ("GET", ["v1", "test_helpers", "test_clocks", id]) => test_clocks::retrieve(ctx, id, p).map(Into::into),
        ("POST", ["v1", "test_helpers", "test_clocks", id, "advance"]) => {
            test_clocks::advance(ctx, id, p).map(Into::into)
        }
        ("DELETE", ["v1", "test_helpers", "test_clocks", id]) => test_clocks::delete(ctx, id, p).map(Into::into),

        _ => Err(ApiError::UnknownRoute { method: method.to_string(), path: path.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::store::Store;

    fn answer(method: &str, path: &str) -> Result<Reply, ApiError> {
        let mut store = Store::default();
        let mut ctx = Ctx::background(&mut store);
        dispatch(&mut ctx, method, path, Params::default())
    }

    #[test]
    fn every_listed_route_is_served_and_nothing_else() {
        for (method, pattern) in ROUTES {
            let path = pattern.replace("{id}", "x_1");
            assert!(
                !matches!(answer(method, &path), Err(ApiError::UnknownRoute { .. })),
                "{method} {pattern} is listed but not served"
            );
        }
        assert!(matches!(answer("PATCH", "/v1/customers"), Err(ApiError::UnknownRoute { .. })));
        assert!(matches!(answer("GET", "/v1/customers/a/b/c"), Err(ApiError::UnknownRoute { .. })));
    }
}
