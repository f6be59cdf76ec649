//! `POST /api/v1/fixes` and `GET /api/v1/fixes/{id}`: the requests, read into [`FixRequest`]
//! and a fix id, and the answers of [`crate::fixes`], which records and pays for fixes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::fixes::{self, FixDescription, RecordedFix};
use crate::http::auth::Authenticated;
use crate::http::openapi::bodies::{JsonBodyRejections, UndecodablePath};
use crate::http::openapi::{IdempotencyKey, ValidationFailed};
use crate::http::request::{Fields, JsonObject, OptionalClientKey};
use crate::state::AppState;

/// `POST /api/v1/fixes`: every field is optional, and so is the body.
#[derive(Debug, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixRequest {
    /// What was fixed: at most 2,000 characters; no control characters but line breaks and tabs.
    #[schema(
        value_type = Option<String>,
        example = "fixed the flaky build",
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub description: Option<FixDescription>,
}

impl FixRequest {
    /// The request, or a 422 naming every bad field.
    pub fn from_fields(mut fields: Fields) -> Result<FixRequest, ApiError> {
        let description = fields.optional_str("description");
        let description = fields.parse("description", description, FixDescription::parse);
        fields.finish()?;
        Ok(FixRequest { description })
    }
}

/// `POST /api/v1/fixes`.
#[utoipa::path(
    post,
    path = "/api/v1/fixes",
    tag = "fixes",
    params(IdempotencyKey),
    request_body(content = Option<FixRequest>, description = "Optional: an empty body is `{}`"),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The fix is recorded and paid, with a credit or a charge", body = RecordedFix),
        (status = 200, description = "A retry with the same `Idempotency-Key` of a fix already paid: the same fix, not paid again", body = RecordedFix),
        (status = 402, description = "Not paid: no credits and no payment method (`payment_required`), the card was declined (`card_declined`, with `decline_code`), or the charge failed (`payment_failed`); nothing was charged", body = ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 502, description = "The charge was sent to Stripe, which did not say how it went (`payment_outcome_unknown`): it is recorded as pending and will be settled; retry with the same `Idempotency-Key`, or read it with `GET /api/v1/fixes/{id}`", body = ErrorBody),
        JsonBodyRejections,
    ),
)]
pub async fn record_fix(
    State(state): State<AppState>,
    auth: Authenticated,
    OptionalClientKey(key): OptionalClientKey,
    body: JsonObject,
) -> Result<(StatusCode, Json<RecordedFix>), ApiError> {
    let request = FixRequest::from_fields(Fields::new(body))?;
    let (status, fix) = fixes::record_fix(&state, auth.customer, request.description.as_ref(), key.as_ref()).await?;
    Ok((status, Json(fix)))
}

/// `GET /api/v1/fixes/{id}`: one of the customer's fixes, as it stands (404 for anything else).
#[utoipa::path(
    get,
    path = "/api/v1/fixes/{id}",
    tag = "fixes",
    params(("id" = String, Path, description = "The fix's id (`fix_id`)")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The fix as it stands", body = RecordedFix),
        (status = 404, description = "This customer has no such fix (`not_found`)", body = ErrorBody),
        UndecodablePath,
    ),
)]
pub async fn get_fix(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Json<RecordedFix>, ApiError> {
    fixes::fix_as_it_stands(&state, auth.customer, &id).await.map(Json)
}

/// `POST /api/v1/fixes`, `GET /api/v1/fixes/{id}`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_fix)).routes(routes!(get_fix))
}
