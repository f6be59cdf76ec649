//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database answers
//! within a second).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::app::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    let probe =
        tokio::time::timeout(Duration::from_secs(1), sqlx::query!("SELECT 1 AS ready").fetch_one(&state.pool)).await;
    let unavailable = |database| (StatusCode::SERVICE_UNAVAILABLE, Json(Readiness { status: "unavailable", database }));
    match probe {
        Ok(Ok(_)) => (StatusCode::OK, Json(Readiness { status: "ready", database: "ok" })),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness probe: database error");
            unavailable("error")
        }
        Err(_) => unavailable("timeout"),
    }
}

/// `GET /healthz`, `GET /readyz`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}
