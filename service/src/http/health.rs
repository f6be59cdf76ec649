//! The operations endpoints: liveness (`/healthz`: the process answers), readiness (`/readyz`:
//! the database answers within a second, [`crate::health`]) and the metrics (`/metrics`, the
//! registry of [`crate::metrics`] in the OpenMetrics text format).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::health::{DatabaseProbe, probe_database};
use crate::state::AppState;

/// The process answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// Whether the service can serve: its database answered within a second.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// `ok`, `error` or `timeout`.
    pub database: &'static str,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process answers", body = Health)),
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready: the database answers", body = Readiness),
        (status = 503, description = "Not ready: the database failed or did not answer within a second", body = Readiness),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let unavailable = |database| (StatusCode::SERVICE_UNAVAILABLE, Json(Readiness { status: "unavailable", database }));
    match probe_database(&state.pool).await {
        DatabaseProbe::Ok => (StatusCode::OK, Json(Readiness { status: "ready", database: "ok" })),
        DatabaseProbe::Error => unavailable("error"),
        DatabaseProbe::Timeout => unavailable("timeout"),
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Every metric, in the OpenMetrics text format", body = String, content_type = "application/openmetrics-text")),
)]
pub async fn serve_metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode())
        .into_response()
}

/// `GET /healthz`, `GET /readyz`, `GET /metrics`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(serve_metrics))
}
