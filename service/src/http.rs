//! HTTP, on top of everything else: the router, what every request goes through, the server
//! loop, the extractors, the OpenAPI document, and one file of handlers per feature.
//!
//! Nothing below imports from here: a feature module (onboarding, fixes, billing…) owns its
//! domain logic and its SQL and knows nothing of axum's extractors; the file of the same name
//! here turns a request into the feature's types, calls it, and turns the result into an
//! answer. As in realworld-axum-sqlx's `http/`, [`router`] merges one `router()` per resource
//! file, so each list of routes lives beside the handlers that serve them, and adds the layers
//! every request goes through ([`edge`]). Each file registers a route together with its OpenAPI
//! documentation ([`openapi`]), and the merged document is served at `GET /openapi.json`.

pub mod api_keys;
pub mod auth;
pub mod billing;
pub mod credentials;
pub mod edge;
pub mod fixes;
pub mod health;
pub mod onboarding;
pub mod openapi;
pub mod request;
pub mod server;
pub mod usage;
pub mod webhooks;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;

use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;

/// Every route of the service with its documentation: one `router()` per resource module, and
/// `GET /openapi.json` (which serves nothing until [`openapi::Served::set`] is given the document).
pub fn documented_routes() -> OpenApiRouter<AppState> {
    documented_routes_serving(openapi::Served::default())
}

fn documented_routes_serving(served: openapi::Served) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(onboarding::router())
        .merge(usage::router())
        .merge(fixes::router())
        .merge(billing::router())
        .merge(credentials::router())
        .merge(api_keys::router())
        .merge(webhooks::router())
        .merge(health::router())
        .routes(routes!(openapi::openapi_json).layer(Extension(served)))
}

/// The OpenAPI document of the service under `config`, as `GET /openapi.json` serves it.
pub fn openapi_document(config: &Config) -> serde_json::Value {
    openapi::document(documented_routes().into_openapi(), config)
}

/// Every route of the service, each with the protections of [`edge::RouteLayer`] (invalid
/// `Idempotency-Key`s refused, the request timeout, a panic made a JSON 500, metrics); what goes
/// around the router for every request is [`edge::Edge`].
pub fn router(state: AppState) -> Router {
    let served = openapi::Served::default();
    let (routes, document) = documented_routes_serving(served.clone()).split_for_parts();
    served.set(serde_json::to_vec(&openapi::document(document, &state.config)).unwrap_or_default().into());
    let per_route = edge::RouteLayer::new(state.metrics.clone(), state.config.server.request_timeout());
    routes.fallback(not_found).method_not_allowed_fallback(method_not_allowed).layer(per_route).with_state(state)
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}: see the README for the API", uri.path()))
}

async fn method_not_allowed(method: Method) -> Response {
    let mut response = ApiError::MethodNotAllowed(method.to_string()).into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}
