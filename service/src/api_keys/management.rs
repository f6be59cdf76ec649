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

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::NewApiKey;
use crate::domain::CustomerId;
use crate::error::ApiError;
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

/// Makes a key for `customer`, named `name` (429 past the per-customer rate, 409 past
/// [`MAX_ACTIVE_KEYS`]).
pub async fn create_key(
    state: &AppState,
    customer: CustomerId,
    name: Option<ApiKeyName>,
) -> Result<CreatedApiKey, ApiError> {
    state
        .api_key_limiter
        .try_acquire(customer, std::time::Instant::now())
        .map_err(|retry_after| ApiError::rate_limited(&state.metrics, "api_key_create", retry_after))?;
    let now = state.clock.now();
    let key = NewApiKey::generate();
    let mut tx = state.pool.begin().await?;
    // Serializes key changes of one customer, so the active-key count below stays true.
    lock_customer(&mut tx, customer).await?;
    if count_active_keys(&mut tx, customer).await? >= MAX_ACTIVE_KEYS {
        return Err(ApiError::Conflict {
            code: "too_many_api_keys",
            message: format!(
                "a customer can hold at most {MAX_ACTIVE_KEYS} active API keys: revoke unused ones with DELETE /api/v1/api-keys/{{id}} first"
            ),
        });
    }
    key.insert_named(&mut tx, customer, name.as_ref().map(ApiKeyName::as_str), now).await?;
    tx.commit().await?;
    tracing::info!(customer = %customer, key = %key.id, "API key created");
    Ok(CreatedApiKey {
        id: key.id,
        api_key: key.secret,
        prefix: key.shown_prefix,
        name: name.map(|name| name.0),
        created_at: now,
    })
}

/// The customer's keys, oldest first, revoked ones included.
pub async fn list_keys(state: &AppState, customer: CustomerId) -> Result<Vec<ApiKeySummary>, ApiError> {
    let api_keys = sqlx::query_as!(
        ApiKeySummary,
        r#"SELECT id, key_prefix AS prefix, name, created_at, revoked_at FROM api_keys
           WHERE customer_id = $1 ORDER BY created_at, id"#,
        customer.0
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(api_keys)
}

/// Revokes the customer's key `id` (also when it already was); 404 for an id that is not one
/// of the customer's keys, 409 for the last active one.
pub async fn revoke_key(state: &AppState, customer: CustomerId, id: &str) -> Result<(), ApiError> {
    let not_found = || {
        ApiError::NotFound(format!(
            "you have no API key with id `{id}`: GET /api/v1/api-keys lists your keys and their ids"
        ))
    };
    let key_id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    lock_customer(&mut tx, customer).await?;
    let revoked_at: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar!("SELECT revoked_at FROM api_keys WHERE id = $1 AND customer_id = $2", key_id, customer.0)
            .fetch_optional(&mut *tx)
            .await?;
    match revoked_at {
        None => return Err(not_found()),
        Some(Some(_)) => return Ok(()),
        Some(None) => {}
    }
    if count_active_keys(&mut tx, customer).await? <= 1 {
        return Err(ApiError::Conflict {
            code: "last_active_key",
            message: "this is your last active API key, and revoking it would lock you out: create another with POST /api/v1/api-keys first, then revoke this one".into(),
        });
    }
    sqlx::query!("UPDATE api_keys SET revoked_at = $2 WHERE id = $1", key_id, now).execute(&mut *tx).await?;
    tx.commit().await?;
    state.api_key_cache.invalidate_customer(customer);
    tracing::info!(customer = %customer, key = %key_id, "API key revoked");
    Ok(())
}

async fn count_active_keys(conn: &mut sqlx::PgConnection, customer: CustomerId) -> Result<i64, sqlx::Error> {
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
