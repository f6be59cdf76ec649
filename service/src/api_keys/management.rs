//! A customer's own API keys: `POST /api/v1/api-keys` makes one (shown once; at most
//! `API_KEY_CREATE_RATE_PER_HOUR` an hour after a burst of `API_KEY_CREATE_BURST`, per customer
//! and instance),
//! `GET /api/v1/api-keys` lists them (prefix, name, dates; never the key or its hash), and
//! `DELETE /api/v1/api-keys/{id}` revokes one.
//!
//! Keys are only ever revoked, never deleted, so the list keeps the history. A customer always
//! keeps at least one active key (revoking the last is 409: create another first), so they can
//! never lock themselves out of the API. An id that is not a UUID, an unknown id and another
//! customer's key are all the same 404: ids are opaque, and nobody learns which ids exist.
//! Revoking forgets the customer's keys in this instance's auth cache after the commit, so the
//! revoked key is refused at once here (and within the cache TTL on other instances).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::NewApiKey;
use crate::error::{ApiError, ErrorBody};
use crate::http::auth::Authenticated;
use crate::http::openapi::bodies::{ApiKeyRequest, JsonBodyRejections, UndecodablePath};
use crate::http::openapi::{RateLimited, ValidationFailed};
use crate::http::request::{Fields, JsonObject};
use crate::ledger::lock_customer;
use crate::state::AppState;

/// Most active keys a customer may hold at once.
pub const MAX_ACTIVE_KEYS: i64 = 50;

/// A key's name: trimmed, 1 to 100 characters, printable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<ApiKeyName, String> {
        let value = raw.trim();
        if value.is_empty() {
            return Err("must not be empty (leave it out for an unnamed key)".into());
        }
        if value.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if value.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(ApiKeyName(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new key: the only answer that ever contains the key itself.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    pub id: Uuid,
    pub api_key: String,
    pub prefix: String,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A key as listed: enough to recognise it, nothing to use it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeySummary {
    pub id: Uuid,
    pub prefix: String,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
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
    let mut fields = Fields::new(body);
    let name = fields.optional_str("name");
    let name = fields.parse("name", name, ApiKeyName::parse);
    fields.finish()?;

    state
        .api_key_limiter
        .try_acquire(auth.customer, std::time::Instant::now())
        .map_err(|retry_after| ApiError::rate_limited(&state.metrics, "api_key_create", retry_after))?;
    let now = state.clock.now();
    let key = NewApiKey::generate();
    let mut tx = state.pool.begin().await?;
    // Serializes key changes of one customer, so the active-key count below stays true.
    lock_customer(&mut tx, auth.customer).await?;
    if count_active_keys(&mut tx, auth.customer).await? >= MAX_ACTIVE_KEYS {
        return Err(ApiError::Conflict {
            code: "too_many_api_keys",
            message: format!(
                "a customer can hold at most {MAX_ACTIVE_KEYS} active API keys: revoke unused ones with DELETE /api/v1/api-keys/{{id}} first"
            ),
        });
    }
    key.insert_named(&mut tx, auth.customer, name.as_ref().map(ApiKeyName::as_str), now).await?;
    tx.commit().await?;
    tracing::info!(customer = %auth.customer, key = %key.id, "API key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            id: key.id,
            api_key: key.secret,
            prefix: key.shown_prefix,
            name: name.map(|name| name.0),
            created_at: now,
        }),
    ))
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
    let api_keys = sqlx::query_as!(
        ApiKeySummary,
        r#"SELECT id, key_prefix AS prefix, name, created_at, revoked_at FROM api_keys
           WHERE customer_id = $1 ORDER BY created_at, id"#,
        auth.customer.0
    )
    .fetch_all(&state.pool)
    .await?;
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
    let not_found = || {
        ApiError::NotFound(format!(
            "you have no API key with id `{id}`: GET /api/v1/api-keys lists your keys and their ids"
        ))
    };
    let key_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    lock_customer(&mut tx, auth.customer).await?;
    let revoked_at: Option<Option<DateTime<Utc>>> = sqlx::query_scalar!(
        "SELECT revoked_at FROM api_keys WHERE id = $1 AND customer_id = $2",
        key_id,
        auth.customer.0
    )
    .fetch_optional(&mut *tx)
    .await?;
    match revoked_at {
        None => return Err(not_found()),
        Some(Some(_)) => return Ok(StatusCode::NO_CONTENT),
        Some(None) => {}
    }
    if count_active_keys(&mut tx, auth.customer).await? <= 1 {
        return Err(ApiError::Conflict {
            code: "last_active_key",
            message: "this is your last active API key, and revoking it would lock you out: create another with POST /api/v1/api-keys first, then revoke this one".into(),
        });
    }
    sqlx::query!("UPDATE api_keys SET revoked_at = $2 WHERE id = $1", key_id, now).execute(&mut *tx).await?;
    tx.commit().await?;
    state.api_key_cache.invalidate_customer(auth.customer);
    tracing::info!(customer = %auth.customer, key = %key_id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

async fn count_active_keys(
    conn: &mut sqlx::PgConnection,
    customer: crate::domain::CustomerId,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "active!" FROM api_keys WHERE customer_id = $1 AND revoked_at IS NULL"#,
        customer.0
    )
    .fetch_one(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_name_is_trimmed_bounded_and_printable() {
        assert_eq!(ApiKeyName::parse("  CI  ").unwrap().as_str(), "CI");
        assert!(ApiKeyName::parse("   ").is_err());
        assert!(ApiKeyName::parse("a\nb").is_err());
        assert!(ApiKeyName::parse(&"x".repeat(101)).is_err());
        assert!(ApiKeyName::parse(&"é".repeat(100)).is_ok());
    }
}
