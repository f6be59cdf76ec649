//! `POST|GET /api/v1/api-keys`, `DELETE /api/v1/api-keys/{id}`: the requests, read into an
//! [`ApiKeyRequest`] and a key id, and the answers of [`crate::api_keys::management`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api_keys::management::{self, ApiKeyName, ApiKeySummary, CreatedApiKey};
use crate::error::{ApiError, ErrorBody};
use crate::http::auth::Authenticated;
use crate::http::openapi::bodies::{JsonBodyRejections, UndecodablePath};
use crate::http::openapi::{RateLimited, ValidationFailed};
use crate::http::request::{Fields, JsonObject};
use crate::state::AppState;

/// `POST /api/v1/api-keys`: the body is optional.
#[derive(Debug, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// A name to recognise the key by: 1 to 100 characters once trimmed, no control characters.
    #[schema(
        value_type = Option<String>,
        example = "CI",
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: Option<ApiKeyName>,
}

impl ApiKeyRequest {
    /// The request, or a 422 naming every bad field.
    pub fn from_fields(mut fields: Fields) -> Result<ApiKeyRequest, ApiError> {
        let name = fields.optional_str("name");
        let name = fields.parse("name", name, ApiKeyName::parse);
        fields.finish()?;
        Ok(ApiKeyRequest { name })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeySummary>,
}

/// `POST /api/v1/api-keys`.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    request_body(content = Option<ApiKeyRequest>, description = "Optional: an empty body is `{}`"),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The new key; `api_key` is shown only here", body = CreatedApiKey),
        (status = 409, description = "The customer holds the most active keys allowed (`too_many_api_keys`): revoke one first", body = ErrorBody),
        (status = 422, response = ValidationFailed),
        (status = 429, response = RateLimited),
        JsonBodyRejections,
    ),
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonObject,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let request = ApiKeyRequest::from_fields(Fields::new(body))?;
    let created = management::create_key(&state, auth.customer, request.name).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/v1/api-keys`: oldest first, revoked ones included.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The customer's keys, oldest first, revoked ones included", body = ApiKeyList)),
)]
pub async fn list_api_keys(State(state): State<AppState>, auth: Authenticated) -> Result<Json<ApiKeyList>, ApiError> {
    let api_keys = management::list_keys(&state, auth.customer).await?;
    Ok(Json(ApiKeyList { api_keys }))
}

/// `DELETE /api/v1/api-keys/{id}`: 204, also when the key was already revoked.
#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key's id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Revoked (also when it already was)"),
        (status = 404, description = "This customer has no key with this id (`not_found`)", body = ErrorBody),
        (status = 409, description = "It is the customer's last active key (`last_active_key`): create another first", body = ErrorBody),
        UndecodablePath,
    ),
)]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    management::revoke_key(&state, auth.customer, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST|GET /api/v1/api-keys`, `DELETE /api/v1/api-keys/{id}`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_api_key, list_api_keys)).routes(routes!(revoke_api_key))
}
