//! The route table: which handler answers `METHOD /v1/...`, one line per route. Handlers are plain
//! functions of the request context, the object id the path names and the parameters, so this table
//! is the whole map of what the fake serves; [`dispatch`] answers from it and the tests walk it
//! ([`ROUTES`]), so a new route is one line here.

use super::context::Ctx;
use super::error::ApiError;
use super::params::Params;
use super::resources::{
    charges, customers, events, invoice_items, invoices, payment_intents, payment_methods, prices, products, refunds,
    setup_intents, subscriptions, test_clocks, webhook_endpoints,
};
use super::response::Reply;

/// A route's handler: the request context, the object id in the path (`""` when the path names
/// none), the parameters.
type Handler = fn(&mut Ctx<'_>, &str, Params) -> Result<Reply, ApiError>;

/// One route: `method` and `path`, in which `{id}` stands for one path segment (an object id).
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    handler: Handler,
}

const fn route(method: &'static str, path: &'static str, handler: Handler) -> Route {
    Route { method, path, handler }
}

/// Every route the fake serves. The first that matches a request answers it, so a literal segment
/// (`/v1/customers/search`) comes before the `{id}` it would otherwise be taken for.
pub const ROUTES: &[Route] = &[
    route("POST", "/v1/customers", |ctx, _, p| customers::create(ctx, p)),
    route("GET", "/v1/customers", |ctx, _, p| customers::list(ctx, p)),
    route("GET", "/v1/customers/search", |ctx, _, p| customers::search(ctx, p)),
    route("GET", "/v1/customers/{id}", customers::retrieve),
    route("POST", "/v1/customers/{id}", customers::update),
    route("DELETE", "/v1/customers/{id}", customers::delete),
    route("GET", "/v1/customers/{id}/payment_methods", |ctx, id, p| {
        payment_methods::list(ctx, Some(id), p).map(Into::into)
    }),
    route("GET", "/v1/payment_methods", |ctx, _, p| payment_methods::list(ctx, None, p).map(Into::into)),
    route("GET", "/v1/payment_methods/{id}", |ctx, id, p| payment_methods::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/payment_methods/{id}/attach", |ctx, id, p| payment_methods::attach(ctx, id, p).map(Into::into)),
    route("POST", "/v1/payment_methods/{id}/detach", |ctx, id, p| payment_methods::detach(ctx, id, p).map(Into::into)),
    route("POST", "/v1/products", |ctx, _, p| products::create(ctx, p).map(Into::into)),
    route("GET", "/v1/products", |ctx, _, p| products::list(ctx, p).map(Into::into)),
    route("GET", "/v1/products/{id}", |ctx, id, p| products::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/prices", |ctx, _, p| prices::create(ctx, p).map(Into::into)),
    route("GET", "/v1/prices", |ctx, _, p| prices::list(ctx, p).map(Into::into)),
    route("GET", "/v1/prices/{id}", |ctx, id, p| prices::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/subscriptions", |ctx, _, p| subscriptions::create(ctx, p).map(Into::into)),
    route("GET", "/v1/subscriptions", |ctx, _, p| subscriptions::list(ctx, p).map(Into::into)),
    route("GET", "/v1/subscriptions/{id}", |ctx, id, p| subscriptions::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/subscriptions/{id}", |ctx, id, p| subscriptions::update(ctx, id, p).map(Into::into)),
    route("DELETE", "/v1/subscriptions/{id}", |ctx, id, p| subscriptions::cancel(ctx, id, p).map(Into::into)),
    route("GET", "/v1/invoices", |ctx, _, p| invoices::list(ctx, p).map(Into::into)),
    route("POST", "/v1/invoices/create_preview", |ctx, _, p| invoices::create_preview(ctx, p).map(Into::into)),
    route("GET", "/v1/invoices/{id}", |ctx, id, p| invoices::retrieve(ctx, id, p).map(Into::into)),
    route("GET", "/v1/invoices/{id}/lines", |ctx, id, p| invoices::lines(ctx, id, p).map(Into::into)),
    route("POST", "/v1/invoices/{id}/pay", |ctx, id, p| invoices::pay(ctx, id, p).map(Into::into)),
    route("GET", "/v1/invoiceitems", |ctx, _, p| invoice_items::list(ctx, p).map(Into::into)),
    route("GET", "/v1/invoiceitems/{id}", |ctx, id, p| invoice_items::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/payment_intents", |ctx, _, p| payment_intents::create(ctx, p)),
    route("GET", "/v1/payment_intents", |ctx, _, p| payment_intents::list(ctx, p).map(Into::into)),
    route("GET", "/v1/payment_intents/{id}", |ctx, id, p| payment_intents::retrieve(ctx, id, p).map(Into::into)),
    route("GET", "/v1/charges", |ctx, _, p| charges::list(ctx, p).map(Into::into)),
    route("GET", "/v1/charges/{id}", |ctx, id, p| charges::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/refunds", |ctx, _, p| refunds::create(ctx, p).map(Into::into)),
    route("GET", "/v1/refunds", |ctx, _, p| refunds::list(ctx, p).map(Into::into)),
    route("GET", "/v1/refunds/{id}", |ctx, id, p| refunds::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/refunds/{id}", |ctx, id, p| refunds::update(ctx, id, p).map(Into::into)),
    route("POST", "/v1/setup_intents", |ctx, _, p| setup_intents::create(ctx, p).map(Into::into)),
    route("GET", "/v1/setup_intents", |ctx, _, p| setup_intents::list(ctx, p).map(Into::into)),
    route("GET", "/v1/setup_intents/{id}", |ctx, id, p| setup_intents::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/setup_intents/{id}", |ctx, id, p| setup_intents::update(ctx, id, p).map(Into::into)),
    route("POST", "/v1/setup_intents/{id}/confirm", |ctx, id, p| setup_intents::confirm(ctx, id, p).map(Into::into)),
    route("POST", "/v1/setup_intents/{id}/cancel", |ctx, id, p| setup_intents::cancel(ctx, id, p).map(Into::into)),
    route("GET", "/v1/events", |ctx, _, p| events::list(ctx, p).map(Into::into)),
    route("GET", "/v1/events/{id}", |ctx, id, p| events::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/webhook_endpoints", |ctx, _, p| webhook_endpoints::create(ctx, p).map(Into::into)),
    route("GET", "/v1/webhook_endpoints", |ctx, _, p| webhook_endpoints::list(ctx, p).map(Into::into)),
    route("GET", "/v1/webhook_endpoints/{id}", |ctx, id, p| webhook_endpoints::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/webhook_endpoints/{id}", |ctx, id, p| webhook_endpoints::update(ctx, id, p).map(Into::into)),
    route("DELETE", "/v1/webhook_endpoints/{id}", |ctx, id, p| webhook_endpoints::delete(ctx, id, p).map(Into::into)),
    route("POST", "/v1/test_helpers/test_clocks", |ctx, _, p| test_clocks::create(ctx, p).map(Into::into)),
    route("GET", "/v1/test_helpers/test_clocks", |ctx, _, p| test_clocks::list(ctx, p).map(Into::into)),
    route("GET", "/v1/test_helpers/test_clocks/{id}", |ctx, id, p| test_clocks::retrieve(ctx, id, p).map(Into::into)),
    route("POST", "/v1/test_helpers/test_clocks/{id}/advance", |ctx, id, p| {
        test_clocks::advance(ctx, id, p).map(Into::into)
    }),
    route("DELETE", "/v1/test_helpers/test_clocks/{id}", |ctx, id, p| test_clocks::delete(ctx, id, p).map(Into::into)),
];

impl Route {
    /// The object id in `segments` (the request path's, after the leading `/`) when this route
    /// serves them, `""` when its path names none; `None` when it does not serve them.
    fn id_in<'p>(&self, segments: &[&'p str]) -> Option<&'p str> {
        let mut pattern = self.path.split('/').skip(1);
        let mut id = "";
        for segment in segments {
            match pattern.next()? {
                "{id}" => id = segment,
                literal if literal == *segment => {}
                _ => return None,
            }
        }
        pattern.next().is_none().then_some(id)
    }
}

/// Answers one authenticated API request with the first route of [`ROUTES`] that serves it.
pub fn dispatch(ctx: &mut Ctx<'_>, method: &str, path: &str, p: Params) -> Result<Reply, ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    for route in ROUTES.iter().filter(|route| route.method == method) {
        if let Some(id) = route.id_in(&segments) {
            return (route.handler)(ctx, id, p);
        }
    }
    Err(ApiError::UnknownRoute { method: method.to_string(), path: path.to_string() })
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
    fn each_route_answers_its_own_path_and_no_route_hides_another() {
        for (index, listed) in ROUTES.iter().enumerate() {
            let segments: Vec<String> = listed.path.split('/').skip(1).map(|s| s.replace("{id}", "x_1")).collect();
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            let first =
                ROUTES.iter().position(|route| route.method == listed.method && route.id_in(&segments).is_some());
            assert_eq!(first, Some(index), "{} {} is answered by another route", listed.method, listed.path);
        }
    }

    #[test]
    fn a_path_is_matched_segment_by_segment_and_the_id_is_handed_on() {
        let retrieve = ROUTES.iter().find(|r| r.method == "GET" && r.path == "/v1/customers/{id}").unwrap();
        assert_eq!(retrieve.id_in(&["v1", "customers", "cus_1"]), Some("cus_1"));
        assert_eq!(retrieve.id_in(&["v1", "customers"]), None);
        assert_eq!(retrieve.id_in(&["v1", "customers", "cus_1", "extra"]), None);
        assert_eq!(retrieve.id_in(&["v1", "prices", "cus_1"]), None);
    }

    #[test]
    fn nothing_else_is_served() {
        assert!(matches!(answer("PATCH", "/v1/customers"), Err(ApiError::UnknownRoute { .. })));
        assert!(matches!(answer("GET", "/v1/customers/a/b/c"), Err(ApiError::UnknownRoute { .. })));
        assert!(matches!(answer("GET", "/v2/customers"), Err(ApiError::UnknownRoute { .. })));
        assert!(
            !matches!(answer("GET", "/v1/customers/"), Err(ApiError::UnknownRoute { .. })),
            "a trailing / is ignored"
        );
    }
}
