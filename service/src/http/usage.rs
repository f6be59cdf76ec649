//! `GET /api/v1/usage`: the query, read into a [`UsageQuery`], and the summary of
//! [`crate::usage`].

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::http::auth::Authenticated;
use crate::http::openapi::ValidationFailed;
use crate::http::request::StrictQuery;
use crate::state::AppState;
use crate::usage::{self, DEFAULT_PAGE, MAX_PAGE, UsageSummary};

/// The query string of `GET /api/v1/usage` (any other parameter, or one given twice, is 422).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many ledger entries to show, newest first (50 when absent).
    #[param(nullable = false, minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Show entries older than this one: the previous page's `next_before`.
    #[param(nullable = false, minimum = 1)]
    pub before: Option<i64>,
}

impl UsageQuery {
    /// The query, or a 422 naming the parameter that is unknown, repeated or invalid.
    pub fn from_query(query: Option<&str>) -> Result<UsageQuery, ApiError> {
        let query = StrictQuery::parse(query, &["limit", "before"])?;
        Ok(UsageQuery { limit: query.integer("limit", 1..=MAX_PAGE)?, before: query.integer("before", 1..=i64::MAX)? })
    }
}

/// The customer's balance, plan, per-fix rate, subscription, ledger (paged) and warnings.
#[utoipa::path(
    get,
    path = "/api/v1/usage",
    tag = "usage",
    params(UsageQuery),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The usage summary", body = UsageSummary),
        (status = 422, response = ValidationFailed),
    ),
)]
pub async fn usage_summary(
    State(state): State<AppState>,
    auth: Authenticated,
    uri: Uri,
) -> Result<Json<UsageSummary>, ApiError> {
    let query = UsageQuery::from_query(uri.query())?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    usage::summary(&state, auth.customer, limit, query.before).await.map(Json)
}

/// `GET /api/v1/usage`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(usage_summary))
}
